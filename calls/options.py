"""Bounds of a call's own options, shared by the API's input and the service that checks them for every caller."""

from __future__ import annotations

from assistants.models import MAX_CALL_LENGTH_LIMIT, MIN_CALL_LENGTH

MAX_DURATION_RANGE = (MIN_CALL_LENGTH, MAX_CALL_LENGTH_LIMIT)
# What every carrier takes: Twilio and Telnyx 5..600 s, Vonage 1..120 s.
RING_TIMEOUT_RANGE = (5, 120)
