from __future__ import annotations

from django.db.models import QuerySet

from burki.models import ApiKey, Membership, Organization

# The roles that manage an organization (in the admin, for staff users); members only use it.
ADMINISTERING_ROLES = (Membership.Role.OWNER, Membership.Role.ADMIN)


def api_key_list(*, organization: Organization) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(organization=organization).order_by("-created_at", "-id")


def api_key_get(*, organization: Organization, key_id: int) -> ApiKey | None:
    return api_key_list(organization=organization).filter(pk=key_id).first()


def organizations_administered(*, user_id: int) -> dict[int, str]:
    """The organizations this user is owner or admin of: {organization id: role}."""
    memberships = Membership.objects.filter(user_id=user_id, role__in=ADMINISTERING_ROLES)
    return dict(memberships.values_list("organization_id", "role"))
