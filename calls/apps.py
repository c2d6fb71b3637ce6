from __future__ import annotations

from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from calls import tasks  # noqa: F401  (registered in every process: services queue them by name)
        from calls.events import CALL_EVENT_TYPES
        from webhooks.registry import event_types_register

        event_types_register(CALL_EVENT_TYPES)
