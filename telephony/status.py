from __future__ import annotations

from django.db import models


class CallStatus(models.TextChoices):
    """The one normalized lifecycle every provider's events are mapped onto."""

    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"
    # The provider may or may not have dialled (the create request timed out): its webhooks settle it.
    UNKNOWN = "unknown"


TERMINAL_STATUSES = frozenset(
    {CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.NO_ANSWER, CallStatus.FAILED, CallStatus.CANCELED}
)
LIVE_STATUSES = frozenset(
    {CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING, CallStatus.IN_PROGRESS, CallStatus.UNKNOWN}
)
