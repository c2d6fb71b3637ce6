from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.files.storage import storages
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.module_loading import import_string

from burki.permissions import PERMISSIONS
from burki.throttling import parse_rate


@register()
def check_encryption_keys(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for index, key in enumerate(settings.CREDENTIALS_ENCRYPTION_KEYS):
        try:
            Fernet(key)
        except ValueError:
            errors.append(
                Error(
                    f"CREDENTIALS_ENCRYPTION_KEYS[{index}] is not a valid Fernet key.",
                    hint="Generate one with: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'",
                    id="burki.E001",
                )
            )
    return errors


@register()
def check_telephony_backends(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for alias, config in settings.TELEPHONY_BACKENDS.items():
        try:
            import_string(str(config["BACKEND"]))
        except (ImportError, KeyError) as exc:
            errors.append(Error(f"TELEPHONY_BACKENDS[{alias!r}] cannot be loaded: {exc}", id="burki.E002"))
    return errors


def _view_classes(patterns: list[URLPattern | URLResolver]) -> list[type]:
    found: list[type] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _view_classes(pattern.url_patterns)
        else:
            view_class = getattr(pattern.callback, "view_class", None)
            if isinstance(view_class, type):
                found.append(view_class)
    return found


@register(Tags.urls)
def check_api_permissions(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Every routed API view names a resource of the permission table: none may run with an unknown rule."""
    from burki.tenancy import OrganizationAPIView  # needs the apps loaded

    errors: list[CheckMessage] = []
    for view_class in _view_classes(get_resolver().url_patterns):
        if issubclass(view_class, OrganizationAPIView) and getattr(view_class, "resource", None) not in PERMISSIONS:
            errors.append(
                Error(
                    f"{view_class.__module__}.{view_class.__qualname__} names no resource of "
                    "burki.permissions.PERMISSIONS.",
                    id="burki.E003",
                )
            )
    return errors


@register()
def check_login_rates(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name in ("LOGIN_RATE_PER_IP", "LOGIN_RATE_PER_USERNAME"):
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            errors.append(Error(f"{name}: {exc}", id="burki.E004"))
    return errors


@register(Tags.caches, deploy=True)
def check_shared_cache(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if settings.CACHES["default"]["BACKEND"] != "django.core.cache.backends.locmem.LocMemCache":
        return []
    return [
        Warning(
            "The cache is local memory: each server process counts failed logins on its own.",
            hint="Set CACHE_URL to a cache every process shares, e.g. redis://127.0.0.1:6379/1.",
            id="burki.W001",
        )
    ]


@register()
def check_static_files_collected(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Outside DEBUG, pages name static files by their hashed names from collectstatic's manifest: without it every
    admin page and /api/docs/ is a 500. (Not for collectstatic itself, which runs only the staticfiles checks.)"""
    storage = storages["staticfiles"]
    if settings.DEBUG or not isinstance(storage, ManifestFilesMixin):
        return []
    if storage.manifest_storage.exists(storage.manifest_name):
        return []
    return [
        Warning(
            f"Static files have not been collected into STATIC_ROOT ({settings.STATIC_ROOT}): the admin and "
            "/api/docs/ fail until they are.",
            hint="Run `python manage.py collectstatic --noinput`, and again after every upgrade.",
            id="burki.W002",
        )
    ]
