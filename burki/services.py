from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict, Unpack

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from burki.errors import Forbidden, InvalidInput
from burki.models import API_KEY_VISIBLE_CHARS, ApiKey, Organization, api_key_generate, api_key_hash
from burki.permissions import ADMIN, role_at_least
from burki.throttling import password_check
from burki.tokens import token_pair_for

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class OrganizationSettings(TypedDict, total=False):
    """What an organization's admins may change about it (the API's PATCH, the admin); the slug is the operator's."""

    name: str
    max_concurrent_calls: int | None
    allowed_destination_countries: list[str]
    block_premium_destinations: bool
    call_retention_days: int | None
    redact_after_days: int | None


ORGANIZATION_SETTINGS = tuple(OrganizationSettings.__annotations__)


def concurrency_limit_error(*, current: int | None, requested: int | None) -> str | None:
    """Why an organization's own admin may not set `max_concurrent_calls` to `requested`, or None.

    Up to BURKI_MAX_CONCURRENT_CALLS_LIMIT, or empty (the server default). A higher value the operator gave it is
    kept as it is, so that the organization's admins can still save everything else.
    """
    maximum: int = settings.BURKI_MAX_CONCURRENT_CALLS_LIMIT
    if requested is None or requested <= maximum or requested == current:
        return None
    return f"At most {maximum}, the platform's maximum (ask the operator for more)."


def organization_update(
    *, organization: Organization, by_operator: bool = False, **changes: Unpack[OrganizationSettings]
) -> Organization:
    """Change the organization's settings, checked as the model checks them (country codes, retention ranges,
    redaction before deletion); `max_concurrent_calls` up to the platform maximum unless `by_operator`.
    """
    with transaction.atomic():
        # Locked, so that two changes at once are each checked against the other (redaction before deletion).
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        errors: dict[str, list[str]] = {}
        if "max_concurrent_calls" in changes and not by_operator:
            problem = concurrency_limit_error(
                current=locked.max_concurrent_calls, requested=changes["max_concurrent_calls"]
            )
            if problem:
                errors["max_concurrent_calls"] = [problem]
        for name, value in changes.items():
            setattr(locked, name, value)
        try:
            unchanged = [field.name for field in Organization._meta.fields if field.name not in changes]
            locked.full_clean(exclude=unchanged)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                errors.setdefault(name, []).extend(messages)
        if errors:
            raise InvalidInput("Invalid request.", errors=errors)
        if changes:
            locked.save(update_fields=[*changes, "updated_at"])
    return locked


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


def user_refresh_tokens_revoke(*, user: User) -> int:
    """Revokes every refresh token of the user still valid; how many there were."""
    live = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True)
    revoked = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in live], ignore_conflicts=True
    )
    return len(revoked)


def user_password_change(*, user: User, current_password: str, new_password: str, client: str | None) -> dict[str, str]:
    """Changes the user's own password and returns a new token pair: every token issued before stops working.

    The current password is checked like a login (burki.throttling), so a stolen access token cannot be used to
    guess it.
    """
    if not password_check(
        client=client, username=user.get_username(), check=lambda: user.check_password(current_password)
    ):
        raise InvalidInput("The current password is wrong.", errors={"current_password": ["Wrong password."]})
    try:
        validate_password(new_password, user=user)
    except ValidationError as exc:
        raise InvalidInput("The new password is not acceptable.", errors={"new_password": list(exc.messages)}) from None
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        # The password claim already refuses the old tokens; revoking them too keeps the records telling the truth.
        user_refresh_tokens_revoke(user=user)
        return token_pair_for(user)
