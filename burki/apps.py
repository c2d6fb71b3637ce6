from __future__ import annotations

from django.apps import AppConfig


class BurkiConfig(AppConfig):
    """Tenancy and authentication: the pieces every other app builds on."""

    name = "burki"
    verbose_name = "Organizations and access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from burki import checks, schema  # noqa: F401  (registers the system checks and OpenAPI extensions)
