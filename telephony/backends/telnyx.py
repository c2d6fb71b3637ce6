"""Telnyx Call Control through the official SDK (telnyx-python)."""

from __future__ import annotations

import base64
import hmac
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings

from telephony.backends.base import (
    MAX_OWNED_NUMBERS,
    AnswerInstructions,
    ClientCache,
    DialRequest,
    DialResult,
    OwnedNumber,
    ProviderAccount,
    ProviderEvent,
    TelephonyBackend,
    TelephonyError,
    WebhookKind,
    WebhookRequest,
    WebhookResponse,
    json_object,
    provider_refusal,
    provider_unexpected,
    provider_unreachable,
    required_credentials,
)

if TYPE_CHECKING:
    from telnyx import Telnyx

# Only what placing and ending calls needs; public_key serves webhook verification, and is read there.
CREDENTIAL_KEYS = ("api_key", "connection_id")
DEFAULT_TIMEOUT = 5.0
SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
# Call Control sends no ringing event: an outbound call goes from call.initiated straight to call.answered.
EVENT_STATUS = {"call.initiated": "initiated", "call.answered": "in-progress"}
# call.hangup's hangup_cause -> normalized status; the cause itself becomes the end reason. A cause Telnyx adds
# later (or none at all) ends the call as failed rather than leaving it live.
HANGUP_STATUS = {
    "normal_clearing": "completed",
    "time_limit": "completed",  # answered, and ended by the time limit we set on dial
    "user_busy": "busy",
    "no_answer": "no-answer",
    "timeout": "no-answer",
    "call_rejected": "failed",
    "not_found": "failed",
    "unspecified": "failed",
    "originator_cancel": "canceled",
}


# A number listed with one of these statuses is no longer (or never was) the account's to call from.
GONE_STATUSES = frozenset({"deleted", "ported-out", "purchase-failed", "port-failed"})
LIST_PAGE_SIZE = 250  # Telnyx's largest page

# Telnyx refuses longer speak payloads; welcome messages are at most 1,000 characters anyway.
SPEAK_LIMIT = 3000


def dial_command_id(call_id: int) -> str:
    """Telnyx ignores a second dial with the same command_id, so a repeat of our call can never ring twice."""
    return f"burki-call-{call_id}"


class TelnyxBackend(TelephonyBackend):
    """Options: API_BASE_URL (with /v2; empty for the SDK's https://api.telnyx.com/v2), TIMEOUT (seconds, default 5)."""

    provider = "telnyx"

    def __init__(self, *, provider: str, options: Mapping[str, Any]) -> None:
        super().__init__(provider=provider, options=options)
        self.timeout = float(self.options.get("TIMEOUT") or DEFAULT_TIMEOUT)
        self.base_url = str(self.options.get("API_BASE_URL") or "")
        self._clients: ClientCache[Telnyx] = ClientCache()

    def dial(self, account: ProviderAccount, request: DialRequest) -> DialResult:
        client, credentials = self._client(account)
        params: dict[str, Any] = {
            "connection_id": credentials["connection_id"],
            "to": request.to_number,
            "from_": request.from_number,
            "webhook_url": request.status_url,
            # Echoed back on every event: the token finds the call even before we know its call_control_id.
            "client_state": base64.b64encode(request.token.encode()).decode(),
            "command_id": dial_command_id(request.call_id),
            "timeout_secs": request.ring_timeout,
        }
        if request.time_limit is not None:
            params["time_limit_secs"] = request.time_limit
        if request.stream_url is not None:
            params["stream_url"] = request.stream_url
        try:
            response = client.calls.dial(**params)
        except Exception as exc:
            raise self._error(exc, "dial") from exc
        call_control_id = response.data.call_control_id if response.data is not None else None
        if not call_control_id:
            # Telnyx said yes without an id: the call may be ringing, and only its webhooks (carrying our
            # client_state) can tell.
            raise TelephonyError(
                "Telnyx accepted the call but returned no call_control_id.",
                provider=self.alias,
                kind=TelephonyError.UNAVAILABLE,
            )
        return DialResult(call_sid=call_control_id, status="queued")

    def hangup(self, account: ProviderAccount, call_sid: str) -> None:
        client, _ = self._client(account)
        try:
            client.calls.actions.hangup(call_sid)
        except Exception as exc:
            raise self._error(exc, "hangup") from exc

    def owned_numbers(self, account: ProviderAccount, *, number: str | None = None) -> list[OwnedNumber]:
        client, _ = self._client(account)
        params: dict[str, Any] = {"page_size": LIST_PAGE_SIZE}
        if number:
            # Digits only: Telnyx answers an empty list to a filter with any other character in it, the + included.
            params["filter"] = {"phone_number": number.lstrip("+")}
        owned: list[OwnedNumber] = []
        try:
            # Iterating the page fetches the next ones (page[number]) until meta.total_pages.
            for record in client.phone_numbers.list(**params):
                phone_number = getattr(record, "phone_number", None)
                if not phone_number or getattr(record, "status", None) in GONE_STATUSES:
                    continue
                owned.append(OwnedNumber(number=str(phone_number), provider_id=str(getattr(record, "id", "") or "")))
                if len(owned) >= MAX_OWNED_NUMBERS:
                    break
        except Exception as exc:
            raise self._error(exc, "phone number listing") from exc
        # The filter matches partial numbers too.
        return [item for item in owned if item.number == number] if number else owned

    # --- webhooks ---

    def on_event(self, account: ProviderAccount, event: ProviderEvent, *, say: str | None) -> None:
        """Without a media stream, speak the welcome message once answered, then hang up when it has been said.

        Call Control has no answer document, so what TwiML or an NCCO would say is two commands here.
        """
        if say is None or not event.call_sid or event.event_type not in ("call.answered", "call.speak.ended"):
            return
        client, _ = self._client(account)
        try:
            if event.event_type == "call.answered":
                # command_id: a redelivered call.answered must not make Telnyx say it twice.
                client.calls.actions.speak(
                    event.call_sid,
                    payload=say[:SPEAK_LIMIT],
                    voice="female",
                    language="en-US",
                    command_id=f"{event.call_sid}:speak",
                )
            else:
                client.calls.actions.hangup(event.call_sid, command_id=f"{event.call_sid}:hangup")
        except Exception as exc:
            raise self._error(exc, "speak" if event.event_type == "call.answered" else "hangup") from exc

    def verify_webhook(self, account: ProviderAccount, request: WebhookRequest) -> bool:
        """Ed25519 over b"<timestamp>|<raw body>" with the account's public key (what Telnyx's own verifier does,
        without its PyNaCl dependency). The signature does not cover the URL."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        signature = request.headers.get(SIGNATURE_HEADER, "")
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        public_key = str(account.credentials.get("public_key") or "").strip()
        if not signature or not public_key or not (timestamp.isascii() and timestamp.isdigit()):
            return False
        if abs(time.time() - int(timestamp)) > settings.WEBHOOK_MAX_AGE:
            return False
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
            key.verify(base64.b64decode(signature, validate=True), timestamp.encode() + b"|" + request.body)
        except (ValueError, InvalidSignature):  # binascii.Error is a ValueError: so is a key of the wrong size
            return False
        return True

    def signed_for(self, request: WebhookRequest, *, kind: WebhookKind, call_token: str, call_sid: str | None) -> bool:
        """The signed body must be about this call: its client_state, which Telnyx echoes from our dial, is the
        call's token.

        The signature covers only the timestamp and the body, so without this an event Telnyx signed for another
        call of the account could be replayed, within the 300 s window, to this call's URL, and an event naming
        no token could fill in the id of a call whose dial timed out. Without client_state, the event counts only
        for a call whose call_control_id is known (the lifecycle applies an event naming another id to nothing).
        """
        try:
            data = json_object(request.body).get("data")
        except ValueError:
            return True  # nothing an event could be read from: parse_event refuses it
        payload = data.get("payload") if isinstance(data, dict) else None
        state = payload.get("client_state") if isinstance(payload, dict) else None
        if not state:
            return call_sid is not None
        try:
            token = base64.b64decode(str(state), validate=True)
        except ValueError:  # binascii.Error included
            return False
        return hmac.compare_digest(token, call_token.encode())

    def parse_event(self, request: WebhookRequest) -> ProviderEvent | None:
        """Every Call Control event is kept; only call.initiated, call.answered and call.hangup carry a status."""
        body = json_object(request.body)
        data = body.get("data")
        if not isinstance(data, dict):
            raise ValueError("expected a Telnyx event: {'data': {...}}")
        event_type, event_id, payload = data.get("event_type"), data.get("id"), data.get("payload", {})
        if not isinstance(event_type, str) or not event_type or not isinstance(event_id, str) or not event_id:
            raise ValueError("the event has no event_type or id")
        if not isinstance(payload, dict):
            raise ValueError("the event's payload is not an object")
        status = EVENT_STATUS.get(event_type)
        end_reason, duration = "", None
        if event_type == "call.hangup":
            cause = payload.get("hangup_cause")
            end_reason = cause if isinstance(cause, str) and cause else "unspecified"
            status = HANGUP_STATUS.get(end_reason, "failed")
            if status == "completed":
                duration = _seconds_between(payload.get("start_time"), payload.get("end_time"))
        call_control_id = payload.get("call_control_id")
        # Our call's token stays out of the stored event: client_state is the token (base64), and meta.delivered_to
        # is the webhook URL, which ends with it.
        kept: dict[str, Any] = {**body, "data": {**data, "payload": _without(payload, "client_state")}}
        if isinstance(body.get("meta"), dict):
            kept["meta"] = _without(body["meta"], "delivered_to")
        return ProviderEvent(
            event_type=event_type,
            key=event_id,  # Telnyx redelivers an event with the same id (and a new meta.attempt)
            status=status,
            call_sid=call_control_id if isinstance(call_control_id, str) and call_control_id else None,
            end_reason=end_reason,
            duration=duration,
            payload=kept,
        )

    def answer(self, instructions: AnswerInstructions) -> WebhookResponse:
        # Call Control has no answer document: Telnyx never requests the answer URL, and the media stream starts
        # from the stream_url given on dial. Without MEDIA_STREAM_URL nothing speaks the welcome message (that
        # would take a `speak` command through the REST API once call.answered arrives).
        return WebhookResponse(content=b"", status=204)

    def answer_hangup(self) -> WebhookResponse:
        return WebhookResponse(content=b"", status=204)

    def _client(self, account: ProviderAccount) -> tuple[Telnyx, dict[str, str]]:
        credentials = required_credentials(self.alias, account, CREDENTIAL_KEYS, label="Telnyx")
        return self._clients.get(account.id, credentials, lambda: self._build_client(credentials)), credentials

    def _build_client(self, credentials: Mapping[str, str]) -> Telnyx:
        # Imported here, not at the top: `import telnyx` costs seconds, and this module is imported at startup.
        from telnyx import Telnyx

        try:
            return Telnyx(
                api_key=credentials["api_key"],
                # Empty, not None: None makes the SDK read TELNYX_CLIENT_ID / TELNYX_CLIENT_SECRET from the
                # environment and switch every organization's requests to that OAuth identity.
                client_id="",
                client_secret="",
                base_url=self.base_url or None,
                timeout=self.timeout,
                # The SDK retries twice by default, re-sending a dial whose answer was lost; command_id covers
                # Telnyx's side, and no retry at all covers any path where it would not.
                max_retries=0,
            )
        except Exception as exc:
            # Nothing was sent: a client that cannot be built is a configuration problem, not an outage.
            raise TelephonyError(
                f"Could not set up the Telnyx client ({type(exc).__name__}).",
                provider=self.alias,
                kind=TelephonyError.REJECTED,
            ) from exc

    def _error(self, exc: Exception, action: str) -> TelephonyError:
        from telnyx import APIConnectionError, APIStatusError, APITimeoutError

        if isinstance(exc, APIStatusError):
            status = exc.status_code
            code, message = _error_details(exc.body, status)
            return provider_refusal(
                self.alias,
                message=message,
                code=code,
                http_status=status,
                retry_after=exc.response.headers.get("Retry-After"),
            )
        if isinstance(exc, APITimeoutError):
            return provider_unreachable(self.alias, label="Telnyx", action=action, timeout=self.timeout)
        if isinstance(exc, APIConnectionError):
            return provider_unreachable(self.alias, label="Telnyx", action=action)
        return provider_unexpected(self.alias, label="Telnyx", action=action, exc=exc)


def _error_details(body: object, status: int) -> tuple[str | None, str]:
    """Telnyx errors: {"errors": [{"code": "10010", "title": "...", "detail": "..."}, ...]}; the first one leads."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and all(isinstance(error, dict) for error in errors):
        code = errors[0].get("code")
        parts = []
        for error in errors:
            title, detail = error.get("title"), error.get("detail")
            parts.append(f"{title}: {detail}" if title and detail and detail != title else str(title or detail or ""))
        message = "; ".join(part for part in parts if part) or f"HTTP {status}"
        return (str(code) if code is not None else None), message
    if isinstance(body, str) and body:
        return None, f"HTTP {status}: {body[:200]}"
    return None, f"HTTP {status}"


def _without(mapping: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


def _seconds_between(start: object, end: object) -> int | None:
    """Whole seconds from one ISO 8601 time to another; None unless both are there and readable.

    call.hangup carries start_time (when the call was placed, so ringing counts too) but, in Telnyx's schema and
    examples, no end_time: the duration is then left to the lifecycle, which measures it from call.answered.
    """
    if not isinstance(start, str) or not isinstance(end, str):
        return None
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):  # unreadable, or one with a time zone and one without
        return None
    return max(0, round(seconds))
