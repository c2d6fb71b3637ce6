"""The campaign events customers' webhook endpoints receive (each attempt's call emits the ordinary call events)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from campaigns.models import Campaign, CampaignContact
from webhooks.services import event_emit

CAMPAIGN_COMPLETED = "campaign.completed"
CAMPAIGN_EVENT_TYPES = {
    CAMPAIGN_COMPLETED: "Every contact of a campaign reached a final state (completed, failed, skipped or expired): "
    "the campaign and its contacts counted by state.",
}


def campaign_payload(campaign: Campaign) -> dict[str, Any]:
    counts = dict(
        CampaignContact.objects.filter(campaign=campaign)
        .order_by()
        .values_list("state")
        .annotate(count=Count("pk"))
        .values_list("state", "count")
    )
    return {
        "id": campaign.pk,
        "organization_id": campaign.organization_id,
        "name": campaign.name,
        "status": campaign.status,
        "started_at": campaign.started_at.isoformat().replace("+00:00", "Z") if campaign.started_at else None,
        "completed_at": campaign.completed_at.isoformat().replace("+00:00", "Z") if campaign.completed_at else None,
        "contacts": {state: counts.get(state, 0) for state in CampaignContact.State.values},
    }


def campaign_event_emit(*, campaign: Campaign, type: str) -> None:
    """Emit `type` about `campaign`; the caller holds the campaign's row lock inside the transaction that changed it."""
    event_emit(
        organization_id=campaign.organization_id,
        type=type,
        subject=f"campaign:{campaign.pk}",
        data=lambda: campaign_payload(campaign),
    )
