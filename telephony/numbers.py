"""Phone numbers in and out: everything is stored, looked up and returned in E.164."""

from __future__ import annotations

import re

import phonenumbers

# Humans write "+1 (415) 555-0100" or "+44.20.7183.8750"; those separators are dropped, nothing else is.
_SEPARATORS = re.compile(r"[ \t\-.()]")
_DIGITS = re.compile(r"[0-9]+")
MAX_INPUT_LENGTH = 32


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


def mask_number(number: str) -> str:
    """For logs: the last four digits are enough to tell calls apart, and identify nobody."""
    return "…" + number[-4:] if len(number) > 4 else "…"
