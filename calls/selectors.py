from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from burki.models import Organization
from calls.models import Call

CALL_COLUMNS = [field.name for field in Call._meta.concrete_fields]


@dataclass(frozen=True)
class CallFilters:
    status: str | None = None
    assistant_id: int | None = None
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
