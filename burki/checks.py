from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

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


@register()
def check_login_rates(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name in ("LOGIN_RATE_PER_IP", "LOGIN_RATE_PER_USERNAME"):
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            errors.append(Error(f"{name}: {exc}", id="burki.E003"))
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
