"""The embedded default: places no real call, records what it was asked (like django.core.mail's locmem).

It speaks a small webhook protocol of its own, signed like the real providers' are, so that a local run
exercises the whole path: `simulate()` posts a call's lifecycle to our own webhooks over real HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from telephony.backends.base import (
    AnswerInstructions,
    DialRequest,
    DialResult,
    OwnedNumber,
    ProviderAccount,
    ProviderEvent,
    TelephonyBackend,
    TelephonyError,
    WebhookRequest,
    WebhookResponse,
)
from telephony.numbers import mask_number

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-sandbox-signature"
TIMESTAMP_HEADER = "x-sandbox-timestamp"

# Sandbox event name -> normalized status, and the end reason a terminal one records.
EVENT_STATUS = {
    "initiated": ("initiated", ""),
    "ringing": ("ringing", ""),
    "answered": ("in-progress", ""),
    "completed": ("completed", "hangup"),
    "busy": ("busy", "busy"),
    "no-answer": ("no-answer", "no-answer"),
    "failed": ("failed", "failed"),
    "canceled": ("canceled", "canceled"),
}
LIFECYCLE = ("initiated", "ringing", "answered", "completed")


@dataclass(frozen=True)
class Step:
    """One webhook of a scripted call: `event`, sent `after` seconds after the previous step."""

    event: str
    after: float
    duration: int = 0  # the call's length, sent with the event that ends it


# Destinations that play another outcome, like Twilio's magic test numbers: in the fictional +1 415 555 01xx range
# (valid per libphonenumber, so the default destination policy allows them) and above the demo's own numbers.
# Every other destination is answered and completes after CALL_SECONDS.
MAGIC_NUMBERS = {
    "+14155550191": "busy",
    "+14155550192": "no-answer",
    "+14155550193": "failed",
    "+14155550194": "long",
}
LONG_CALL_SECONDS = 600
# What the sandbox lists as an account's numbers (to import them): +1 415 555 0100 to 0109, fictional, and below the
# magic destinations above. seed_demo registers the first two.
LISTED_NUMBERS = tuple(f"+141555501{n:02d}" for n in range(10))


@dataclass(frozen=True)
class SandboxCall:
    account_id: int
    request: DialRequest
    call_sid: str


# What the sandbox was asked to do, in order; tests read and clear these (as they do django.core.mail.outbox).
outbox: list[SandboxCall] = []
hangups: list[str] = []


def webhook_secret(account: ProviderAccount) -> bytes:
    # A per-account secret with nothing to configure: derived from SECRET_KEY, so it never leaves the server.
    return hmac.new(settings.SECRET_KEY.encode(), f"sandbox-webhook:{account.id}".encode(), hashlib.sha256).digest()


def sign(account: ProviderAccount, *, url: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + url.encode() + b"." + body
    return hmac.new(webhook_secret(account), message, hashlib.sha256).hexdigest()


class SandboxBackend(TelephonyBackend):
    """Options: REFUSE_PREFIXES, destinations starting with any of them are refused (to test the failure path);
    AUTOPLAY (default on), whether a placed call plays its script by itself (on a worker); CALL_SECONDS (default 5),
    how long an answered call lasts.
    """

    provider = "sandbox"

    @property
    def autoplay(self) -> bool:
        return bool(self.options.get("AUTOPLAY", True))

    def script(self, to_number: str) -> tuple[Step, ...]:
        """What a call to `to_number` does, webhook by webhook (see MAGIC_NUMBERS)."""
        outcome = MAGIC_NUMBERS.get(to_number, "completed")
        seconds = LONG_CALL_SECONDS if outcome == "long" else int(self.options.get("CALL_SECONDS", 5))
        if outcome == "failed":
            return (Step("initiated", 0), Step("failed", 1))
        if outcome == "busy":
            return (Step("initiated", 0), Step("ringing", 1), Step("busy", 1))
        if outcome == "no-answer":
            return (Step("initiated", 0), Step("ringing", 1), Step("no-answer", seconds))
        return (Step("initiated", 0), Step("ringing", 1), Step("answered", 1), Step("completed", seconds, seconds))

    def dial(self, account: ProviderAccount, request: DialRequest) -> DialResult:
        refused = [p for p in self.options.get("REFUSE_PREFIXES", []) if p and request.to_number.startswith(p)]
        if refused:
            logger.info("sandbox refused call %s to %s", request.call_id, mask_number(request.to_number))
            raise TelephonyError(
                "Sandbox refuses calls to this destination.", provider=self.alias, code="SB403", http_status=403
            )
        call_sid = "SB" + secrets.token_hex(16)
        outbox.append(SandboxCall(account_id=account.id, request=request, call_sid=call_sid))
        logger.info(
            "sandbox placed call %s from %s to %s as %s",
            request.call_id,
            mask_number(request.from_number),
            mask_number(request.to_number),
            call_sid,
        )
        return DialResult(call_sid=call_sid, status="queued")

    def hangup(self, account: ProviderAccount, call_sid: str) -> None:
        hangups.append(call_sid)
        logger.info("sandbox hung up %s", call_sid)

    def owned_numbers(self, account: ProviderAccount, *, number: str | None = None) -> list[OwnedNumber]:
        # Every number is the sandbox's to use, since it calls no one. Asked for all of them, it lists its demo range,
        # as a provider lists an account's numbers, so that importing numbers can be tried without one.
        if number:
            return [OwnedNumber(number=number)]
        return [
            OwnedNumber(number=listed, provider_id=f"SANDBOX{listed[1:]}", friendly_name="Sandbox demo number")
            for listed in LISTED_NUMBERS
        ]

    # --- webhooks ---

    def verify_webhook(self, account: ProviderAccount, request: WebhookRequest) -> bool:
        signature = request.headers.get(SIGNATURE_HEADER, "")
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        if not signature or not timestamp.isdigit():
            return False
        if abs(time.time() - int(timestamp)) > settings.WEBHOOK_MAX_AGE:
            return False
        expected = sign(account, url=request.url, timestamp=timestamp, body=request.body)
        return hmac.compare_digest(expected, signature)

    def parse_event(self, request: WebhookRequest) -> ProviderEvent | None:
        try:
            data = json.loads(request.body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValueError("body is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            raise ValueError("expected a JSON object with an 'event'")
        if data["event"] not in EVENT_STATUS:
            return None
        status, end_reason = EVENT_STATUS[data["event"]]
        duration = data.get("duration")
        return ProviderEvent(
            event_type=data["event"],
            key=str(data.get("event_id") or data["event"]),
            status=status,
            call_sid=data.get("call_sid") if isinstance(data.get("call_sid"), str) else None,
            end_reason=end_reason,
            duration=duration if isinstance(duration, int) and not isinstance(duration, bool) else None,
            payload=data,
        )

    def answer(self, instructions: AnswerInstructions) -> WebhookResponse:
        actions: list[dict[str, Any]]
        if instructions.stream_url:
            actions = [{"stream": {"url": instructions.stream_url, "parameters": dict(instructions.parameters)}}]
        else:
            actions = [{"say": instructions.say}, {"hangup": {}}]
        return WebhookResponse(content=json.dumps({"actions": actions}).encode(), content_type="application/json")

    def answer_hangup(self) -> WebhookResponse:
        return WebhookResponse(
            content=json.dumps({"actions": [{"hangup": {}}]}).encode(), content_type="application/json"
        )

    # --- local runs ---

    def simulate(
        self,
        account: ProviderAccount,
        *,
        call_sid: str,
        answer_url: str,
        status_url: str,
        events: Iterable[str] = LIFECYCLE,
        duration: int = 7,
    ) -> list[tuple[str, int]]:
        """Play a call's lifecycle against our own webhooks with real, signed HTTP requests.

        Returns (what, HTTP status) for each request, in order.
        """
        results: list[tuple[str, int]] = []
        for event in events:
            if event == "answered":
                results.append(("answer", self._post(account, answer_url, {"call_sid": call_sid})))
            body: dict[str, Any] = {"event": event, "call_sid": call_sid, "event_id": f"{call_sid}:{event}"}
            if EVENT_STATUS.get(event, ("", ""))[1]:
                body["duration"] = duration if event == "completed" else 0
            results.append((event, self._post(account, status_url, body)))
        return results

    def _post(self, account: ProviderAccount, url: str, payload: dict[str, Any]) -> int:
        body = json.dumps(payload).encode()
        timestamp = str(int(time.time()))
        request = urllib.request.Request(  # noqa: S310 (our own PUBLIC_BASE_URL, http or https)
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(account, url=url, timestamp=timestamp, body=body),
                TIMESTAMP_HEADER: timestamp,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
