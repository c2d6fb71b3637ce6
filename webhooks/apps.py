from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Events for customers' servers: endpoints, events, deliveries. Knows nothing of what emits the events."""

    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from webhooks import tasks  # noqa: F401  (registered in every process: services queue them by name)
