from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import timezone

from burki.models import API_KEY_VISIBLE_CHARS, ApiKey, Organization, api_key_generate, api_key_hash

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def api_key_create(*, organization: Organization, name: str, created_by: User | None = None) -> tuple[ApiKey, str]:
    """A new key and its raw value. The raw value exists only in this return: show it once, store it nowhere."""
    raw = api_key_generate()
    key = ApiKey.objects.create(
        organization=organization,
        name=name,
        prefix=raw[:API_KEY_VISIBLE_CHARS],
        hashed_key=api_key_hash(raw),
        created_by=created_by,
    )
    return key, raw


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key
