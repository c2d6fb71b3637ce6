"""Reading campaigns: lists, one campaign with its progress, its contacts, its results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from burki.models import Organization
from campaigns.models import Campaign, CampaignContact

STATES = [state.value for state in CampaignContact.State]
# States a contact does not leave.
FINAL_STATES = ("completed", "failed", "skipped", "expired")


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]  # every state, zeros included
    total: int
    calls_placed: int
    answer_rate: float | None  # answered calls / calls placed; None before the first call
    percent_done: float  # contacts in a final state, of all
    estimated_finish_at: datetime | None


def campaign_list(*, organization: Organization, status: str | None = None) -> QuerySet[Campaign]:
    campaigns = Campaign.objects.filter(organization=organization)
    if status:
        campaigns = campaigns.filter(status=status)
    return campaigns.order_by("-created_at", "-id")


def campaign_get(*, organization: Organization, campaign_id: int) -> Campaign | None:
    return Campaign.objects.select_related("organization").filter(organization=organization, pk=campaign_id).first()


def campaign_contacts(*, campaign: Campaign, state: str | None = None) -> QuerySet[CampaignContact]:
    contacts = CampaignContact.objects.filter(campaign=campaign)
    if state:
        contacts = contacts.filter(state=state)
    return contacts.order_by("line", "id")


def campaign_progress(*, campaign: Campaign, now: datetime | None = None) -> Progress:
    """One grouped query over the campaign's contacts (its state index)."""
    rows = (
        CampaignContact.objects.filter(campaign=campaign)
        .order_by()
        .values("state")
        .annotate(count=Count("id"), attempts=Sum("attempts"))
    )
    counts = dict.fromkeys(STATES, 0)
    placed = 0
    for row in rows:
        counts[row["state"]] = row["count"]
        placed += row["attempts"] or 0
    total = sum(counts.values())
    done = sum(counts[state] for state in FINAL_STATES)
    # A contact completes on its answered call, and is never called again: one answered call each.
    answer_rate = round(counts["completed"] / placed, 4) if placed else None
    return Progress(
        counts=counts,
        total=total,
        calls_placed=placed,
        answer_rate=answer_rate,
        percent_done=round(100 * done / total, 1) if total else 0.0,
        estimated_finish_at=_estimated_finish(campaign, counts, total - done, now or timezone.now()),
    )


def _estimated_finish(campaign: Campaign, counts: dict[str, int], left: int, now: datetime) -> datetime | None:
    """The pace so far, carried on: contacts finished by calls since the start, per second, over what is left.
    None before it runs or before any contact finished; never after ends_at (what is left then expires)."""
    if campaign.status in (Campaign.Status.COMPLETED, Campaign.Status.CANCELED):
        return campaign.completed_at
    if campaign.status != Campaign.Status.RUNNING or campaign.started_at is None or left == 0:
        return None
    finished = counts["completed"] + counts["failed"]
    elapsed = (now - campaign.started_at).total_seconds()
    if finished == 0 or elapsed <= 0:
        return None
    finish = now + timedelta(seconds=left * elapsed / finished)
    if campaign.ends_at is not None:
        finish = min(finish, campaign.ends_at)
    return finish
