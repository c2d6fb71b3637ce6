"""Placeholder until the real Twilio backend lands (issue 3)."""

from __future__ import annotations

from telephony.backends.base import TelephonyBackend


class TwilioBackend(TelephonyBackend):
    provider = "twilio"
