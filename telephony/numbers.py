"""Phone numbers in and out: everything is stored, looked up and returned in E.164."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import shortnumberinfo

# Humans write "+1 (415) 555-0100" or "+44.20.7183.8750"; those separators are dropped, nothing else is.
_SEPARATORS = re.compile(r"[ \t\-.()]")
_DIGITS = re.compile(r"[0-9]+")
MAX_INPUT_LENGTH = 32
EMERGENCY = "emergency"
SHORT_CODE = "short code"


class InvalidPhoneNumber(ValueError):
    pass


def normalize_e164(raw: object) -> str:
    if not isinstance(raw, str):
        raise InvalidPhoneNumber("Must be a string in E.164 format, e.g. +14155550100.")
    text = raw.strip()
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidPhoneNumber("Too long to be a phone number.")
    if not text.startswith("+"):
        raise InvalidPhoneNumber("Must start with + and the country code (E.164), e.g. +14155550100.")
    digits = _SEPARATORS.sub("", text[1:])
    if not _DIGITS.fullmatch(digits):
        raise InvalidPhoneNumber("Only digits after the +, with optional spaces, dashes, dots or parentheses.")
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber("Not a valid phone number.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber("Not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def special_number_kind(raw: object) -> str | None:
    """EMERGENCY or SHORT_CODE for what would be dialled as one, however it is written ("+1 911", "+44999", "+112",
    "112", "+1411"); None for anything else, every valid full number included.

    For explaining a refusal: normalize_e164 already refuses all of these as "not a valid phone number".
    """
    if not isinstance(raw, str) or len(raw.strip()) > MAX_INPUT_LENGTH:
        return None
    text = raw.strip()
    plus = text.startswith("+")
    digits = _SEPARATORS.sub("", text[1:] if plus else text)
    if not _DIGITS.fullmatch(digits):
        return None
    try:
        parsed: phonenumbers.PhoneNumber | None = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and phonenumbers.is_valid_number(parsed):
        return None
    # The digits as someone used to 911, 112 or 999 types them, with or without a +: an emergency number anywhere.
    if any(shortnumberinfo.is_emergency_number(digits, region) for region in phonenumbers.SUPPORTED_SHORT_REGIONS):
        return EMERGENCY
    if parsed is None:
        return None
    # Or after a country code: "+1 911", "+44 999", "+49 110" (and what connects to one there, e.g. "+1 9111").
    regions = phonenumbers.region_codes_for_country_code(parsed.country_code or 0)
    national = phonenumbers.national_significant_number(parsed)
    if any(shortnumberinfo.connects_to_emergency_number(national, region) for region in regions):
        return EMERGENCY
    if plus and any(shortnumberinfo.is_valid_short_number_for_region(parsed, region) for region in regions):
        return SHORT_CODE
    return None


def mask_number(number: str) -> str:
    """For logs: the last four digits are enough to tell calls apart, and identify nobody."""
    return "…" + number[-4:] if len(number) > 4 else "…"
