"""Placeholder until the real Vonage backend lands (issue 3)."""

from __future__ import annotations

from telephony.backends.base import TelephonyBackend


class VonageBackend(TelephonyBackend):
    provider = "vonage"
