"""The provider webhook requests the benchmark sends, shaped like the real providers' (no Django needed).

Twilio: form-encoded POSTs signed with X-Twilio-Signature (HMAC-SHA1 of the exact URL requested plus the sorted
parameters, keyed with the account's auth token). A call's status callback sends one request per subscribed
event (initiated, ringing, in-progress, completed), numbered by SequenceNumber; the answer webhook (the call's
Url) comes once, when the callee picks up.

Sandbox: JSON POSTs signed with the sandbox's HMAC (`telephony.backends.sandbox.sign`, which needs Django's
settings for SECRET_KEY: the caller passes a signing function).
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

TWILIO_EVENTS = ("initiated", "ringing", "in-progress", "completed")
SANDBOX_EVENTS = ("initiated", "ringing", "answered", "completed")
CALL_DURATION = 42


@dataclass(frozen=True)
class WebhookCall:
    """What a provider knows of a call it placed: the callback URLs (with the token), its call sid, the numbers."""

    token: str
    call_sid: str
    from_number: str
    to_number: str


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str  # absolute: the URL the provider calls (signatures cover it)
    body: bytes
    headers: dict[str, str]

    @property
    def path(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")


def webhook_url(base_url: str, provider: str, kind: str, token: str) -> str:
    return f"{base_url}/telephony/{provider}/{kind}/{token}"


# --- Twilio -------------------------------------------------------------------------------------------------------


def _twilio_common(call: WebhookCall, account_sid: str, call_status: str) -> dict[str, str]:
    return {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": call.call_sid,
        "CallStatus": call_status,
        "Called": call.to_number,
        "CalledCity": "SAN FRANCISCO",
        "CalledCountry": "US",
        "CalledState": "CA",
        "CalledZip": "94105",
        "Caller": call.from_number,
        "CallerCity": "SAN FRANCISCO",
        "CallerCountry": "US",
        "CallerState": "CA",
        "CallerZip": "94105",
        "Direction": "outbound-api",
        "From": call.from_number,
        "FromCity": "SAN FRANCISCO",
        "FromCountry": "US",
        "FromState": "CA",
        "FromZip": "94105",
        "To": call.to_number,
        "ToCity": "SAN FRANCISCO",
        "ToCountry": "US",
        "ToState": "CA",
        "ToZip": "94105",
    }


def twilio_status_params(call: WebhookCall, account_sid: str, sequence: int) -> dict[str, str]:
    status = TWILIO_EVENTS[sequence]
    params = _twilio_common(call, account_sid, status)
    params.update(
        {
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(sequence),
            "Timestamp": email.utils.formatdate(usegmt=True).replace("GMT", "+0000"),
        }
    )
    if status == "completed":
        params.update({"CallDuration": str(CALL_DURATION), "Duration": "1", "SipResponseCode": "200"})
    return params


def twilio_answer_params(call: WebhookCall, account_sid: str) -> dict[str, str]:
    return _twilio_common(call, account_sid, "in-progress")


def twilio_signed(url: str, params: dict[str, str], auth_token: str) -> HttpRequest:
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(auth_token).compute_signature(url, params)
    return HttpRequest(
        method="POST",
        url=url,
        body=urlencode(params).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": f"{params['CallSid']}-{params.get('SequenceNumber', 'answer')}",
        },
    )


def twilio_status_request(
    base_url: str, call: WebhookCall, *, account_sid: str, auth_token: str, sequence: int
) -> HttpRequest:
    url = webhook_url(base_url, "twilio", "status", call.token)
    return twilio_signed(url, twilio_status_params(call, account_sid, sequence), auth_token)


def twilio_answer_request(base_url: str, call: WebhookCall, *, account_sid: str, auth_token: str) -> HttpRequest:
    url = webhook_url(base_url, "twilio", "answer", call.token)
    return twilio_signed(url, twilio_answer_params(call, account_sid), auth_token)


# --- Sandbox ------------------------------------------------------------------------------------------------------

# sign(url=..., timestamp=..., body=...) -> hex signature, for the account that placed the call.
SandboxSigner = Callable[..., str]


def sandbox_signed(url: str, payload: dict[str, object], sign: SandboxSigner) -> HttpRequest:
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time()))
    return HttpRequest(
        method="POST",
        url=url,
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-Sandbox-Signature": sign(url=url, timestamp=timestamp, body=body),
            "X-Sandbox-Timestamp": timestamp,
        },
    )


def sandbox_status_request(base_url: str, call: WebhookCall, *, sign: SandboxSigner, sequence: int) -> HttpRequest:
    event = SANDBOX_EVENTS[sequence]
    payload: dict[str, object] = {"event": event, "call_sid": call.call_sid, "event_id": f"{call.call_sid}:{event}"}
    if event == "completed":
        payload["duration"] = CALL_DURATION
    return sandbox_signed(webhook_url(base_url, "sandbox", "status", call.token), payload, sign)


def sandbox_answer_request(base_url: str, call: WebhookCall, *, sign: SandboxSigner) -> HttpRequest:
    return sandbox_signed(webhook_url(base_url, "sandbox", "answer", call.token), {"call_sid": call.call_sid}, sign)
