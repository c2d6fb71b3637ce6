from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import timezone

from burki.errors import Forbidden
from burki.models import API_KEY_VISIBLE_CHARS, ApiKey, Organization, api_key_generate, api_key_hash
from burki.permissions import ADMIN, role_at_least

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def api_key_create(
    *,
    organization: Organization,
    name: str,
    role: str = ADMIN,
    created_by: User | None = None,
    bound_to_creator: bool = False,
    creator_role: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its raw value. The raw value exists only in this return: show it once, store it nowhere.

    `creator_role` is the role of whoever asks (a member or a key); a key is never given more than that. The
    operator (commands, superusers) passes None. `bound_to_creator` ties the key to `created_by`'s membership.
    """
    if creator_role is not None and not role_at_least(creator_role, role):
        raise Forbidden(
            f"You cannot create a key with the {role} role: you act with the {creator_role} role.",
            extra={"required_role": role},
        )
    raw = api_key_generate()
    key = ApiKey.objects.create(
        organization=organization,
        name=name,
        role=role,
        prefix=raw[:API_KEY_VISIBLE_CHARS],
        hashed_key=api_key_hash(raw),
        created_by=created_by,
        bound_to_creator=bound_to_creator and created_by is not None,
    )
    return key, raw


def api_key_revoke(*, api_key: ApiKey, revoker_role: str | None = None) -> ApiKey:
    """Revoke a key; `revoker_role` (None for the operator) must be at least the key's own role."""
    if revoker_role is not None and not role_at_least(revoker_role, api_key.role):
        raise Forbidden(
            f"Revoking a key with the {api_key.role} role requires that role; you act with the {revoker_role} role.",
            extra={"required_role": api_key.role},
        )
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key
