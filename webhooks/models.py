"""Customers' webhook endpoints, the events emitted for them, and every delivery and attempt.

Nothing here knows what an event is about: a producer (calls, later campaigns) names a `subject` ("call:42"), and
events of one subject are numbered 1, 2, 3… and delivered to each endpoint in that order.
"""

from __future__ import annotations

import os
import time

from django.db import models
from django.db.models import Q

from burki.fields import EncryptedJSONField
from burki.models import Organization

MAX_URL_LENGTH = 2048
MAX_EVENT_TYPES = 50
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def event_uid() -> str:
    """`evt_` and a ULID: 48 bits of milliseconds then 80 random bits, so ids sort by creation time.

    Not the primary key: the id receivers see (and deduplicate on, as `webhook-id`) must be unique across every Burki
    deployment that may send to them, where a sequential number would repeat.
    """
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "evt_" + "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


class WebhookEndpoint(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_endpoints")
    # Checked by the service (scheme, no credentials, no internal address), and again at every attempt.
    url = models.CharField(max_length=MAX_URL_LENGTH)
    description = models.CharField(max_length=500, blank=True)
    # The event types it receives; empty means every type, including types added later.
    event_types = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    # Why Burki disabled it (410 Gone, failing for days); empty when a user did, or while enabled.
    disabled_reason = models.CharField(max_length=500, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # {"current": "whsec_…", "previous": "whsec_…" or absent}: encrypted at rest, shown once when made.
    secrets = EncryptedJSONField(default=dict, editable=False)
    # During a rotation's overlap both secrets sign; the previous one stops signing at this time.
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The first failed attempt since its last success: an endpoint failing long enough is disabled.
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "webhook endpoint"
        indexes = [models.Index(fields=["organization", "enabled"], name="webhook_endpoint_org_enabled")]

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        # Never let a secret reach a log line through a repr.
        return f"<WebhookEndpoint id={self.pk} organization={self.organization_id}>"

    def receives(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class Event(models.Model):
    """Something that happened, as its producer described it; kept whether or not a delivery succeeded."""

    uid = models.CharField(max_length=32, unique=True, default=event_uid, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=64)
    # What the event is about, opaque here ("call:42"); events of one subject are ordered by `sequence`.
    subject = models.CharField(max_length=100)
    sequence = models.PositiveIntegerField()
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["subject", "sequence"], name="event_unique_subject_sequence")]

    def __str__(self) -> str:
        return f"{self.type} {self.uid}"

    def envelope(self) -> dict[str, object]:
        """The body every endpoint receives, and `GET /api/v1/events/{id}` shows."""
        return {
            "id": self.uid,
            "type": self.type,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "sequence": self.sequence,
            "data": self.data,
        }


class Delivery(models.Model):
    """One event to one endpoint: pending until an attempt succeeds, or the retries run out."""

    class State(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        # Every attempt failed, or the endpoint answered 410 Gone.
        FAILED = "failed"
        # Never finished: the endpoint was disabled (by Burki or a user) while this waited.
        ABANDONED = "abandoned"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # The event's, copied: the ordering check reads them on every attempt without a join.
    subject = models.CharField(max_length=100)
    sequence = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due (the truth for the periodic sweep); empty once the delivery is over.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When a task for the next attempt was last put on the queue (or will run, for a countdown). A message lost with
    # its broker leaves this in the past, and the sweep queues it again.
    queued_at = models.DateTimeField(null=True, blank=True)
    # A worker's lease while it sends: nobody else attempts it until then (it expires if that worker dies).
    locked_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="delivery_endpoint_log"),
            # The sweep's and the ordering check's: small, since only pending deliveries are in them.
            models.Index(fields=["next_attempt_at"], name="delivery_due", condition=Q(state="pending")),
            models.Index(
                fields=["endpoint", "subject", "sequence"], name="delivery_pending_order", condition=Q(state="pending")
            ),
        ]

    def __str__(self) -> str:
        return f"Delivery {self.pk} ({self.state})"


class DeliveryAttempt(models.Model):
    """One HTTP request to an endpoint (or the refusal to make it), as it went."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    started_at = models.DateTimeField()
    # Empty when no response came (refused destination, timeout, connection error).
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    # The start of the response body, for debugging the receiver.
    response_body = models.TextField(blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"Attempt {self.pk} ({self.status_code or self.error})"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
