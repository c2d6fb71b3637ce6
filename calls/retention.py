"""How long call history is kept: each organization's calls are redacted after `redact_after_days` (if set) and
deleted, with their events, after `call_retention_days` (Organization; defaults in settings).

Work goes in batches of ids, each in its own short transaction: no statement locks more than a batch of rows, and
no transaction spans the table, so the API and the provider webhooks go on while history is trimmed. Every step can
run again (a crash, two runs at once): what is deleted stays deleted, and redacting twice changes nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Concat, Right
from django.utils import timezone

from burki.models import Organization
from burki.pagination import keyset_batches
from calls.models import Call, CallEvent

BATCH_SIZE = 1000


@dataclass(frozen=True)
class RetentionResult:
    deleted_calls: int = 0
    deleted_events: int = 0
    redacted_calls: int = 0

    def __add__(self, other: RetentionResult) -> RetentionResult:
        return RetentionResult(
            deleted_calls=self.deleted_calls + other.deleted_calls,
            deleted_events=self.deleted_events + other.deleted_events,
            redacted_calls=self.redacted_calls + other.redacted_calls,
        )


def calls_apply_retention(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> RetentionResult:
    """Delete, then redact, every organization's calls that are past its settings."""
    now = now or timezone.now()
    result = RetentionResult()
    for organization in Organization.objects.order_by("pk").iterator():
        result += calls_delete_expired(organization=organization, now=now, batch_size=batch_size)
        result += calls_redact_expired(organization=organization, now=now, batch_size=batch_size)
    return result


def calls_delete_expired(*, organization: Organization, now: datetime, batch_size: int = BATCH_SIZE) -> RetentionResult:
    cutoff = now - timedelta(days=organization.effective_call_retention_days)
    expired = Call.objects.filter(organization=organization, created_at__lt=cutoff).order_by("created_at", "id")
    calls = events = 0
    while ids := list(expired.values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            # Django's delete takes the calls' events along (one DELETE ... WHERE call_id IN the batch), and
            # anything else that may come to point at a call.
            _, deleted = Call.objects.filter(pk__in=ids).delete()
        calls += deleted.get(Call._meta.label, 0)
        events += deleted.get(CallEvent._meta.label, 0)
    return RetentionResult(deleted_calls=calls, deleted_events=events)


def calls_redact_expired(*, organization: Organization, now: datetime, batch_size: int = BATCH_SIZE) -> RetentionResult:
    """Mask the phone numbers (…0199, as in the logs) and clear the texts of calls past `redact_after_days`, and
    the provider payloads of their events. Starts where the last run stopped (calls_redacted_before)."""
    days = organization.effective_redact_after_days
    if days is None:
        return RetentionResult()
    cutoff = now - timedelta(days=days)
    since = organization.calls_redacted_before
    if since is not None and since >= cutoff:
        return RetentionResult()
    due = Call.objects.filter(organization=organization, created_at__lt=cutoff)
    if since is not None:
        due = due.filter(created_at__gte=since)
    redacted = 0
    for batch in keyset_batches(due.only("pk", "created_at").order_by("created_at", "id"), size=batch_size):
        ids = [call.pk for call in batch]
        with transaction.atomic():
            redacted += Call.objects.filter(pk__in=ids).update(
                to_number=Concat(Value("…"), Right("to_number", 4)),
                from_number=Concat(Value("…"), Right("from_number", 4)),
                welcome_message="",
                agenda="",
                voicemail_message="",
                recording_url="",
                error_message="",
                variables={},
                metadata={},
                updated_at=now,
            )
            CallEvent.objects.filter(call_id__in=ids).update(payload={})
    # Only forward: a later, longer redact_after_days does not bring back what is gone.
    Organization.objects.filter(pk=organization.pk).update(calls_redacted_before=cutoff)
    organization.calls_redacted_before = cutoff
    return RetentionResult(redacted_calls=redacted)
