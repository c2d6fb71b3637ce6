"""Destination policy: what a stolen key must not be able to call (toll fraud)."""

from __future__ import annotations

import logging

import phonenumbers
from phonenumbers import PhoneNumberType

from burki.models import Organization
from telephony.numbers import mask_number

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


def destination_refusal(*, organization: Organization, to_number: str) -> str | None:
    """Why the organization's policy refuses this (E.164, valid) destination; None when it may be called."""
    parsed = phonenumbers.parse(to_number, None)
    country = phonenumbers.region_code_for_number(parsed) or "unknown"
    allowed = organization.allowed_destination_countries
    reason = None
    if allowed and country not in allowed:
        reason = (
            f"Destination country {country} is not in your organization's allowed countries ({', '.join(allowed)})."
        )
    elif organization.block_premium_destinations and phonenumbers.number_type(parsed) in BLOCKED_TYPES:
        kind = BLOCKED_TYPES[phonenumbers.number_type(parsed)]
        reason = f"Calls to {kind} numbers are blocked by your organization's destination policy."
    if reason:
        logger.warning(
            "organization %s: destination %s (%s) refused by policy", organization.pk, mask_number(to_number), country
        )
    return reason
