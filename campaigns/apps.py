from __future__ import annotations

from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Batches of calls, paced to the carrier, in the callee's hours, retried; above `calls`, placing every call
    through its initiate service. Nothing imports this app."""

    name = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"
