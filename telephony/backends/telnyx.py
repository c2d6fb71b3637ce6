"""Placeholder until the real Telnyx backend lands (issue 3)."""

from __future__ import annotations

from telephony.backends.base import TelephonyBackend


class TelnyxBackend(TelephonyBackend):
    provider = "telnyx"
