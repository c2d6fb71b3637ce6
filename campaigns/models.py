from __future__ import annotations

from datetime import time

from django.db import models
from django.db.models import Q

from assistants.models import Assistant
from burki.models import Organization
from calls.models import Call


def weekdays() -> list[int]:
    return [0, 1, 2, 3, 4]  # Monday to Friday (datetime.weekday())


def retry_outcomes() -> list[str]:
    return ["busy", "no-answer"]


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"  # contacts may be added; nothing is dialled
        RUNNING = "running"  # dialled from starts_at, inside the calling window
        PAUSED = "paused"
        COMPLETED = "completed"  # every contact reached a final state
        CANCELED = "canceled"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    # E.164 numbers of the organization, used in turn (contact by contact).
    from_numbers = models.JSONField(default=list)
    assistant = models.ForeignKey(Assistant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Templates: rendered per contact with its variables, as for POST /calls/initiate. Empty: the assistant's.
    welcome_message = models.TextField(blank=True)
    agenda = models.TextField(blank=True)
    # The other call options of POST /calls/initiate (machine_detection, voicemail_message, record, ...).
    call_options = models.JSONField(default=dict, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True, help_text="Empty: as soon as it is started.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="What is left then is expired.")
    # The calling window, in each callee's own time zone.
    window_days = models.JSONField(default=weekdays, help_text="Days of the week, 0 = Monday.")
    window_start = models.TimeField(default=time(9, 0))
    window_end = models.TimeField(default=time(20, 0))
    max_concurrent_calls = models.PositiveIntegerField(default=1)
    # Retry policy: which outcomes are retried, how many attempts in all, how long between them.
    retry_on = models.JSONField(default=retry_outcomes, blank=True)
    max_attempts = models.PositiveSmallIntegerField(default=1)
    retry_delay_seconds = models.PositiveIntegerField(default=3600)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"], name="campaign_org_created_idx"),
            models.Index(fields=["status"], name="campaign_status_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignContact(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"  # waits for its turn, its window, or the campaign's start
        DIALLING = "dialling"  # claimed by a dispatcher, or its call is live
        COMPLETED = "completed"
        RETRYING = "retrying"  # waits for its next attempt (next_attempt_at)
        FAILED = "failed"  # its last attempt failed and no attempt is left
        SKIPPED = "skipped"  # never dialled (suppressed, refused by policy, campaign canceled): see reason
        EXPIRED = "expired"  # the campaign ended before it could be reached

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="contacts")
    line = models.PositiveIntegerField(help_text="Its row in the import (1 = the first contact).")
    phone_number = models.CharField(max_length=16, help_text="E.164.")
    timezone = models.CharField(max_length=64, blank=True, help_text="IANA; empty: the number's.")
    variables = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    reason = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A dispatcher's claim: another may take the contact once the lease has passed (its worker died).
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_call = models.ForeignKey(Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["campaign", "line"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "phone_number"], name="campaign_contact_unique_number"),
        ]
        indexes = [
            # The dispatcher's claim: due contacts of a campaign, in order.
            models.Index(
                fields=["campaign", "next_attempt_at", "line"],
                condition=Q(state__in=["pending", "retrying"]),
                name="campaign_contact_due_idx",
            ),
            models.Index(fields=["campaign", "state"], name="campaign_contact_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.phone_number} ({self.state})"
