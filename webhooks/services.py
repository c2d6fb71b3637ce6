"""Endpoints, events and their delivery: at least once, in order per subject, never from an open transaction.

The database holds the truth (a transactional outbox): `event_emit` writes the event and its deliveries in the
producer's own transaction, and a task is queued only once that commits. Each delivery row says when its next attempt
is due; the periodic sweep queues again whatever is due and has no live message, so a broker that loses its messages
loses no event.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict, Unpack

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.utils import timezone

from burki.celery import app as celery_app
from burki.errors import Conflict, InvalidInput
from burki.models import Organization
from webhooks import transport
from webhooks.models import MAX_EVENT_TYPES, MAX_URL_LENGTH, Delivery, DeliveryAttempt, Event, WebhookEndpoint
from webhooks.registry import event_type_registered, event_types
from webhooks.signing import secret_generate, signature_headers

logger = logging.getLogger(__name__)

# After the first attempt (at once) fails: wait 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; eight attempts over a day
# and a bit, then the delivery has failed.
RETRY_DELAYS = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# Retries this close are queued with a countdown; later ones are left to the sweep (the Redis broker would deliver a
# countdown longer than its visibility timeout twice, and a broker restart loses them all).
COUNTDOWN_LIMIT = timedelta(seconds=60)
# A queued message that has not run this long after it was due is taken for lost, and queued again.
REQUEUE_AFTER = timedelta(seconds=60)
# The previous secret keeps signing this long after a rotation.
SECRET_OVERLAP = timedelta(hours=24)
MAX_ENDPOINTS = 20
MAX_RESPONSE_BYTES = 4096
KEPT_RESPONSE_CHARS = 1000
SWEEP_BATCH = 500
# Queued by name (webhooks.tasks defines them and imports this module, not the other way round).
DELIVER_TASK = "webhooks.deliver"
SWEEP_TASK = "webhooks.sweep"


def _lease() -> timedelta:
    # Longer than any attempt can take (its timeout, plus DNS and a slow database), so two workers never overlap.
    return timedelta(seconds=settings.WEBHOOK_DELIVERY_TIMEOUT * 2 + 30)


# --- endpoints ------------------------------------------------------------------------------------------------------


class EndpointChanges(TypedDict, total=False):
    url: str
    description: str
    event_types: list[str]
    enabled: bool


def webhook_url_check(url: str) -> str:
    """The URL, trimmed, if an endpoint may have it (scheme, length, no credentials, no literal internal address)."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput("Invalid request.", errors={"url": [f"At most {MAX_URL_LENGTH} characters."]})
    try:
        destination = transport.destination_parse(url, require_https=settings.WEBHOOK_REQUIRE_HTTPS)
    except transport.DestinationRefused as exc:
        raise InvalidInput("Invalid request.", errors={"url": [str(exc)]}) from None
    # Only what needs no DNS lookup is checked now; every attempt checks the addresses the name resolves to then.
    refusal = transport.literal_address_refusal(destination, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS)
    if refusal:
        raise InvalidInput("Invalid request.", errors={"url": [refusal]})
    return url


def _checked_event_types(types: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(types))
    known = event_types()
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise InvalidInput(
            "Invalid request.",
            errors={
                "event_types": [f"Unknown event type: {name}. Known: {', '.join(sorted(known))}." for name in unknown]
            },
        )
    if len(chosen) > MAX_EVENT_TYPES:
        raise InvalidInput("Invalid request.", errors={"event_types": [f"At most {MAX_EVENT_TYPES} types."]})
    return chosen


def webhook_endpoint_create(
    *,
    organization: Organization,
    url: str,
    description: str = "",
    event_types: Iterable[str] = (),
    enabled: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret. The secret is shown to the user once, from this return value."""
    checked_url, checked_types = webhook_url_check(url), _checked_event_types(event_types)
    if WebhookEndpoint.objects.filter(organization=organization).count() >= MAX_ENDPOINTS:
        raise Conflict(f"An organization has at most {MAX_ENDPOINTS} webhook endpoints.")
    secret = secret_generate()
    endpoint = WebhookEndpoint.objects.create(
        organization=organization,
        url=checked_url,
        description=description,
        event_types=checked_types,
        enabled=enabled,
        secrets={"current": secret},
    )
    return endpoint, secret


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **changes: Unpack[EndpointChanges]) -> WebhookEndpoint:
    """Change what the user may change. Enabling clears why Burki disabled it; disabling abandons what waits."""
    fields: list[str] = []
    if "url" in changes:
        endpoint.url = webhook_url_check(changes["url"])
        fields.append("url")
    if "description" in changes:
        endpoint.description = changes["description"]
        fields.append("description")
    if "event_types" in changes:
        endpoint.event_types = _checked_event_types(changes["event_types"])
        fields.append("event_types")
    disabling = False
    if "enabled" in changes and changes["enabled"] != endpoint.enabled:
        endpoint.enabled = changes["enabled"]
        disabling = not endpoint.enabled
        endpoint.disabled_reason = ""
        endpoint.disabled_at = timezone.now() if disabling else None
        endpoint.failing_since = None
        fields += ["enabled", "disabled_reason", "disabled_at", "failing_since"]
    if fields:
        endpoint.save(update_fields=[*fields, "updated_at"])
    if disabling:
        _deliveries_abandon(endpoint_id=endpoint.pk, now=timezone.now())
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Gone with its deliveries and their attempts; the events stay (other endpoints may have received them)."""
    endpoint.delete()


def webhook_endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, now: datetime | None = None
) -> tuple[WebhookEndpoint, str]:
    """A new secret, shown once; the one it replaces keeps signing (beside it) for 24 hours."""
    now = now or timezone.now()
    secret = secret_generate()
    endpoint.secrets = {"current": secret, "previous": endpoint.secrets["current"]}
    endpoint.previous_secret_expires_at = now + SECRET_OVERLAP
    endpoint.save(update_fields=["secrets", "previous_secret_expires_at", "updated_at"])
    return endpoint, secret


def _signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    secrets = [endpoint.secrets["current"]]
    previous = endpoint.secrets.get("previous")
    if previous and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        secrets.append(previous)
    return secrets


def _endpoint_disable(*, endpoint_id: int, reason: str, now: datetime) -> None:
    disabled = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).update(
        enabled=False, disabled_reason=reason[:500], disabled_at=now, updated_at=now
    )
    if disabled:
        logger.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
        _deliveries_abandon(endpoint_id=endpoint_id, now=now)


def _pending_unlocked(endpoint_id: int, **filters: Any) -> list[int]:
    """Locks the endpoint's pending deliveries that nobody holds right now, and returns their ids.

    Skipping held rows rather than waiting for them keeps these bulk updates out of any deadlock; a delivery held at
    that moment is being attempted or recorded, and its next claim sees the endpoint as it is now.
    """
    return list(
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(endpoint_id=endpoint_id, state=Delivery.State.PENDING, **filters)
        .order_by()
        .values_list("pk", flat=True)
    )


def _deliveries_abandon(*, endpoint_id: int, now: datetime) -> None:
    with transaction.atomic():
        Delivery.objects.filter(pk__in=_pending_unlocked(endpoint_id)).update(
            state=Delivery.State.ABANDONED, completed_at=now, next_attempt_at=None, queued_at=None, locked_until=None
        )


# --- events ---------------------------------------------------------------------------------------------------------


def event_emit(
    *,
    organization_id: int,
    type: str,
    subject: str,
    data: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
) -> Event | None:
    """Record an event for every enabled endpoint of the organization that wants its type; None when none does.

    Call it inside the transaction that makes the change the event reports (the outbox): the event exists exactly
    when the change does, and its deliveries are queued once that commits. `sequence` is the subject's last one plus
    one: the caller must hold a lock that serializes the subject's changes (calls hold the call's row lock), and the
    unique (subject, sequence) constraint turns a caller that does not into an error, never into a duplicate.
    `data` may be a function, so that an organization without endpoints never pays for building it: that case costs
    one indexed query.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("event_emit must run inside the transaction that changes what the event is about.")
    if not event_type_registered(type):
        raise ValueError(f"Unregistered event type {type!r}.")
    endpoint_ids = [
        pk
        for pk, wanted in WebhookEndpoint.objects.filter(organization_id=organization_id, enabled=True)
        .order_by()
        .values_list("pk", "event_types")
        if not wanted or type in wanted
    ]
    if not endpoint_ids:
        return None
    payload = dict(data() if callable(data) else data)
    last = Event.objects.filter(subject=subject).aggregate(last=Max("sequence"))["last"] or 0
    event = Event.objects.create(
        organization_id=organization_id, type=type, subject=subject, sequence=last + 1, data=payload
    )
    now = timezone.now()
    deliveries = Delivery.objects.bulk_create(
        Delivery(
            event=event,
            endpoint_id=endpoint_id,
            subject=subject,
            sequence=event.sequence,
            next_attempt_at=now,
            queued_at=now,
        )
        for endpoint_id in endpoint_ids
    )
    _queue_on_commit([delivery.pk for delivery in deliveries])
    return event


def _queue_on_commit(delivery_ids: list[int], *, countdown: float = 0) -> None:
    if delivery_ids:
        transaction.on_commit(lambda: deliveries_queue(delivery_ids, countdown=countdown), robust=True)


def deliveries_queue(delivery_ids: Iterable[int], *, countdown: float = 0) -> None:
    """Put a delivery task on the broker for each id. A failure here loses nothing: the sweep finds them again."""
    for delivery_id in delivery_ids:
        try:
            # No publish retries: a request must not wait on a broker that is down, since the sweep catches up.
            celery_app.signature(DELIVER_TASK, args=(delivery_id,)).apply_async(
                countdown=countdown or None, retry=False
            )
        except Exception:
            logger.warning("could not queue webhook delivery %s; the sweep will", delivery_id, exc_info=True)


# --- deliveries -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    delivery_id: int
    lease: datetime  # the claim's own lease: the result is recorded only if the delivery still holds it
    attempt_count: int  # counting this attempt
    endpoint_id: int
    subject: str
    sequence: int
    failing_since: datetime | None
    url: str
    secrets: list[str]
    message_id: str
    body: bytes


def delivery_attempt(*, delivery_id: int) -> DeliveryAttempt | None:
    """Make the next attempt of a delivery if it is due, not leased, and first in its subject's line; else None.

    Safe to run twice for one delivery, or at once in two workers: the claim is a lease taken under the row's lock,
    and no transaction is open while the request is out.
    """
    claim = _claim(delivery_id)
    if claim is None:
        return None
    timestamp = int(time.time())
    headers = signature_headers(claim.secrets, message_id=claim.message_id, timestamp=timestamp, body=claim.body)
    started_at = timezone.now()
    began = time.monotonic()
    status: int | None = None
    content = b""
    error = ""
    try:
        response = transport.post(
            claim.url,
            body=claim.body,
            headers=headers,
            timeout=settings.WEBHOOK_DELIVERY_TIMEOUT,
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS,
            require_https=settings.WEBHOOK_REQUIRE_HTTPS,
            max_response_bytes=MAX_RESPONSE_BYTES,
        )
        status, content = response.status, response.body
        if 300 <= status < 400:
            error = "Redirects are not followed."
    except transport.DeliveryError as exc:
        error = str(exc)
    latency_ms = int((time.monotonic() - began) * 1000)
    return _record(
        claim,
        DeliveryAttempt(
            delivery_id=claim.delivery_id,
            started_at=started_at,
            status_code=status,
            latency_ms=latency_ms,
            error=error[:500],
            response_body=content.decode("utf-8", errors="replace")[:KEPT_RESPONSE_CHARS],
        ),
    )


def _due(next_attempt_at: datetime | None, locked_until: datetime | None, now: datetime) -> bool:
    # A second of slack: a countdown message may run a moment before the time it was computed for.
    on_time = next_attempt_at is not None and next_attempt_at <= now + timedelta(seconds=1)
    return on_time and (locked_until is None or locked_until <= now)


def _claimable(now: datetime) -> Q:
    return Q(state=Delivery.State.PENDING, next_attempt_at__lte=now + timedelta(seconds=1)) & (
        Q(locked_until__isnull=True) | Q(locked_until__lte=now)
    )


def _claim(delivery_id: int) -> _Claim | None:
    """A lease on the delivery for this attempt, or None when it is not due, leased, or not first in its line.

    In order: an earlier event of the same subject still pending for this endpoint goes first, and queues this one
    once it is over (see _record: it looks for this one after its own commit, so whichever of the two reads last sees
    the other's change). No row is locked but this one, for one statement: two workers never wait on each other.
    """
    now = timezone.now()
    earlier = Delivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        subject=OuterRef("subject"),
        state=Delivery.State.PENDING,
        sequence__lt=OuterRef("sequence"),
    )
    delivery = (
        Delivery.objects.select_related("event", "endpoint")
        .annotate(waits=Exists(earlier))
        .filter(pk=delivery_id, state=Delivery.State.PENDING)
        .first()
    )
    if delivery is None or delivery.waits or not _due(delivery.next_attempt_at, delivery.locked_until, now):
        return None
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        # Disabling abandons what waits; this one was being claimed at that moment.
        Delivery.objects.filter(pk=delivery_id, state=Delivery.State.PENDING).update(
            state=Delivery.State.ABANDONED, completed_at=now, next_attempt_at=None
        )
        return None
    # The lease, unless another worker took it meanwhile (this UPDATE then waits for that one's, and matches nothing).
    lease = now + _lease()
    if not Delivery.objects.filter(_claimable(now), pk=delivery_id).update(
        locked_until=lease, attempt_count=F("attempt_count") + 1
    ):
        return None
    return _Claim(
        delivery_id=delivery.pk,
        lease=lease,
        attempt_count=delivery.attempt_count + 1,
        endpoint_id=endpoint.pk,
        subject=delivery.subject,
        sequence=delivery.sequence,
        failing_since=endpoint.failing_since,
        url=endpoint.url,
        secrets=_signing_secrets(endpoint, now),
        message_id=delivery.event.uid,
        body=json.dumps(delivery.event.envelope(), separators=(",", ":"), ensure_ascii=False).encode(),
    )


def _record(claim: _Claim, attempt: DeliveryAttempt) -> DeliveryAttempt:
    now = timezone.now()
    follow_up: Callable[[], None] | None = None
    state: str = Delivery.State.PENDING
    next_attempt_at: datetime | None = None
    countdown: timedelta | None = None
    if attempt.succeeded:
        state = Delivery.State.SUCCEEDED
    elif attempt.status_code == 410 or claim.attempt_count >= MAX_ATTEMPTS:
        state = Delivery.State.FAILED
    else:
        delay = timedelta(seconds=RETRY_DELAYS[claim.attempt_count - 1])
        next_attempt_at = now + delay
        # A short wait is a countdown message; a long one is left to the sweep (see COUNTDOWN_LIMIT).
        countdown = delay if delay <= COUNTDOWN_LIMIT else None
    over = state != Delivery.State.PENDING
    try:
        with transaction.atomic():
            attempt.save(force_insert=True)
            # Only while the lease is still ours: the delivery may have been abandoned, or taken over after the lease
            # ran out. The attempt is on record either way.
            ours = Delivery.objects.filter(
                pk=claim.delivery_id, state=Delivery.State.PENDING, locked_until=claim.lease
            ).update(
                state=state,
                locked_until=None,
                next_attempt_at=next_attempt_at,
                queued_at=now + countdown if countdown is not None else None,
                completed_at=now if over else None,
            )
            if not ours:
                return attempt
            if countdown is not None:
                _queue_on_commit([claim.delivery_id], countdown=countdown.total_seconds())
            follow_up = _endpoint_follow_up(claim, attempt, now)
    except IntegrityError:  # the endpoint, and so the delivery, was deleted meanwhile
        return attempt
    if over:
        _queue_successor(claim)
    if follow_up is not None:
        # After the commit, in a transaction of its own: it touches many deliveries, and must not hold this one's lock
        # meanwhile.
        with transaction.atomic():
            follow_up()
    return attempt


def _endpoint_follow_up(claim: _Claim, attempt: DeliveryAttempt, now: datetime) -> Callable[[], None] | None:
    """The endpoint's health after this attempt: its failure clock, and what to do after the commit, if anything."""
    endpoint_id = claim.endpoint_id
    if attempt.succeeded:
        if claim.failing_since is not None and WebhookEndpoint.objects.filter(
            pk=endpoint_id, failing_since__isnull=False
        ).update(failing_since=None):
            return lambda: _endpoint_recovered(endpoint_id=endpoint_id)
        return None
    if attempt.status_code == 410:
        reason = f"The endpoint answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC."
        return lambda: _endpoint_disable(endpoint_id=endpoint_id, reason=reason, now=now)
    failing_since = claim.failing_since
    if failing_since is None:
        WebhookEndpoint.objects.filter(pk=endpoint_id, failing_since__isnull=True).update(failing_since=now)
    elif now - failing_since >= timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS):
        reason = (
            f"Every attempt has failed since {failing_since:%Y-%m-%d %H:%M} UTC "
            f"({(now - failing_since).days} days); the last: {_describe(attempt)}"
        )
        return lambda: _endpoint_disable(endpoint_id=endpoint_id, reason=reason, now=now)
    return None


def _describe(attempt: DeliveryAttempt) -> str:
    return f"HTTP {attempt.status_code}" if attempt.status_code is not None else attempt.error or "no response"


def _queue_successor(claim: _Claim) -> None:
    """This delivery is over (either way), and committed: the next pending one of its subject and endpoint may go.

    Read after the commit, never before: the next one's own check (see _claim) may have seen this one still pending
    just before, and then this read sees it; if this read misses it, it was not committed yet, and its own check,
    which runs after that, sees this one over.
    """
    successor = (
        Delivery.objects.filter(
            endpoint_id=claim.endpoint_id,
            subject=claim.subject,
            state=Delivery.State.PENDING,
            sequence__gte=claim.sequence,
        )
        .exclude(pk=claim.delivery_id)
        .order_by("sequence", "pk")
        .values_list("pk", "next_attempt_at")
        .first()
    )
    # Due by now (not by the time this attempt began: it may have been emitted while this one was out).
    if successor is not None and successor[1] is not None and successor[1] <= timezone.now() + timedelta(seconds=1):
        deliveries_queue([successor[0]])


def _endpoint_recovered(*, endpoint_id: int) -> None:
    """The endpoint answers again: what waits on a backoff for it is due now, rather than in up to ten hours."""
    now = timezone.now()
    brought_forward = Delivery.objects.filter(pk__in=_pending_unlocked(endpoint_id, next_attempt_at__gt=now)).update(
        next_attempt_at=now, queued_at=None
    )
    if brought_forward:
        transaction.on_commit(_sweep_soon, robust=True)


def _sweep_soon() -> None:
    try:
        celery_app.signature(SWEEP_TASK).apply_async(retry=False)
    except Exception:
        logger.warning("could not queue a webhook sweep; beat will run one", exc_info=True)


def deliveries_sweep(*, now: datetime | None = None, batch: int = SWEEP_BATCH) -> int:
    """Queue every delivery that is due and first in its line but has no live message (lost, or never sent).

    Runs on beat; safe anywhere and at once in several processes (rows are claimed with SKIP LOCKED).
    """
    now = now or timezone.now()
    earlier = Delivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        subject=OuterRef("subject"),
        state=Delivery.State.PENDING,
        sequence__lt=OuterRef("sequence"),
    )
    queued = 0
    while True:
        with transaction.atomic():
            ids = list(
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(state=Delivery.State.PENDING, next_attempt_at__lte=now)
                .filter(Q(queued_at__isnull=True) | Q(queued_at__lte=now - REQUEUE_AFTER))
                .filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))
                .exclude(Exists(earlier))
                .order_by("next_attempt_at", "pk")
                .values_list("pk", flat=True)[:batch]
            )
            if ids:
                Delivery.objects.filter(pk__in=ids).update(queued_at=now)
                _queue_on_commit(ids)
        queued += len(ids)
        if len(ids) < batch:
            break
    if queued:
        logger.info("webhook sweep queued %d delivery(ies)", queued)
    return queued


def delivery_redeliver(*, delivery: Delivery) -> Delivery:
    """Send the event to the endpoint again now: a pending delivery is brought forward, a finished one starts anew."""
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        raise Conflict("The endpoint is disabled: enable it before redelivering.")
    now = timezone.now()
    with transaction.atomic():
        if delivery.state == Delivery.State.PENDING:
            Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.PENDING).update(
                next_attempt_at=now, queued_at=now
            )
            delivery.refresh_from_db()
            again = delivery
        else:
            again = Delivery.objects.create(
                event_id=delivery.event_id,
                endpoint=endpoint,
                subject=delivery.subject,
                sequence=delivery.sequence,
                next_attempt_at=now,
                queued_at=now,
            )
        _queue_on_commit([again.pk])
    return again
