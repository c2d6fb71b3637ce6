"""Twilio Programmable Voice through the official SDK (twilio-python)."""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from telephony.backends.base import DialRequest, DialResult, ProviderAccount, TelephonyBackend, TelephonyError

if TYPE_CHECKING:
    from twilio.rest import Client

logger = logging.getLogger(__name__)

CREDENTIAL_KEYS = ("account_sid", "auth_token")
STATUS_CALLBACK_EVENTS = ["initiated", "ringing", "answered", "completed"]
DEFAULT_TIMEOUT = 5.0


class TwilioBackend(TelephonyBackend):
    """Options: API_BASE_URL (empty for https://api.twilio.com), TIMEOUT (seconds per request, default 5)."""

    provider = "twilio"

    def __init__(self, *, provider: str, options: Mapping[str, Any]) -> None:
        super().__init__(provider=provider, options=options)
        self.timeout = float(self.options.get("TIMEOUT") or DEFAULT_TIMEOUT)
        self.base_url = str(self.options.get("API_BASE_URL") or "").rstrip("/")
        self._clients: dict[int, tuple[str, Client]] = {}
        self._lock = threading.Lock()
        # TwilioRestException carries no response headers; a response hook keeps the last ones per thread so a
        # 429 can still honour Retry-After.
        self._last_response = threading.local()

    def dial(self, account: ProviderAccount, request: DialRequest) -> DialResult:
        client = self._client(account)
        params: dict[str, Any] = {
            "to": request.to_number,
            "from_": request.from_number,
            "url": request.answer_url,
            "method": "POST",
            "status_callback": request.status_url,
            "status_callback_event": STATUS_CALLBACK_EVENTS,
            "status_callback_method": "POST",
            "timeout": request.ring_timeout,
        }
        if request.time_limit is not None:
            params["time_limit"] = request.time_limit
        try:
            call = client.calls.create(**params)
        except Exception as exc:
            raise self._error(exc, "dial") from exc
        if not call.sid:
            # Twilio said yes without an id: the call may be ringing, and only its status callbacks can tell.
            raise TelephonyError(
                "Twilio accepted the call but returned no call sid.",
                provider=self.alias,
                kind=TelephonyError.UNAVAILABLE,
            )
        return DialResult(call_sid=call.sid, status="queued")

    def hangup(self, account: ProviderAccount, call_sid: str) -> None:
        client = self._client(account)
        try:
            client.calls(call_sid).update(status="completed")
        except Exception as exc:
            raise self._error(exc, "hangup") from exc

    def _client(self, account: ProviderAccount) -> Client:
        credentials = _credentials(self.alias, account)
        fingerprint = _fingerprint(credentials)
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        with self._lock:
            cached = self._clients.get(account.id)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
            try:
                http_client = TwilioHttpClient(
                    timeout=self.timeout,
                    # Zero retries: a create request re-sent after a dropped connection is a second call to a person.
                    max_retries=0,
                    request_hooks={"response": [self._remember_response]},
                )
                client = Client(
                    credentials["account_sid"],
                    credentials["auth_token"],
                    http_client=http_client,
                    # An empty mapping is falsy and the SDK would fall back to os.environ, where TWILIO_EDGE or
                    # TWILIO_REGION would rewrite every host (the API_BASE_URL override included).
                    environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""},
                )
                if self.base_url:
                    client.api.base_url = self.base_url
            except Exception as exc:
                # Nothing was sent: a client that cannot be built is a configuration problem, not an outage.
                raise TelephonyError(
                    f"Could not set up the Twilio client ({type(exc).__name__}).",
                    provider=self.alias,
                    kind=TelephonyError.REJECTED,
                ) from exc
            # Replaces the client built with an account's previous credentials, so rotation leaks nothing.
            self._clients[account.id] = (fingerprint, client)
            return client

    def _remember_response(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self._last_response.headers = response.headers
        return response

    def _error(self, exc: Exception, action: str) -> TelephonyError:
        import requests
        from twilio.base.exceptions import TwilioRestException, TwilioServiceException

        headers: Mapping[str, str] = getattr(self._last_response, "headers", None) or {}
        self._last_response.headers = None
        if isinstance(exc, TwilioRestException | TwilioServiceException):
            status = int(exc.status)
            code = str(exc.code) if exc.code is not None else None
            if isinstance(exc, TwilioServiceException):
                message = f"{exc.title}: {exc.detail}" if exc.detail else str(exc.title)
            else:
                message = str(exc.msg)
            if status == 429:
                return TelephonyError(
                    message,
                    provider=self.alias,
                    kind=TelephonyError.RATE_LIMITED,
                    code=code,
                    http_status=status,
                    retry_after=_retry_after(headers.get("Retry-After")),
                )
            # 4xx and 5xx alike: Twilio answered, and answered no. A 5xx is treated as a refusal rather than as
            # "outcome unknown" because Twilio reports a call it created with a 2xx; only a request that got no
            # answer at all (timeout, dropped or refused connection) leaves the outcome open.
            return TelephonyError(
                message, provider=self.alias, kind=TelephonyError.REJECTED, code=code, http_status=status
            )
        if isinstance(exc, requests.Timeout):
            return TelephonyError(
                f"Twilio did not answer the {action} request within {self.timeout:g} s.",
                provider=self.alias,
                kind=TelephonyError.UNAVAILABLE,
            )
        if isinstance(exc, requests.ConnectionError):
            return TelephonyError(
                f"Could not reach Twilio for the {action} request (connection failed or dropped).",
                provider=self.alias,
                kind=TelephonyError.UNAVAILABLE,
            )
        # Unknown failure: the request may have been sent, so the outcome is unknown rather than refused.
        logger.warning("twilio %s failed unexpectedly: %s", action, type(exc).__name__)
        return TelephonyError(
            f"Unexpected error from the Twilio client ({type(exc).__name__}).",
            provider=self.alias,
            kind=TelephonyError.UNAVAILABLE,
        )


def _credentials(alias: str, account: ProviderAccount) -> dict[str, str]:
    missing = [key for key in CREDENTIAL_KEYS if not str(account.credentials.get(key) or "").strip()]
    if missing:
        # Refused here: with an empty credential the SDK would fall back to process-wide environment variables.
        raise TelephonyError(
            f"The Twilio account is missing credentials: {', '.join(missing)}.",
            provider=alias,
            kind=TelephonyError.REJECTED,
        )
    return {key: str(account.credentials[key]).strip() for key in CREDENTIAL_KEYS}


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
