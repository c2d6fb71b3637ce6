"""Destination policy: what a stolen key must not be able to call (toll fraud)."""

from __future__ import annotations

import logging
from collections.abc import Collection

import phonenumbers
from phonenumbers import PhoneNumberType

from burki.models import Organization
from calls.models import Suppression
from telephony.numbers import EMERGENCY, mask_number, special_number_kind

logger = logging.getLogger(__name__)

# Number types fraudsters pump traffic to: the caller pays, and someone shares the revenue.
BLOCKED_TYPES = {
    PhoneNumberType.PREMIUM_RATE: "premium-rate",
    PhoneNumberType.SHARED_COST: "shared-cost",
    PhoneNumberType.PERSONAL_NUMBER: "personal (forwarding)",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "universal access",
    PhoneNumberType.VOICEMAIL: "voicemail access",
}

# Satellite and other international networks: Inmarsat (+870), global mobile satellite systems (+881) and
# international networks (+882, +883). A minute costs dollars and reaches no country, which makes them a favourite
# of traffic pumping; +979 (international premium rate) and +808 (shared cost) are refused as types above.
INTERNATIONAL_NETWORK_CODES = frozenset({870, 881, 882, 883})
EMERGENCY_REFUSAL = "Emergency numbers cannot be called through Burki."
SHORT_CODE_REFUSAL = "Short codes cannot be called through Burki: give a full number in E.164, e.g. +14155550100."


def special_destination_refusal(to_number: object) -> str | None:
    """Why a destination that is an emergency number or a short code can never be called, whatever the
    organization's policy; None for anything else.

    For a destination that is not a valid full number (E.164 normalization refused it), so that the caller hears
    what it is rather than "not a valid phone number".
    """
    kind = special_number_kind(to_number)
    if kind is None:
        return None
    logger.warning("destination %s refused: %s", mask_number(str(to_number).strip()), kind)
    return EMERGENCY_REFUSAL if kind == EMERGENCY else SHORT_CODE_REFUSAL


def destination_refusal(
    *,
    organization: Organization,
    to_number: str,
    parsed: phonenumbers.PhoneNumber | None = None,
    number_type: int | None = None,
) -> str | None:
    """Why the organization's policy refuses this (E.164, valid) destination; None when it may be called.

    `parsed` and `number_type`: the number's, when the caller has them already (a campaign's import checks 10,000
    numbers, and each of these costs as much as the rest of the check).
    """
    if parsed is None:
        parsed = phonenumbers.parse(to_number, None)
    country = phonenumbers.region_code_for_number(parsed) or "unknown"
    allowed = organization.allowed_destination_countries
    reason = None
    if organization.block_premium_destinations and parsed.country_code in INTERNATIONAL_NETWORK_CODES:
        reason = (
            f"Calls to satellite and international-network numbers (+{parsed.country_code}) are blocked by your "
            "organization's destination policy."
        )
    elif allowed and country not in allowed:
        reason = (
            f"Destination country {country} is not in your organization's allowed countries ({', '.join(allowed)})."
        )
    elif organization.block_premium_destinations:
        kind = phonenumbers.number_type(parsed) if number_type is None else number_type
        if kind in BLOCKED_TYPES:
            reason = f"Calls to {BLOCKED_TYPES[kind]} numbers are blocked by your organization's destination policy."
    if reason:
        logger.warning(
            "organization %s: destination %s (%s) refused by policy", organization.pk, mask_number(to_number), country
        )
    return reason


SUPPRESSED_REFUSAL = "{number} is on your organization's do-not-call list (suppressions): it is never called."


def suppressed_numbers(*, organization_id: int, numbers: Collection[str]) -> set[str]:
    """Which of these E.164 numbers the organization must never call (its suppression list)."""
    if not numbers:
        return set()
    return set(
        Suppression.objects.filter(organization_id=organization_id, phone_number__in=list(numbers)).values_list(
            "phone_number", flat=True
        )
    )


def is_suppressed(*, organization_id: int, to_number: str) -> bool:
    return Suppression.objects.filter(organization_id=organization_id, phone_number=to_number).exists()
