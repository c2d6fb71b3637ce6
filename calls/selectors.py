from __future__ import annotations

from django.db.models import QuerySet

from burki.models import Organization
from calls.models import Call


def call_list(*, organization: Organization) -> QuerySet[Call]:
    return Call.objects.filter(organization=organization).select_related("assistant").order_by("-created_at", "-id")


def call_get(*, organization: Organization, call_id: int) -> Call | None:
    return call_list(organization=organization).filter(pk=call_id).first()
