"""The one small interface every provider backend implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


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

    def verify_webhook(self, account: ProviderAccount, request: WebhookRequest) -> bool:
        """Whether the request was signed by this account at the provider (and is fresh)."""
        raise NotImplementedError

    def parse_event(self, request: WebhookRequest) -> ProviderEvent | None:
        """The status event in a verified request; None for events that say nothing about the call.

        Raises ValueError for a payload that cannot be understood.
        """
        raise NotImplementedError

    def answer(self, instructions: AnswerInstructions) -> WebhookResponse:
        """The provider's answer document (TwiML, NCCO, ...) for a verified answer request."""
        raise NotImplementedError

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
