"""Vonage Voice API through the official SDK (vonage-python-sdk v4: vonage, vonage-voice, vonage-http-client)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import time
from collections.abc import Mapping
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
    from vonage import Vonage

# Only what placing and ending calls needs; signature_secret serves webhook verification, and is read there.
CREDENTIAL_KEYS = ("application_id", "private_key")
# The Numbers API takes the Vonage account's API key and secret (HTTP Basic), never the application's JWT.
NUMBERS_CREDENTIAL_KEYS = ("api_key", "api_secret")
NUMBERS_PAGE_SIZE = 100  # the SDK's largest page
DEFAULT_TIMEOUT = 5.0
# Vonage call status -> normalized status. A status in ENDED ends the call, and is its end reason as Vonage said it.
EVENT_STATUS = {
    "started": "initiated",
    "ringing": "ringing",
    "answered": "in-progress",
    "completed": "completed",
    "busy": "busy",
    "timeout": "no-answer",
    "unanswered": "no-answer",
    "rejected": "failed",
    "failed": "failed",
    "cancelled": "canceled",
}
ENDED = frozenset({"completed", "busy", "timeout", "unanswered", "rejected", "failed", "cancelled"})
STREAM_CONTENT_TYPE = "audio/l16;rate=16000"
TALK_MAX_LENGTH = 1500  # the SDK's Talk model refuses longer text
# Bounds the SDK's request model enforces before sending anything.
RINGING_TIMER_RANGE = (1, 120)
LENGTH_TIMER_RANGE = (1, 86400)


class _RedactSecrets(logging.Filter):
    """Keeps secrets out of the SDK's own log lines.

    vonage-http-client logs its shared header dict at DEBUG before each request, and by then that dict still holds
    the previous request's `Authorization: Bearer <JWT>` (valid for 15 minutes) or `Basic <api key:secret>` (the
    Numbers API); it also logs every error response body at WARNING. The credentials are masked, and the body left
    out: our TelephonyError carries what matters.
    """

    _authorization = re.compile(r"(Bearer|Basic)\s+[^'\"\s,}]+")
    _body = re.compile(r"content: .*; from url", re.DOTALL)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._body.sub("content: [omitted]; from url", self._authorization.sub(r"\1 [redacted]", message))
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_redact_secrets = _RedactSecrets()


class VonageBackend(TelephonyBackend):
    """Options: API_HOST (host[:port], always https; empty for api.nexmo.com), REST_HOST (the same for the Numbers
    API; empty for rest.nexmo.com), TIMEOUT (seconds, default 5)."""

    provider = "vonage"

    def __init__(self, *, provider: str, options: Mapping[str, Any]) -> None:
        super().__init__(provider=provider, options=options)
        self.timeout = float(self.options.get("TIMEOUT") or DEFAULT_TIMEOUT)
        self.api_host = str(self.options.get("API_HOST") or "")
        self.rest_host = str(self.options.get("REST_HOST") or "")
        # The SDK takes whole seconds only (0.5 fails its validation): round up, never down to 0.
        self.request_timeout = max(1, math.ceil(self.timeout))
        self._clients: ClientCache[Vonage] = ClientCache()
        # Apart from the Voice clients: the SDK keeps one Authorization header per client, and a JWT request and a
        # Basic one sharing it from two threads could each go out with the other's.
        self._numbers_clients: ClientCache[Vonage] = ClientCache()

    def dial(self, account: ProviderAccount, request: DialRequest) -> DialResult:
        client = self._client(account)
        call_request = self._create_call_request(request)
        try:
            response = client.voice.create_call(call_request)
        except Exception as exc:
            raise self._error(exc, "dial") from exc
        return DialResult(call_sid=response.uuid, status="queued")

    def hangup(self, account: ProviderAccount, call_sid: str) -> None:
        client = self._client(account)
        try:
            # vonage-voice 1.5 has no update_call: hangup() sends PUT /v1/calls/{uuid} {"action": "hangup"}.
            client.voice.hangup(call_sid)
        except Exception as exc:
            raise self._error(exc, "hangup") from exc

    def owned_numbers(self, account: ProviderAccount, *, number: str | None = None) -> list[OwnedNumber]:
        from vonage_numbers import ListOwnedNumbersFilter

        client = self._numbers_client(account)
        # Vonage writes numbers without the +; pattern with search_pattern 0 means "starts with".
        search = {"pattern": number.lstrip("+"), "search_pattern": 0} if number else {}
        owned: list[OwnedNumber] = []
        index: int | None = 1
        try:
            while index is not None and len(owned) < MAX_OWNED_NUMBERS:
                page, _, index = client.numbers.list_owned_numbers(
                    ListOwnedNumbersFilter(**search, size=NUMBERS_PAGE_SIZE, index=index)
                )
                owned += [
                    OwnedNumber(number=f"+{item.msisdn}", provider_id=item.msisdn) for item in page if item.msisdn
                ]
        except Exception as exc:
            raise self._error(exc, "phone number listing") from exc
        owned = owned[:MAX_OWNED_NUMBERS]
        return [item for item in owned if item.number == number] if number else owned

    # --- webhooks ---

    def verify_webhook(self, account: ProviderAccount, request: WebhookRequest) -> bool:
        """A Bearer JWT (HS256, the account's signature secret), fresh, whose payload_hash is the body's SHA-256.

        The SDK's verify_signature checks the signature only: a captured token would otherwise vouch for any body,
        forever. The JWT does not cover the URL.
        """
        import jwt

        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        secret = str(account.credentials.get("signature_secret") or "").strip()
        if scheme.lower() != "bearer" or not token.strip() or not secret:
            return False
        try:
            claims = jwt.decode(
                token.strip(),
                secret,
                algorithms=["HS256"],
                # iat is required, and checked below in both directions (PyJWT only refuses one from the future).
                options={"require": ["iat"], "verify_iat": False},
            )
        except jwt.InvalidTokenError:
            return False
        issued_at = claims.get("iat")
        if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
            return False
        if abs(time.time() - issued_at) > settings.WEBHOOK_MAX_AGE:
            return False
        payload_hash = claims.get("payload_hash")
        if payload_hash is None and not request.body:
            return True  # a GET: nothing to hash, and nothing of the request is read but its URL's token
        expected = hashlib.sha256(request.body).hexdigest()
        return isinstance(payload_hash, str) and hmac.compare_digest(payload_hash.lower(), expected)

    def signed_for(self, request: WebhookRequest, *, kind: WebhookKind, call_token: str, call_sid: str | None) -> bool:
        """On the answer URL, only an answer request for this call's leg: a JSON body that is not an event (every
        event carries a timestamp, call status events a status; an answer request neither) and whose uuid is the
        call's, once known.

        The JWT covers neither the URL nor a purpose (its claims are iat, jti, iss, payload_hash, api_key and
        application_id), so the body is all that tells an answer request from an event, and one call from another.
        Events are not held to the call's uuid here: the lifecycle keeps one that names another leg without
        applying it.
        """
        if kind != "answer":
            return True
        try:
            body = json_object(request.body)
        except ValueError:
            return False  # we ask for POST: a real answer request always has a body
        if "status" in body or "timestamp" in body:
            return False
        uuid = body.get("uuid")
        return isinstance(uuid, str) and bool(uuid) and (call_sid is None or uuid == call_sid)

    def parse_event(self, request: WebhookRequest) -> ProviderEvent | None:
        """Every event is kept; those without a call status (input, transfer, record, AMD's human/machine, ...)
        are kept with status None."""
        data = json_object(request.body)
        vonage_status, uuid, timestamp = data.get("status"), data.get("uuid"), data.get("timestamp")
        if vonage_status is not None and not isinstance(vonage_status, str):
            raise ValueError("status is not a string")
        if vonage_status and not (isinstance(uuid, str) and uuid):
            raise ValueError("a call status event without the call's uuid")
        if vonage_status:
            event_type = vonage_status
            key = f"{uuid}:{vonage_status}:{timestamp or ''}"
        else:
            # No status to key on: the event's own bytes identify a redelivery.
            event_type = str(data.get("type") or "event")
            key = f"{event_type}:{hashlib.sha256(request.body).hexdigest()[:32]}"
        return ProviderEvent(
            event_type=event_type,
            key=key,
            status=EVENT_STATUS.get(event_type) if vonage_status else None,
            call_sid=uuid if isinstance(uuid, str) and uuid else None,
            end_reason=event_type if vonage_status in ENDED else "",
            duration=_whole_seconds(data.get("duration")),
            payload=data,
        )

    def answer(self, instructions: AnswerInstructions) -> WebhookResponse:
        from vonage_voice.models.connect_endpoints import WebsocketEndpoint
        from vonage_voice.models.ncco import Connect, NccoAction, Talk

        actions: list[NccoAction]
        if instructions.stream_url:
            endpoint = WebsocketEndpoint(
                uri=instructions.stream_url,
                # The model's field is contentType (serialized as "content-type"): content_type= is silently
                # dropped, and Vonage would then stream at its default rate.
                contentType=STREAM_CONTENT_TYPE,
                # Vonage sends these to the voice engine in the WebSocket's first (JSON) message.
                headers=dict(instructions.parameters),
            )
            actions = [Connect(endpoint=[endpoint], from_=instructions.from_number.lstrip("+"))]
        else:
            # The call ends after the NCCO's last action: speaking is all it does.
            actions = [Talk(text=instructions.say[:TALK_MAX_LENGTH])]
        ncco = [action.model_dump(mode="json", by_alias=True, exclude_none=True) for action in actions]
        return WebhookResponse(content=json.dumps(ncco).encode(), content_type="application/json")

    def answer_hangup(self) -> WebhookResponse:
        # An NCCO has no hangup action: the call ends after its last action, and an empty NCCO has none.
        return WebhookResponse(content=b"[]", content_type="application/json")

    def _create_call_request(self, request: DialRequest) -> Any:
        from vonage_voice import CreateCallRequest

        params: dict[str, Any] = {
            # Vonage wants E.164 digits without the "+".
            "to": [{"type": "phone", "number": request.to_number.lstrip("+")}],
            "from_": {"type": "phone", "number": request.from_number.lstrip("+")},
            "answer_url": [request.answer_url],
            # POST, not Vonage's default GET: with GET, Vonage appends the caller's and callee's numbers to the
            # answer URL's query string, and from there into every access log.
            "answer_method": "POST",
            "event_url": [request.status_url],
            "event_method": "POST",
            # Clamped, because the SDK refuses out-of-range values locally, before Vonage could apply its own limits.
            "ringing_timer": _clamp(request.ring_timeout, RINGING_TIMER_RANGE),
        }
        if request.time_limit is not None:
            params["length_timer"] = _clamp(request.time_limit, LENGTH_TIMER_RANGE)
        try:
            return CreateCallRequest(**params)
        except Exception as exc:
            raise TelephonyError(
                f"Vonage would refuse this call request ({type(exc).__name__}).",
                provider=self.alias,
                kind=TelephonyError.REJECTED,
            ) from exc

    def _client(self, account: ProviderAccount) -> Vonage:
        credentials = _credentials(self.alias, account)
        logging.getLogger("vonage").addFilter(_redact_secrets)  # a no-op when already there
        return self._clients.get(account.id, credentials, lambda: self._build_client(credentials))

    def _build_client(self, credentials: Mapping[str, str]) -> Vonage:
        from vonage import Auth, HttpClientOptions, Vonage

        options: dict[str, Any] = {
            "timeout": self.request_timeout,
            # max_retries=0 stops urllib3 retries; pool_maxsize=1 stops the SDK's own loop, which re-sends a
            # request up to pool_maxsize times when the connection drops after sending (a call each time).
            "max_retries": 0,
            "pool_maxsize": 1,
        }
        if self.api_host:
            options["api_host"] = self.api_host
        try:
            auth = Auth(application_id=credentials["application_id"], private_key=credentials["private_key"])
            # A JWT now, so a key that does not load fails here as a refusal, not inside a request later.
            auth.generate_application_jwt()
            return Vonage(auth, HttpClientOptions(**options))
        except Exception as exc:
            # Nothing was sent: credentials or options the SDK cannot use are a configuration problem.
            raise TelephonyError(
                f"Could not set up the Vonage client ({type(exc).__name__}); check the application's credentials.",
                provider=self.alias,
                kind=TelephonyError.REJECTED,
            ) from exc

    def _numbers_client(self, account: ProviderAccount) -> Vonage:
        # Optional credentials (calls need none of them): refused here by name, before any SDK sees them.
        credentials = {key: str(account.credentials.get(key) or "").strip() for key in NUMBERS_CREDENTIAL_KEYS}
        missing = [key for key, value in credentials.items() if not value]
        if missing:
            raise TelephonyError(
                f"The Vonage account needs its api_key and api_secret to confirm which numbers it holds "
                f"(missing: {', '.join(missing)}).",
                provider=self.alias,
                kind=TelephonyError.REJECTED,
            )
        logging.getLogger("vonage").addFilter(_redact_secrets)
        return self._numbers_clients.get(account.id, credentials, lambda: self._build_numbers_client(credentials))

    def _build_numbers_client(self, credentials: Mapping[str, str]) -> Vonage:
        from vonage import Auth, HttpClientOptions, Vonage

        options: dict[str, Any] = {"timeout": self.request_timeout, "max_retries": 0, "pool_maxsize": 1}
        if self.rest_host:
            options["rest_host"] = self.rest_host
        try:
            return Vonage(
                Auth(api_key=credentials["api_key"], api_secret=credentials["api_secret"]), HttpClientOptions(**options)
            )
        except Exception as exc:
            raise TelephonyError(
                f"Could not set up the Vonage client ({type(exc).__name__}); check the api_key and api_secret.",
                provider=self.alias,
                kind=TelephonyError.REJECTED,
            ) from exc

    def _error(self, exc: Exception, action: str) -> TelephonyError:
        import requests
        from vonage_http_client import HttpRequestError

        if isinstance(exc, HttpRequestError):
            status = int(exc.response.status_code)
            code, message = _error_details(exc.response, status)
            return provider_refusal(
                self.alias,
                message=message,
                code=code,
                http_status=status,
                retry_after=exc.response.headers.get("Retry-After"),
            )
        if isinstance(exc, requests.Timeout):
            return provider_unreachable(self.alias, label="Vonage", action=action, timeout=self.request_timeout)
        if isinstance(exc, requests.ConnectionError):
            return provider_unreachable(self.alias, label="Vonage", action=action)
        # Includes a 2xx without the expected fields (no uuid): the call may exist, so its outcome is unknown.
        return provider_unexpected(self.alias, label="Vonage", action=action, exc=exc)


def _error_details(response: Any, status: int) -> tuple[str | None, str]:
    """Vonage errors: {"type": ".../api-errors#<code>", "title": "...", "detail": "..."} (older: error_title)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = (response.text or "").strip()
        return None, f"HTTP {status}: {text[:200]}" if text else f"HTTP {status}"
    title = body.get("title") or body.get("error_title")
    detail = body.get("detail")
    error_type = body.get("type")
    code: object
    if isinstance(error_type, str) and "#" in error_type:
        code = error_type.rsplit("#", 1)[1]
        message = f"{title}: {detail}" if title and detail else str(title or detail or f"HTTP {status}")
    else:
        # No type to name the error: the title becomes the code, and is not repeated in the message.
        code = title
        message = str(detail or title or f"HTTP {status}")
    return (str(code) if code else None), message


def _clamp(value: int, bounds: tuple[int, int]) -> int:
    return min(max(value, bounds[0]), bounds[1])


def _credentials(alias: str, account: ProviderAccount) -> dict[str, str]:
    credentials = required_credentials(alias, account, CREDENTIAL_KEYS, label="Vonage")
    key = credentials["private_key"]
    # The SDK reads a private_key that looks like a file name ("x.pem") from disk: only an inline PEM is taken,
    # so no tenant's credentials can make the server open one of its own files.
    if not (key.startswith("-----BEGIN PRIVATE KEY-----") and key.endswith("-----END PRIVATE KEY-----")):
        raise TelephonyError(
            "The Vonage private_key must be the application's PKCS8 PEM key (-----BEGIN PRIVATE KEY-----).",
            provider=alias,
            kind=TelephonyError.REJECTED,
        )
    return credentials


def _whole_seconds(value: object) -> int | None:
    """Vonage sends durations as strings ("17"), sometimes as numbers."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None
