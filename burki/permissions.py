"""Who may do what: one table for the whole API.

Every API view names the resource it serves (`resource = "calls"`); reading it (GET, HEAD, OPTIONS) and changing
it each need a role, looked up here and nowhere else. Roles are ordered: an owner can do everything an admin can,
an admin everything a member can. A person's role is their membership's; an API key has a role of its own, chosen
when it is created and never above its creator's.
"""

from __future__ import annotations

from typing import Final

from burki.models import Membership

MEMBER: Final = Membership.Role.MEMBER.value
ADMIN: Final = Membership.Role.ADMIN.value
OWNER: Final = Membership.Role.OWNER.value

ROLE_RANK: Final[dict[str, int]] = {MEMBER: 1, ADMIN: 2, OWNER: 3}

# resource: (role needed to read it, role needed to change it)
PERMISSIONS: Final[dict[str, tuple[str, str]]] = {
    # Place, validate, list, read and hang up calls; read their events.
    "calls": (MEMBER, MEMBER),
    "assistants": (MEMBER, MEMBER),
    "flows": (MEMBER, MEMBER),
    # Members place calls, so they may also create, run, pause and cancel campaigns of them.
    "campaigns": (MEMBER, MEMBER),
    # Members see which numbers and accounts exist (never credentials: no role ever reads those back).
    "phone_numbers": (MEMBER, ADMIN),
    "telephony_accounts": (MEMBER, ADMIN),
    # Listing what a provider account holds uses its credentials and shows numbers not registered here: admins only.
    "phone_number_import": (ADMIN, ADMIN),
    "api_keys": (ADMIN, ADMIN),
    "organization": (MEMBER, ADMIN),
    # Where the organization's call events go, their signing secrets and delivery log; the events themselves.
    "webhooks": (ADMIN, ADMIN),
    "events": (ADMIN, ADMIN),
    # The do-not-call list: everyone who places calls reads it and adds to it; taking a number off it (which makes
    # it callable again) is an admin's (DELETE_PERMISSIONS).
    "suppressions": (MEMBER, MEMBER),
}

# resource: the role needed to delete one of its objects, where that is above the role needed to change it.
DELETE_PERMISSIONS: Final[dict[str, str]] = {
    "suppressions": ADMIN,
}

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def role_at_least(role: str, required: str) -> bool:
    return ROLE_RANK.get(role, 0) >= ROLE_RANK[required]


def lower_role(first: str, second: str) -> str:
    return first if ROLE_RANK.get(first, 0) <= ROLE_RANK.get(second, 0) else second


def required_role(resource: str, method: str) -> str:
    """The role an operation needs; KeyError for a resource the table does not name (a view must never guess)."""
    read, write = PERMISSIONS[resource]
    if method.upper() == "DELETE":
        return DELETE_PERMISSIONS.get(resource, write)
    return read if method.upper() in SAFE_METHODS else write
