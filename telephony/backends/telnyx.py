"""Telnyx Call Control through the official SDK (telnyx-python)."""

from __future__ import annotations

import base64
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
    from telnyx import Telnyx

logger = logging.getLogger(__name__)

# Only what placing and ending calls needs; public_key serves webhook verification elsewhere.
CREDENTIAL_KEYS = ("api_key", "connection_id")
DEFAULT_TIMEOUT = 5.0


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
        self._clients: dict[int, tuple[str, Telnyx]] = {}
        self._lock = threading.Lock()

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

    def _client(self, account: ProviderAccount) -> tuple[Telnyx, dict[str, str]]:
        credentials = _credentials(self.alias, account)
        fingerprint = _fingerprint(credentials)
        # Imported here, not at the top: `import telnyx` costs seconds, and this module is imported at startup.
        from telnyx import Telnyx

        with self._lock:
            cached = self._clients.get(account.id)
            if cached is not None and cached[0] == fingerprint:
                return cached[1], credentials
            try:
                client = Telnyx(
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
            # Replaces the client built with an account's previous credentials, so rotation leaks nothing.
            self._clients[account.id] = (fingerprint, client)
            return client, credentials

    def _error(self, exc: Exception, action: str) -> TelephonyError:
        from telnyx import APIConnectionError, APIStatusError, APITimeoutError

        if isinstance(exc, APIStatusError):
            status = exc.status_code
            code, message = _error_details(exc.body, status)
            if status == 429:
                return TelephonyError(
                    message,
                    provider=self.alias,
                    kind=TelephonyError.RATE_LIMITED,
                    code=code,
                    http_status=status,
                    retry_after=_retry_after(exc.response.headers.get("Retry-After")),
                )
            # 4xx and 5xx alike: Telnyx answered, and answered no. A 5xx is treated as a refusal rather than as
            # "outcome unknown" because Telnyx reports a dial it accepted with a 2xx; only a request that got no
            # answer at all (timeout, dropped or refused connection) leaves the outcome open.
            return TelephonyError(
                message, provider=self.alias, kind=TelephonyError.REJECTED, code=code, http_status=status
            )
        if isinstance(exc, APITimeoutError):
            return TelephonyError(
                f"Telnyx did not answer the {action} request within {self.timeout:g} s.",
                provider=self.alias,
                kind=TelephonyError.UNAVAILABLE,
            )
        if isinstance(exc, APIConnectionError):
            return TelephonyError(
                f"Could not reach Telnyx for the {action} request (connection failed or dropped).",
                provider=self.alias,
                kind=TelephonyError.UNAVAILABLE,
            )
        # Unknown failure: the request may have been sent, so the outcome is unknown rather than refused.
        logger.warning("telnyx %s failed unexpectedly: %s", action, type(exc).__name__)
        return TelephonyError(
            f"Unexpected error from the Telnyx client ({type(exc).__name__}).",
            provider=self.alias,
            kind=TelephonyError.UNAVAILABLE,
        )


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


def _credentials(alias: str, account: ProviderAccount) -> dict[str, str]:
    missing = [key for key in CREDENTIAL_KEYS if not str(account.credentials.get(key) or "").strip()]
    if missing:
        # Refused here: with an empty api_key the SDK would fall back to the process's TELNYX_API_KEY.
        raise TelephonyError(
            f"The Telnyx account is missing credentials: {', '.join(missing)}.",
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
