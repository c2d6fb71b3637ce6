from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone

from burki.models import Organization
from calls.models import Call
from telephony.status import LIVE_STATUSES, TERMINAL_STATUSES

CALL_COLUMNS = [field.name for field in Call._meta.concrete_fields]


@dataclass(frozen=True)
class CallFilters:
    status: str | None = None
    assistant_id: int | None = None
    campaign_id: int | None = None
    customer_phone: str | None = None
    call_sid: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    min_duration: int | None = None
    max_duration: int | None = None


def call_list(*, organization: Organization, filters: CallFilters | None = None) -> QuerySet[Call]:
    # Of the assistant, only its name (CallOutput): not its settings, decoded on every row. (select_related, not an
    # annotation: counts and id walks, .values("pk"), then drop the join.)
    calls = (
        Call.objects.filter(organization=organization)
        .select_related("assistant")
        .only(*CALL_COLUMNS, "assistant__name")
        .order_by("-created_at", "-id")
    )
    if filters is None:
        return calls
    if filters.status:
        calls = calls.filter(status=filters.status)
    if filters.assistant_id:
        calls = calls.filter(assistant_id=filters.assistant_id)
    if filters.campaign_id:
        calls = calls.filter(campaign_id=filters.campaign_id)
    if filters.customer_phone:
        calls = calls.filter(to_number=filters.customer_phone)
    if filters.call_sid:
        calls = calls.filter(call_sid=filters.call_sid)
    if filters.created_from:
        calls = calls.filter(created_at__gte=filters.created_from)
    if filters.created_to:
        calls = calls.filter(created_at__lte=filters.created_to)
    if filters.min_duration is not None:
        calls = calls.filter(duration__gte=filters.min_duration)
    if filters.max_duration is not None:
        calls = calls.filter(duration__lte=filters.max_duration)
    return calls


def call_get(*, organization: Organization, call_id: int) -> Call | None:
    return call_list(organization=organization).filter(pk=call_id).first()


def call_get_by_sid(*, organization: Organization, call_sid: str) -> Call | None:
    return call_list(organization=organization).filter(call_sid=call_sid).first()


# The outcomes the admin's chart shows, in order; every live status (and `unknown`) counts as "other".
OUTCOMES = ("completed", "busy", "no-answer", "failed", "canceled", "other")
DASHBOARD_HOURS = 24


@dataclass(frozen=True)
class HourOfCalls:
    start: datetime
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())


@dataclass(frozen=True)
class CallsToday:
    """The calls placed in the last 24 hours, hour by hour (the current hour last), and what became of them."""

    hours: list[HourOfCalls]
    live: int  # placed in the window and still live (an older live call is stale: the scheduler fails it)
    ended: int  # placed in the window and over, whatever the outcome
    answered: int  # of those, the ones that were answered at some point

    @property
    def placed(self) -> int:
        return sum(hour.total for hour in self.hours)

    @property
    def answer_rate(self) -> float | None:
        """Answered calls over ended ones (live calls have no outcome yet); None before any call has ended."""
        return self.answered / self.ended if self.ended else None


def calls_today(*, organization_ids: Collection[int] | None, now: datetime | None = None) -> CallsToday:
    """The admin's dashboard for these organizations (None: all of them), in one aggregate query over the window.

    The window starts at the top of the hour 23 hours ago, so that it reads through each organization's
    (organization, created_at) index, or the created_at one across organizations; never the whole history.
    """
    now = now or timezone.now()
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=DASHBOARD_HOURS - 1)
    calls = Call.objects.filter(created_at__gte=first, created_at__lte=now)
    if organization_ids is not None:
        calls = calls.filter(organization_id__in=list(organization_ids))
    rows = (
        calls.annotate(hour=TruncHour("created_at"))
        .values("hour", "status")
        .annotate(count=Count("id"), answered=Count("id", filter=Q(answered_at__isnull=False)))
        .order_by()
    )
    hours = [HourOfCalls(start=first + timedelta(hours=n)) for n in range(DASHBOARD_HOURS)]
    live = ended = answered = 0
    for row in rows:
        index = int((row["hour"] - first).total_seconds() // 3600)
        if not 0 <= index < DASHBOARD_HOURS:
            continue
        outcome = row["status"] if row["status"] in OUTCOMES else "other"
        hours[index].outcomes[outcome] += row["count"]
        if row["status"] in LIVE_STATUSES:
            live += row["count"]
        elif row["status"] in TERMINAL_STATUSES:
            ended += row["count"]
            answered += row["answered"]
    return CallsToday(hours=hours, live=live, ended=ended, answered=answered)
