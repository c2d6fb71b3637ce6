from __future__ import annotations

from django.db.models import QuerySet

from burki.models import ApiKey, Organization


def api_key_list(*, organization: Organization) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(organization=organization).order_by("-created_at", "-id")


def api_key_get(*, organization: Organization, key_id: int) -> ApiKey | None:
    return api_key_list(organization=organization).filter(pk=key_id).first()
