from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from burki.fields import EncryptedJSONField
from burki.models import Organization
from telephony.credentials import credentials_errors, credentials_hint


class Provider(models.TextChoices):
    TWILIO = "twilio", "Twilio"
    TELNYX = "telnyx", "Telnyx"
    VONAGE = "vonage", "Vonage"
    SANDBOX = "sandbox", "Sandbox (no real calls)"


# What each provider accepts by default (calls placed per second per account); 0 means no limit.
DEFAULT_CALLS_PER_SECOND = {"twilio": 1, "telnyx": 30, "vonage": 3, "sandbox": 0}


class TelephonyAccount(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="telephony_accounts")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    credentials = EncryptedJSONField(default=dict, blank=True)
    calls_per_second = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Calls placed per second at most. Empty: the provider's default (Twilio 1, Vonage 3, Telnyx 30).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()})"

    def __repr__(self) -> str:
        # Never let the credentials reach a log line through a repr.
        return f"<TelephonyAccount id={self.pk} provider={self.provider}>"

    def clean(self) -> None:
        errors = credentials_errors(self.provider, self.credentials)
        if errors:
            raise ValidationError({"credentials": [f"{key}: {' '.join(msgs)}" for key, msgs in errors.items()]})

    @property
    def effective_calls_per_second(self) -> int:
        if self.calls_per_second is not None:
            return self.calls_per_second
        return DEFAULT_CALLS_PER_SECOND.get(self.provider, 1)

    @property
    def credentials_hint(self) -> str:
        return credentials_hint(self.provider, self.credentials)
