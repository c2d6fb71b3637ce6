"""Which organization a request acts in, and with which role. Every API view works inside exactly one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from burki.authentication import ApiKeyPrincipal
from burki.errors import Forbidden
from burki.models import Membership, Organization
from burki.permissions import required_role, role_at_least

ORGANIZATION_HEADER = "X-Organization-Id"
# Plain ASCII digits of a sane length: str.isdigit() also takes "²" (int() refuses it) and other scripts' digits,
# and 40 digits overflow the database integer.
_ORGANIZATION_ID = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class Acting:
    organization: Organization
    role: str


def request_acting(request: Request) -> Acting:
    """The organization the request acts in and the caller's role there (403 when not a member)."""
    user = request.user
    if isinstance(user, ApiKeyPrincipal):
        return Acting(user.organization, user.role)

    chosen = request.headers.get(ORGANIZATION_HEADER)
    memberships = Membership.objects.select_related("organization").filter(user_id=cast(int, user.pk)).order_by()
    if chosen is not None:
        if not _ORGANIZATION_ID.fullmatch(chosen):
            raise exceptions.ValidationError({ORGANIZATION_HEADER: ["Must be an organization id."]})
        membership = memberships.filter(organization_id=int(chosen)).first()
        if membership is None:
            raise exceptions.PermissionDenied("You are not a member of that organization.")
        return Acting(membership.organization, membership.role)

    found = list(memberships[:2])
    if not found:
        raise exceptions.PermissionDenied("You are not a member of any organization.")
    if len(found) > 1:
        raise exceptions.ValidationError(
            {ORGANIZATION_HEADER: ["You belong to several organizations: choose one with this header."]}
        )
    return Acting(found[0].organization, found[0].role)


class OrganizationAPIView(APIView):
    """Base for every API view: authenticated, scoped to the request's organization, and allowed by the caller's role.

    `resource` names the row of burki.permissions.PERMISSIONS that says which role each method needs.
    """

    resource: ClassVar[str]
    organization: Organization
    role: str

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        acting = request_acting(request)
        self.organization, self.role = acting.organization, acting.role
        request._request.burki_organization_id = self.organization.pk  # type: ignore[attr-defined]  # request log
        needed = required_role(self.resource, request.method or "GET")
        if not role_at_least(self.role, needed):
            raise Forbidden(
                f"This requires the {needed} role; you act with the {self.role} role.",
                extra={"required_role": needed},
            )
