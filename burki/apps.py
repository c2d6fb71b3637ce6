from __future__ import annotations

from django.apps import AppConfig
from django.contrib.staticfiles.apps import StaticFilesConfig as DjangoStaticFilesConfig


class BurkiConfig(AppConfig):
    """Tenancy and authentication: the pieces every other app builds on."""

    default = True  # the module holds another AppConfig (below)
    name = "burki"
    verbose_name = "Organizations and access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from burki import checks, schema  # noqa: F401  (registers the system checks and OpenAPI extensions)


class StaticFilesConfig(DjangoStaticFilesConfig):
    """collectstatic leaves out ReDoc (drf-spectacular-sidecar ships it; the API docs are Swagger UI's): 4 MB of
    JavaScript and source map that no page loads, and most of collectstatic's compression time."""

    ignore_patterns = [*DjangoStaticFilesConfig.ignore_patterns, "redoc"]
