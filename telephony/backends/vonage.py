"""Vonage Voice API through the official SDK (vonage-python-sdk v4: vonage, vonage-voice, vonage-http-client)."""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from telephony.backends.base import DialRequest, DialResult, ProviderAccount, TelephonyBackend, TelephonyError

if TYPE_CHECKING:
    from vonage import Vonage

logger = logging.getLogger(__name__)

# Only what placing and ending calls needs; signature_secret serves webhook verification elsewhere.
CREDENTIAL_KEYS = ("application_id", "private_key")
DEFAULT_TIMEOUT = 5.0
# Bounds the SDK's request model enforces before sending anything.
RINGING_TIMER_RANGE = (1, 120)
LENGTH_TIMER_RANGE = (1, 86400)


class _RedactSecrets(logging.Filter):
    """Keeps secrets out of the SDK's own log lines.

    vonage-http-client logs its shared header dict at DEBUG before each request, and by then that dict still holds
    the previous request's `Authorization: Bearer <JWT>` (valid for 15 minutes); it also logs every error response
    body at WARNING. The bearer token is masked, and the body left out: our TelephonyError carries what matters.
    """

    _bearer = re.compile(r"Bearer\s+[^'\"\s,}]+")
    _body = re.compile(r"content: .*; from url", re.DOTALL)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._body.sub("content: [omitted]; from url", self._bearer.sub("Bearer [redacted]", message))
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_redact_secrets = _RedactSecrets()


class VonageBackend(TelephonyBackend):
    """Options: API_HOST (host[:port], always https; empty for api.nexmo.com), TIMEOUT (seconds, default 5)."""

    provider = "vonage"

    def __init__(self, *, provider: str, options: Mapping[str, Any]) -> None:
        super().__init__(provider=provider, options=options)
        self.timeout = float(self.options.get("TIMEOUT") or DEFAULT_TIMEOUT)
        self.api_host = str(self.options.get("API_HOST") or "")
        # The SDK takes whole seconds only (0.5 fails its validation): round up, never down to 0.
        self.request_timeout = max(1, math.ceil(self.timeout))
        self._clients: dict[int, tuple[str, Vonage]] = {}
        self._lock = threading.Lock()

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
        fingerprint = _fingerprint(credentials)
        from vonage import Auth, HttpClientOptions, Vonage

        logging.getLogger("vonage").addFilter(_redact_secrets)  # a no-op when already there
        with self._lock:
            cached = self._clients.get(account.id)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
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
                client = Vonage(auth, HttpClientOptions(**options))
            except Exception as exc:
                # Nothing was sent: credentials or options the SDK cannot use are a configuration problem.
                raise TelephonyError(
                    f"Could not set up the Vonage client ({type(exc).__name__}); check the application's credentials.",
                    provider=self.alias,
                    kind=TelephonyError.REJECTED,
                ) from exc
            # Replaces the client built with an account's previous credentials, so rotation leaks nothing.
            self._clients[account.id] = (fingerprint, client)
            return client

    def _error(self, exc: Exception, action: str) -> TelephonyError:
        import requests
        from vonage_http_client import HttpRequestError

        if isinstance(exc, HttpRequestError):
            status = int(exc.response.status_code)
            code, message = _error_details(exc.response, status)
            if status == 429:
                return TelephonyError(
                    message,
                    provider=self.alias,
                    kind=TelephonyError.RATE_LIMITED,
                    code=code,
                    http_status=status,
                    retry_after=_retry_after(exc.response.headers.get("Retry-After")),
                )
            # 4xx and 5xx alike: Vonage answered, and answered no. A 5xx is treated as a refusal rather than as
            # "outcome unknown" because Vonage reports a call it created with a 2xx; only a request that got no
            # answer at all (timeout, dropped or refused connection) leaves the outcome open.
            return TelephonyError(
                message, provider=self.alias, kind=TelephonyError.REJECTED, code=code, http_status=status
            )
        if isinstance(exc, requests.Timeout):
            return TelephonyError(
                f"Vonage did not answer the {action} request within {self.request_timeout} s.",
                provider=self.alias,
                kind=TelephonyError.UNAVAILABLE,
            )
        if isinstance(exc, requests.ConnectionError):
            return TelephonyError(
                f"Could not reach Vonage for the {action} request (connection failed or dropped).",
                provider=self.alias,
                kind=TelephonyError.UNAVAILABLE,
            )
        # Unknown failure (a 2xx without the expected fields included): the request may have been sent, so the
        # outcome is unknown rather than refused.
        logger.warning("vonage %s failed unexpectedly: %s", action, type(exc).__name__)
        return TelephonyError(
            f"Unexpected error from the Vonage client ({type(exc).__name__}).",
            provider=self.alias,
            kind=TelephonyError.UNAVAILABLE,
        )


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
    missing = [key for key in CREDENTIAL_KEYS if not str(account.credentials.get(key) or "").strip()]
    if missing:
        raise TelephonyError(
            f"The Vonage account is missing credentials: {', '.join(missing)}.",
            provider=alias,
            kind=TelephonyError.REJECTED,
        )
    credentials = {key: str(account.credentials[key]).strip() for key in CREDENTIAL_KEYS}
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


def _fingerprint(credentials: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(dict(credentials), sort_keys=True).encode()).hexdigest()


def _retry_after(value: str | None) -> int:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); 1 when absent or unreadable."""
    if not value:
        return 1
    try:
        return max(1, math.ceil(float(value)))
    except (ValueError, OverflowError):  # "nan", "inf", or an HTTP date
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 1
    return max(1, math.ceil(when.timestamp() - time.time()))
