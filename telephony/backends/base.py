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
