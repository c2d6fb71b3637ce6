from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from assistants.validators import validate_flow_definition, validate_json_object
from burki.models import Organization
from telephony.detection import MachineDetection
from telephony.fields import E164Field
from telephony.models import TelephonyAccount

DEFAULT_MAX_CALL_LENGTH = 1800  # seconds
MIN_CALL_LENGTH = 10
MAX_CALL_LENGTH_LIMIT = 4 * 3600  # Twilio's own ceiling for time_limit


class Assistant(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="assistants")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=2000)
    is_active = models.BooleanField(default=True)
    welcome_message = models.TextField(
        blank=True, max_length=1000, help_text="Default greeting; supports {{variable}} substitution."
    )
    max_call_length = models.PositiveIntegerField(
        default=DEFAULT_MAX_CALL_LENGTH,
        validators=[MinValueValidator(MIN_CALL_LENGTH), MaxValueValidator(MAX_CALL_LENGTH_LIMIT)],
        help_text="Seconds; passed to the provider as the call's time limit.",
    )
    machine_detection = models.CharField(
        max_length=16,
        choices=MachineDetection.choices,
        default=MachineDetection.OFF,
        # Database defaults too: a process still running the code from before these columns can save assistants.
        db_default=MachineDetection.OFF,
        help_text="What calls do when an answering machine answers; a call may say otherwise.",
    )
    voicemail_message = models.TextField(
        blank=True,
        default="",
        db_default="",
        max_length=1000,
        help_text="Said after the beep in leave_message mode; supports {{variable}} substitution.",
    )
    record = models.BooleanField(
        default=False, db_default=False, help_text="Have the carrier record calls; a call may say otherwise."
    )
    llm_settings = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    tts_settings = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    stt_settings = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    custom_settings = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["organization", "is_active"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.machine_detection == MachineDetection.LEAVE_MESSAGE and not self.voicemail_message.strip():
            raise ValidationError({"voicemail_message": "Needed when machine_detection is leave_message."})


class ConversationFlow(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="flows")
    name = models.CharField(max_length=200)
    base_assistant = models.ForeignKey(Assistant, on_delete=models.PROTECT, related_name="flows")
    is_active = models.BooleanField(default=True)
    definition = models.JSONField(validators=[validate_flow_definition])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Validated on every save, not only through forms: the flow runtime trusts what is stored.
        validate_flow_definition(self.definition)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.base_assistant_id and self.base_assistant.organization_id != self.organization_id:
            raise ValidationError({"base_assistant": "The base assistant must belong to the same organization."})


class PhoneNumber(models.Model):
    """A number an organization owns at a provider, and who answers on it: an assistant, a flow, or nobody."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="phone_numbers")
    # Unique within the organization (see Meta), not across organizations: each registers the numbers its own
    # provider account holds, and none may learn what another has registered.
    phone_number = E164Field(help_text="E.164, e.g. +14155550100.")
    friendly_name = models.CharField(max_length=100, blank=True)
    telephony_account = models.ForeignKey(TelephonyAccount, on_delete=models.PROTECT, related_name="phone_numbers")
    assistant = models.ForeignKey(
        Assistant, null=True, blank=True, on_delete=models.PROTECT, related_name="phone_numbers"
    )
    flow = models.ForeignKey(
        ConversationFlow, null=True, blank=True, on_delete=models.PROTECT, related_name="phone_numbers"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["phone_number"]
        constraints = [
            # phone_number first: the index also serves operators' lookups by number alone. Unique per organization
            # is also unique per telephony account, whose organization is the number's (clean() sees to that); and
            # it keeps dialling unambiguous: initiate looks a number up by organization and number.
            models.UniqueConstraint(
                fields=["phone_number", "organization"],
                name="phone_number_unique_per_organization",
                violation_error_code="phone_number_taken",
                violation_error_message="This number is already registered in your organization.",
            ),
            models.CheckConstraint(
                condition=Q(assistant__isnull=True) | Q(flow__isnull=True),
                name="phone_number_assistant_or_flow",
                violation_error_message="A number is assigned to an assistant or to a flow, not both.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.phone_number} {self.friendly_name}".strip()

    def clean(self) -> None:
        errors: dict[str, str] = {}
        related = {
            "telephony_account": self.telephony_account_id,
            "assistant": self.assistant_id,
            "flow": self.flow_id,
        }
        for name, pk in related.items():
            if pk and getattr(self, name).organization_id != self.organization_id:
                errors[name] = "Must belong to the same organization as the number."
        if errors:
            raise ValidationError(errors)
