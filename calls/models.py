from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q

from assistants.models import Assistant, ConversationFlow, PhoneNumber
from burki.models import Organization
from telephony.detection import AnsweredBy, MachineDetection
from telephony.models import TelephonyAccount
from telephony.status import TERMINAL_STATUSES, CallStatus


def call_token() -> str:
    return secrets.token_urlsafe(32)


class Call(models.Model):
    class Direction(models.TextChoices):
        OUTBOUND = "outbound"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="calls")
    # History outlives configuration: deleting an assistant, flow, number or account keeps its calls.
    assistant = models.ForeignKey(Assistant, null=True, on_delete=models.SET_NULL, related_name="calls")
    flow = models.ForeignKey(ConversationFlow, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls")
    phone_number = models.ForeignKey(PhoneNumber, null=True, on_delete=models.SET_NULL, related_name="calls")
    telephony_account = models.ForeignKey(TelephonyAccount, null=True, on_delete=models.SET_NULL, related_name="calls")
    direction = models.CharField(max_length=16, choices=Direction.choices, default=Direction.OUTBOUND)
    from_number = models.CharField(max_length=16)
    to_number = models.CharField(max_length=16)
    provider = models.CharField(max_length=16)
    # NULL, not "", until the provider answers: the unique constraint below must not see blanks as equal.
    call_sid = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    status = models.CharField(max_length=16, choices=CallStatus.choices, default=CallStatus.QUEUED)
    welcome_message = models.TextField(blank=True)
    agenda = models.TextField(blank=True)
    variables = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # What the call was placed with: the request's options, else its assistant's. The new columns have database
    # defaults too, so that a process still running the code from before them can insert calls during a deploy.
    machine_detection = models.CharField(
        max_length=16, choices=MachineDetection.choices, default=MachineDetection.OFF, db_default=MachineDetection.OFF
    )
    voicemail_message = models.TextField(blank=True, default="", db_default="")  # rendered
    record = models.BooleanField(default=False, db_default=False)
    # NULL for calls recorded before these were (their assistant's max_call_length and TELEPHONY_RING_TIMEOUT applied).
    max_duration_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds, sent to the carrier.")
    ring_timeout_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds, sent to the carrier.")
    error_message = models.TextField(blank=True)
    end_reason = models.CharField(max_length=64, blank=True)
    duration = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds.")
    answered_by = models.CharField(max_length=16, choices=AnsweredBy.choices, blank=True, default="", db_default="")
    # When the machine's greeting ended in leave_message mode, and the voicemail message was to be said.
    voicemail_left_at = models.DateTimeField(null=True, blank=True)
    # The carrier's URL (fetching it may take the carrier account's credentials), once the recording is ready.
    recording_url = models.TextField(blank=True, default="", db_default="")
    recording_duration = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds.")
    started_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # Unguessable, and not the primary key: provider callback URLs carry it instead of anything that identifies.
    token = models.CharField(max_length=64, unique=True, default=call_token, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # The call log's reads (calls.selectors.call_list): each filter has an index that yields its rows already in
        # the list's order, so a page reads about as many rows as it shows, and a cursor is a range on the index.
        # Built concurrently (burki.migration_operations), never locking the table.
        indexes = [
            # The list, the date range, and (duration as a key, checked in the index) min/max_duration: a page
            # and a bounded count stay in the index however long the history.
            models.Index(fields=["organization", "-created_at", "-id", "duration"], name="call_org_created_idx"),
            models.Index(fields=["organization", "status", "-created_at", "-id"], name="call_org_status_idx"),
            models.Index(fields=["organization", "to_number", "-created_at", "-id"], name="call_org_to_number_idx"),
            models.Index(fields=["organization", "assistant", "-created_at", "-id"], name="call_org_assistant_idx"),
            # Counting min/max_duration matches over the whole history (the bounded `total`).
            models.Index(fields=["organization", "duration"], name="call_org_duration_idx"),
            # The admin's changelist across organizations, newest first.
            models.Index(fields=["-created_at", "-id"], name="call_created_idx"),
            models.Index(fields=["call_sid"]),
            models.Index(fields=["telephony_account", "created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "call_sid"],
                condition=Q(call_sid__isnull=False),
                name="call_unique_provider_sid",
            )
        ]

    def __str__(self) -> str:
        return f"Call {self.pk} ({self.status})"

    @property
    def is_over(self) -> bool:
        return self.status in TERMINAL_STATUSES


class CallEvent(models.Model):
    """A provider's status event, kept as it arrived (minus secrets) for audit and debugging."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events")
    provider = models.CharField(max_length=16)
    event_type = models.CharField(max_length=64)
    status = models.CharField(max_length=16, blank=True, help_text="Normalized status the event reports, if any.")
    # Identifies a redelivery: providers send the same event more than once.
    key = models.CharField(max_length=255)
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [models.UniqueConstraint(fields=["call", "key"], name="call_event_unique_key")]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} for call {self.call_id}"


class Suppression(models.Model):
    """A number the organization must never call (do-not-call): checked at every dial, the campaigns' included."""

    class Source(models.TextChoices):
        API = "api"
        CSV = "csv"
        OPT_OUT = "opt-out"
        ADMIN = "admin"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="suppressions")
    phone_number = models.CharField(max_length=16, help_text="E.164.")
    reason = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    # The call whose callee asked not to be called again (source opt-out); kept when the call is deleted.
    call = models.ForeignKey(Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "phone_number"], name="suppression_unique_number"),
        ]
        indexes = [models.Index(fields=["organization", "-created_at", "-id"], name="suppression_org_created_idx")]

    def __str__(self) -> str:
        return f"Do not call {self.phone_number}"
