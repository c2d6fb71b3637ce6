"""The one small interface every provider backend implements."""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar

T = TypeVar("T")
# Which of a call's two webhook URLs a request came to.
WebhookKind = Literal["answer", "status"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProviderAccount:
    """What a backend knows of an organization's provider account: its id (to cache a client) and credentials."""

    id: int
    provider: str
    credentials: Mapping[str, str] = field(repr=False)


@dataclass(frozen=True)
class DialRequest:
    call_id: int
    # Opaque, unguessable per-call token: it goes in callback URLs so webhooks find their call without
    # putting phone numbers or ids in any URL.
    token: str = field(repr=False)
    from_number: str
    to_number: str
    answer_url: str
    status_url: str
    ring_timeout: int = 30
    time_limit: int | None = None
    stream_url: str | None = None


@dataclass(frozen=True)
class DialResult:
    call_sid: str
    status: str = "queued"


@dataclass(frozen=True)
class OwnedNumber:
    """A number the provider says the account holds."""

    number: str  # E.164
    provider_id: str = ""  # the provider's own id for it (Twilio's PN... sid, Telnyx's id), when it has one
    friendly_name: str = ""


# A listing stops here: enough for any account Burki serves, and a bound on the requests one listing makes.
MAX_OWNED_NUMBERS = 1000


class TelephonyError(Exception):
    """Every provider failure, whatever the SDK raised.

    `kind` says what the caller can do: REJECTED (the provider said no; retrying the same request will not help),
    RATE_LIMITED (retry after `retry_after` seconds), UNAVAILABLE (timeout or connection error: the provider
    may or may not have acted on the request).
    """

    REJECTED = "rejected"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        kind: str = REJECTED,
        code: str | None = None,
        http_status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.kind = kind
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind != self.REJECTED

    def __str__(self) -> str:
        return f"{self.provider} error {self.code}: {self.message}" if self.code else self.message


class TelephonyBackend:
    provider: ClassVar[str] = ""

    def __init__(self, *, provider: str, options: Mapping[str, Any]) -> None:
        self.alias = provider
        self.options = dict(options)

    def dial(self, account: ProviderAccount, request: DialRequest) -> DialResult:
        """Ask the provider to place the call. Sends the create request at most once."""
        raise NotImplementedError

    def hangup(self, account: ProviderAccount, call_sid: str) -> None:
        """End a live call."""
        raise NotImplementedError

    def owned_numbers(self, account: ProviderAccount, *, number: str | None = None) -> list[OwnedNumber]:
        """The numbers the account holds at the provider (at most MAX_OWNED_NUMBERS), or only `number` (E.164) when
        given: an empty list then means the account does not hold it. Pages are followed here."""
        raise NotImplementedError

    def verify_webhook(self, account: ProviderAccount, request: WebhookRequest) -> bool:
        """Whether the request was signed by this account at the provider (and is fresh)."""
        raise NotImplementedError

    def signed_for(self, request: WebhookRequest, *, kind: WebhookKind, call_token: str, call_sid: str | None) -> bool:
        """Whether a verified request was signed for this URL: this `kind` of webhook, of this call (its URL token
        `call_token`, and its provider id `call_sid` once known).

        A signature over the URL (Twilio, the sandbox) settles that already, so by default nothing more is checked.
        Telnyx and Vonage sign the body only: a request they signed for one webhook verifies on every webhook URL of
        calls of the same account, and their backends check here what the signed body itself names.
        """
        return True

    def parse_event(self, request: WebhookRequest) -> ProviderEvent | None:
        """The status event in a verified request; None for events that say nothing about the call.

        Raises ValueError for a payload that cannot be understood.
        """
        raise NotImplementedError

    def answer(self, instructions: AnswerInstructions) -> WebhookResponse:
        """The provider's answer document (TwiML, NCCO, ...) for a verified answer request."""
        raise NotImplementedError

    def answer_hangup(self) -> WebhookResponse:
        """The answer document for a call that is already over: end it at once, connecting and saying nothing."""
        raise NotImplementedError

    def on_event(self, account: ProviderAccount, event: ProviderEvent, *, say: str | None) -> None:
        """Commands a provider needs from us after an event; by default none.

        `say` is what to speak when the call has no media stream (None when it streams to the voice engine).
        """

    def acknowledge(self) -> WebhookResponse:
        """What a status webhook answers once the event is recorded."""
        return WebhookResponse(content=b"", status=204)


# --- webhooks ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookRequest:
    """A provider's request to one of our webhooks, as it arrived."""

    method: str
    url: str  # the full URL the provider called: signatures cover it
    headers: Mapping[str, str]  # keys lower-cased
    body: bytes
    params: Mapping[str, str]  # form fields of a POST, or the query of a GET


@dataclass(frozen=True)
class ProviderEvent:
    """A provider's status event, mapped onto our normalized lifecycle."""

    event_type: str  # the provider's own name for it
    key: str  # identifies a redelivery of the same event, to ignore duplicates
    status: str | None  # normalized (telephony.status.CallStatus), or None when it says nothing about status
    call_sid: str | None = None
    end_reason: str = ""
    duration: int | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnswerInstructions:
    """What the call should do once answered: stream to the voice engine, or (locally) just speak and hang up."""

    stream_url: str | None
    parameters: Mapping[str, str]
    say: str
    from_number: str
    to_number: str


@dataclass(frozen=True)
class WebhookResponse:
    content: bytes
    content_type: str = "text/plain"
    status: int = 200


# --- helpers the provider backends share -----------------------------------------------------------------------


def required_credentials(alias: str, account: ProviderAccount, keys: Iterable[str], *, label: str) -> dict[str, str]:
    """The account's credentials named by `keys`, stripped; TelephonyError (REJECTED) naming any that is blank.

    Refused here, before any SDK sees them: with an empty credential the SDKs fall back to process-wide environment
    variables (TWILIO_AUTH_TOKEN, TELNYX_API_KEY, ...), and one organization's call would go out on another account.
    `label` names the provider in the message ("Twilio").
    """
    keys = tuple(keys)
    missing = [key for key in keys if not str(account.credentials.get(key) or "").strip()]
    if missing:
        raise TelephonyError(
            f"The {label} account is missing credentials: {', '.join(missing)}.",
            provider=alias,
            kind=TelephonyError.REJECTED,
        )
    return {key: str(account.credentials[key]).strip() for key in keys}


def json_object(body: bytes) -> dict[str, Any]:
    """A webhook's JSON object body; ValueError for anything else (parse_event's contract)."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("body is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def credentials_fingerprint(credentials: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(dict(credentials), sort_keys=True).encode()).hexdigest()


def parse_retry_after(value: str | None) -> int:
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


def provider_refusal(
    alias: str, *, message: str, code: str | None, http_status: int, retry_after: str | None
) -> TelephonyError:
    """The provider answered with an error: 429 is RATE_LIMITED (`retry_after`, the header), anything else REJECTED.

    A 5xx counts as a refusal, not as "outcome unknown": every provider reports a call it created with a 2xx, so
    only a request that got no answer at all (timeout, dropped or refused connection) leaves the outcome open.
    """
    if http_status == 429:
        return TelephonyError(
            message,
            provider=alias,
            kind=TelephonyError.RATE_LIMITED,
            code=code,
            http_status=http_status,
            retry_after=parse_retry_after(retry_after),
        )
    return TelephonyError(message, provider=alias, kind=TelephonyError.REJECTED, code=code, http_status=http_status)


def provider_unreachable(alias: str, *, label: str, action: str, timeout: float | None = None) -> TelephonyError:
    """No answer at all (timed out after `timeout` seconds, or no connection): the provider may have acted on it."""
    if timeout is not None:
        message = f"{label} did not answer the {action} request within {timeout:g} s."
    else:
        message = f"Could not reach {label} for the {action} request (connection failed or dropped)."
    return TelephonyError(message, provider=alias, kind=TelephonyError.UNAVAILABLE)


def provider_unexpected(alias: str, *, label: str, action: str, exc: Exception) -> TelephonyError:
    """An SDK failure of no known kind: the request may have been sent, so the outcome is unknown, not refused."""
    logger.warning("%s %s failed unexpectedly: %s", alias, action, type(exc).__name__)
    return TelephonyError(
        f"Unexpected error from the {label} client ({type(exc).__name__}).",
        provider=alias,
        kind=TelephonyError.UNAVAILABLE,
    )


class ClientCache(Generic[T]):
    """One SDK client per account, kept until the account's credentials change; safe to share between threads.

    A client built with an account's new credentials replaces the one built with the old, so a rotated secret does
    not live on in memory.
    """

    def __init__(self) -> None:
        self._clients: dict[int, tuple[str, T]] = {}
        self._lock = threading.Lock()

    def get(self, account_id: int, credentials: Mapping[str, str], build: Callable[[], T]) -> T:
        """The account's client, or the one `build()` returns when there is none yet for these credentials."""
        fingerprint = credentials_fingerprint(credentials)
        with self._lock:
            cached = self._clients.get(account_id)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
            # Built under the lock: threads asking at once for the same account get one client, not one each.
            client = build()
            self._clients[account_id] = (fingerprint, client)
            return client
