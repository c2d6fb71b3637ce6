from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import ProtectedError

from burki.errors import Conflict, InvalidInput
from burki.models import Organization
from telephony.credentials import credentials_errors
from telephony.models import TelephonyAccount


def _checked_credentials(provider: str, credentials: Mapping[str, Any]) -> dict[str, Any]:
    errors = credentials_errors(provider, credentials)
    if errors:
        raise InvalidInput("Invalid credentials.", errors={"credentials": errors})
    return dict(credentials)


def telephony_account_create(
    *,
    organization: Organization,
    provider: str,
    name: str,
    credentials: Mapping[str, Any],
    is_active: bool = True,
    calls_per_second: int | None = None,
) -> TelephonyAccount:
    account = TelephonyAccount(
        organization=organization,
        provider=provider,
        name=name,
        is_active=is_active,
        credentials=_checked_credentials(provider, credentials),
        calls_per_second=calls_per_second,
    )
    account.save()
    return account


def telephony_account_update(
    *,
    account: TelephonyAccount,
    name: str | None = None,
    is_active: bool | None = None,
    credentials: Mapping[str, Any] | None = None,
    calls_per_second: int | Any | None = ...,
) -> TelephonyAccount:
    if calls_per_second is not ...:
        # None is a value here: back to the provider's default.
        account.calls_per_second = calls_per_second
    if name is not None:
        account.name = name
    if is_active is not None:
        account.is_active = is_active
    if credentials is not None:
        # Credentials are replaced whole: a partial merge could silently pair a new token with an old sid.
        account.credentials = _checked_credentials(account.provider, credentials)
    account.save()
    return account


def telephony_account_delete(*, account: TelephonyAccount) -> None:
    try:
        with transaction.atomic():
            account.delete()
    except ProtectedError as exc:
        numbers = sorted(str(obj) for obj in exc.protected_objects)
        raise Conflict(
            f"This account still has {len(numbers)} phone number(s): {', '.join(numbers[:10])}. "
            "Delete or move them first."
        ) from None


def telephony_credentials_rotate() -> int:
    """Re-encrypt every account's credentials under the newest key; returns how many were rewritten.

    Run after putting a new key first in CREDENTIALS_ENCRYPTION_KEYS; once it has run, older keys can be dropped.
    """
    count = 0
    for account in TelephonyAccount.objects.only("pk", "credentials").iterator():
        # Saving re-encrypts with the first key; only the credentials column is written.
        account.save(update_fields=["credentials"])
        count += 1
    return count
