from __future__ import annotations

from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Batches of calls, paced to the carrier, in the callee's hours, retried; above `calls`, placing every call
    through its initiate service. Nothing imports this app."""

    name = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from campaigns import tasks  # noqa: F401  (registered in every process, like calls' tasks)
        from campaigns.events import CAMPAIGN_EVENT_TYPES
        from webhooks.registry import event_types_register

        event_types_register(CAMPAIGN_EVENT_TYPES)
