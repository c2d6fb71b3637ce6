"""One normalized lifecycle for every provider: status only moves forward and always reaches an end."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from burki.models import Organization
from calls.events import CALL_MACHINE_DETECTION_COMPLETED, CALL_RECORDING_READY, call_event_emit, call_status_event_emit
from calls.models import Call, CallEvent
from telephony.backends.base import ProviderEvent
from telephony.detection import (
    DECISIVE,
    END_REASON_FAX,
    END_REASON_VOICEMAIL,
    END_REASON_VOICEMAIL_MESSAGE_LEFT,
    ENDS_ON_MACHINE,
    AnsweredBy,
    MachineDetection,
)
from telephony.status import LIVE_STATUSES, TERMINAL_STATUSES, CallStatus

logger = logging.getLogger(__name__)

# queued and unknown share the bottom rung: any provider event about an `unknown` call moves it on.
_RANK = {
    CallStatus.QUEUED: 0,
    CallStatus.UNKNOWN: 0,
    CallStatus.INITIATED: 1,
    CallStatus.RINGING: 2,
    CallStatus.IN_PROGRESS: 3,
}
# A call still `queued` this long after it was recorded never reached the provider (the dial takes seconds).
QUEUED_STALE_AFTER = timedelta(minutes=5)
CALL_SID_MAX_LENGTH = Call._meta.get_field("call_sid").max_length or 0
# The end reason of a call hung up through the API (calls.services.call_terminate).
END_REASON_TERMINATED = "terminated"
END_REASON_CANCELED = "canceled"
# Ended through Burki's API (terminate, cancel): what the call ended as, whatever a machine detection found.
API_END_REASONS = frozenset({END_REASON_TERMINATED, END_REASON_CANCELED})
# A carrier's recording URL longer than this is not taken (presigned URLs run to a couple of thousand characters).
RECORDING_URL_MAX_LENGTH = 4096


@dataclass(frozen=True)
class EventRecorded:
    """An event seen for the first time, and the call fields it changed."""

    event: CallEvent
    changed: frozenset[str]


def status_moves_forward(current: str, new: str) -> bool:
    if current in TERMINAL_STATUSES:
        return False
    if new in TERMINAL_STATUSES:
        return True
    return _RANK.get(CallStatus(new), -1) > _RANK.get(CallStatus(current), -1)


def call_event_record(*, call: Call, event: ProviderEvent) -> EventRecorded | None:
    """Keep the event and apply it to the call; None (and no change at all) for a duplicate.

    The customer events its changes cause are emitted in the same transaction: answering-machine detection's outcome,
    the call's new status (call.ended carries answered_by and an end_reason that says a machine ended it), and a
    recording ready.
    """
    with transaction.atomic():
        # The row lock serializes concurrent events for one call, so the duplicate check below cannot race.
        locked = Call.objects.select_for_update().get(pk=call.pk)
        recorded = _event_insert(locked, event)
        if recorded is None:
            return None
        changed = _apply(locked, event, now=recorded.received_at)
        if "call_sid" in changed:
            if not _save_claiming_call_sid(locked, changed, event):
                changed = []
        elif changed:
            locked.save(update_fields=[*changed, "updated_at"])
        if "answered_by" in changed:
            call_event_emit(call=locked, type=CALL_MACHINE_DETECTION_COMPLETED)
        if "status" in changed:
            call_status_event_emit(call=locked)
        if "recording_url" in changed:
            call_event_emit(call=locked, type=CALL_RECORDING_READY)
    # What refresh_from_db() would read back, without the query: the row as this transaction, which held its lock,
    # left it. (Setting a foreign key's id drops a cached related object that no longer matches, as a refresh does.)
    for field in Call._meta.concrete_fields:
        setattr(call, field.attname, getattr(locked, field.attname))
    return EventRecorded(event=recorded, changed=frozenset(changed))


def _event_insert(call: Call, event: ProviderEvent) -> CallEvent | None:
    """Insert the event, or nothing and None when the call already has an event with its key (a redelivery).

    One statement: INSERT ... ON CONFLICT DO NOTHING RETURNING lets the unique (call, key) constraint decide, where a
    SELECT before the INSERT would cost a query per event (and a failed INSERT would make PostgreSQL log the
    statement, payload and all). Databases without it (neither PostgreSQL nor SQLite 3.35+) check first.
    """
    recorded = CallEvent(
        call=call,
        provider=call.provider,
        event_type=event.event_type[:64],
        status=event.status or "",
        key=event.key[:255],
        payload=dict(event.payload),
    )
    if connection.vendor not in ("postgresql", "sqlite") or not connection.features.can_return_columns_from_insert:
        if CallEvent.objects.filter(call=call, key=recorded.key).exists():
            return None
        recorded.save(force_insert=True)
        return recorded
    meta = CallEvent._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    # pre_save(add=True) fills received_at (auto_now_add) on the instance, as Model.save() would.
    values = [field.get_db_prep_save(field.pre_save(recorded, True), connection) for field in fields]
    quote = connection.ops.quote_name
    # Only quoted names from the model's own metadata go into the text; every value is a parameter.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({quote(meta.get_field('call').column)}, {quote(meta.get_field('key').column)}) DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return None
    recorded.pk = row[0]
    recorded._state.adding = False
    recorded._state.db = connection.alias
    return recorded


def _apply(call: Call, event: ProviderEvent, *, now: datetime) -> list[str]:
    changed: list[str] = []
    if event.call_sid and call.call_sid and event.call_sid != call.call_sid:
        # Telnyx and Vonage sign the body, not the URL: an event about another call (or another leg, such as
        # the media stream's) posted to this call's URL is kept for the record but must not move this call.
        logger.warning("call %s: event %s names another provider call id; not applied", call.pk, event.event_type)
        return changed
    if event.call_sid and not call.call_sid:
        if len(event.call_sid) > CALL_SID_MAX_LENGTH or _call_sid_taken(call, event.call_sid):
            # Not an id this call can hold: another call's (unique per provider), so the event is not about this
            # one, or longer than any provider's. Kept for the record, but it neither claims the id nor moves the call.
            logger.warning(
                "call %s: event %s names a provider call id held by another call, or malformed; not applied",
                call.pk,
                event.event_type,
            )
            return changed
        # The dial timed out, but the provider did place the call: now we know its id.
        call.call_sid = event.call_sid
        changed.append("call_sid")
    if not call.is_over:
        # Detection after the end (a late or out-of-order event) changes nothing, like any late event.
        changed += _apply_detection(call, event, now=now)
    changed += _apply_status(call, event, now=now)
    # Recordings are ready after the call has ended.
    changed += _apply_recording(call, event)
    return changed


def _apply_detection(call: Call, event: ProviderEvent, *, now: datetime) -> list[str]:
    """Answering-machine detection's outcome: the first human, machine or fax sticks (an unknown may be refined);
    a greeting that ended says a machine answered, and in leave_message mode that the message is to be left now."""
    changed: list[str] = []
    answered_by = event.answered_by or (AnsweredBy.MACHINE if event.greeting_ended else "")
    if answered_by and call.answered_by not in DECISIVE and answered_by != call.answered_by:
        call.answered_by = answered_by
        changed.append("answered_by")
    if (
        event.greeting_ended
        and call.machine_detection == MachineDetection.LEAVE_MESSAGE
        and call.answered_by == AnsweredBy.MACHINE
        and call.voicemail_left_at is None
    ):
        call.voicemail_left_at = now
        changed.append("voicemail_left_at")
    return changed


def _apply_recording(call: Call, event: ProviderEvent) -> list[str]:
    recording = event.recording
    if recording is None or recording.url == call.recording_url:
        return []
    if not recording.url.startswith("https://") or len(recording.url) > RECORDING_URL_MAX_LENGTH:
        logger.warning("call %s: event %s carries a recording URL that is not taken", call.pk, event.event_type)
        return []
    call.recording_url = recording.url
    call.recording_duration = recording.duration
    return ["recording_url", "recording_duration"]


def _apply_status(call: Call, event: ProviderEvent, *, now: datetime) -> list[str]:
    changed: list[str] = []
    if event.status is None or not status_moves_forward(call.status, event.status):
        return changed

    call.status = event.status
    changed.append("status")
    if call.started_at is None:
        call.started_at = now
        changed.append("started_at")
    if event.status == CallStatus.IN_PROGRESS and call.answered_at is None:
        call.answered_at = now
        changed.append("answered_at")
    if event.status in TERMINAL_STATUSES:
        call.ended_at = now
        call.end_reason = _end_reason(call, event)
        if event.duration is not None:
            call.duration = max(event.duration, 0)
        else:
            call.duration = int((now - call.answered_at).total_seconds()) if call.answered_at else 0
        changed += ["ended_at", "end_reason", "duration"]
    return changed


def _end_reason(call: Call, event: ProviderEvent) -> str:
    """The provider's reason, unless Burki ended the call because a machine (or a fax) answered: the provider then
    reports an ordinary end (completed), and the reason is `voicemail`, `voicemail-message-left` or `fax`."""
    reason = event.end_reason or str(event.status)
    if (
        event.status != CallStatus.COMPLETED
        or reason in API_END_REASONS
        or call.machine_detection not in ENDS_ON_MACHINE
    ):
        return reason
    if call.answered_by == AnsweredBy.MACHINE:
        return END_REASON_VOICEMAIL_MESSAGE_LEFT if call.voicemail_left_at else END_REASON_VOICEMAIL
    if call.answered_by == AnsweredBy.FAX:
        return END_REASON_FAX
    return reason


def _save_claiming_call_sid(call: Call, changed: list[str], event: ProviderEvent) -> bool:
    """Save the call with the provider id it claims; False (and the call as stored) when another call holds it."""
    try:
        # A savepoint: should another call have claimed the id since _call_sid_taken looked, only this update fails.
        with transaction.atomic():
            call.save(update_fields=[*changed, "updated_at"])
    except IntegrityError:
        logger.warning(
            "call %s: event %s names a provider call id another call claimed meanwhile; not applied",
            call.pk,
            event.event_type,
        )
        call.refresh_from_db()
        return False
    return True


def _call_sid_taken(call: Call, call_sid: str) -> bool:
    # Asked before the UPDATE rather than caught after it: a failed statement would abort the transaction (the event
    # with it) and make PostgreSQL log the statement.
    return Call.objects.filter(provider=call.provider, call_sid=call_sid).exclude(pk=call.pk).exists()


def calls_expire_stale(*, now: datetime | None = None, organization: Organization | None = None) -> int:
    """Fail every call that should have ended long ago; safe to run at any frequency.

    `queued` past a few minutes never reached the provider. Any other live call (including `unknown`) is stale
    once its assistant's maximum length, the ring time and a grace period have all passed without an end.
    """
    now = now or timezone.now()
    slack = timedelta(seconds=settings.TELEPHONY_RING_TIMEOUT + settings.STALE_CALL_GRACE)
    queued_cutoff = now - QUEUED_STALE_AFTER
    candidates = Call.objects.filter(
        Q(status=CallStatus.QUEUED, created_at__lt=queued_cutoff)
        | Q(status__in=LIVE_STATUSES - {CallStatus.QUEUED}, created_at__lt=now - slack)
    ).select_related("assistant")
    if organization is not None:
        candidates = candidates.filter(organization=organization)
    expired = 0
    for call in list(candidates):
        if call.status != CallStatus.QUEUED:
            max_length = call.max_duration_seconds or (call.assistant.max_call_length if call.assistant else 4 * 3600)
            if call.created_at + timedelta(seconds=max_length) + slack > now:
                continue
        with transaction.atomic():
            # Still in the status we saw, so an event that ended the call meanwhile wins; a call whose row an event
            # holds right now is left to that event (or to the next run).
            locked = next(
                iter(Call.objects.select_for_update(skip_locked=True).filter(pk=call.pk, status=call.status)[:1]),
                None,
            )
            if locked is None:
                continue
            locked.status = CallStatus.FAILED
            locked.end_reason = "stale"
            locked.ended_at = now
            locked.save(update_fields=["status", "end_reason", "ended_at", "updated_at"])
            call_status_event_emit(call=locked)
        expired += 1
    if expired:
        logger.info("expired %d stale call(s)", expired)
    return expired
