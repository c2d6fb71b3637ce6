"""Which organization a request acts in. Every API view works inside exactly one."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from burki.authentication import ApiKeyPrincipal
from burki.models import Organization

ORGANIZATION_HEADER = "X-Organization-Id"


def request_organization(request: Request) -> Organization:
    user = request.user
    if isinstance(user, ApiKeyPrincipal):
        return user.organization

    chosen = request.headers.get(ORGANIZATION_HEADER)
    memberships = Organization.objects.filter(memberships__user_id=user.pk)  # type: ignore[misc]
    if chosen is not None:
        if not chosen.isdigit():
            raise exceptions.ValidationError({ORGANIZATION_HEADER: ["Must be an organization id."]})
        organization = memberships.filter(pk=int(chosen)).first()
        if organization is None:
            raise exceptions.PermissionDenied("You are not a member of that organization.")
        return organization

    found = list(memberships[:2])
    if not found:
        raise exceptions.PermissionDenied("You are not a member of any organization.")
    if len(found) > 1:
        raise exceptions.ValidationError(
            {ORGANIZATION_HEADER: ["You belong to several organizations: choose one with this header."]}
        )
    return found[0]


class OrganizationAPIView(APIView):
    """Base for every API view: authenticated, and scoped to the request's organization."""

    organization: Organization

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.organization = request_organization(request)
        request._request.burki_organization_id = self.organization.pk  # type: ignore[attr-defined]  # request log
