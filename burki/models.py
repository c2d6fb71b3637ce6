from __future__ import annotations

import hashlib
import secrets
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

API_KEY_PREFIX = "burki_"
# What the admin and the API show of a key: enough to tell keys apart, far too little to use one.
API_KEY_VISIBLE_CHARS = 12
MAX_RETENTION_DAYS = 36_500


def validate_country_codes(value: Any) -> None:
    supported = phonenumbers.SUPPORTED_REGIONS
    if not isinstance(value, list) or not all(isinstance(code, str) and code in supported for code in value):
        raise ValidationError('A list of ISO 3166 alpha-2 country codes, upper case (e.g. "US").')


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    max_concurrent_calls = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Live calls at once. Empty: the server default (BURKI_MAX_CONCURRENT_CALLS).",
    )
    allowed_destination_countries = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_country_codes],
        help_text='ISO 3166 codes the organization may call, e.g. ["US", "CA"]. Empty: every country.',
    )
    block_premium_destinations = models.BooleanField(
        default=True,
        help_text=(
            "Refuse premium-rate, shared-cost, personal, pager, UAN and voicemail numbers, and satellite and "
            "international-network numbers (+870, +881, +882, +883): toll fraud."
        ),
    )
    call_retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RETENTION_DAYS)],
        help_text="Calls and their events older than this many days are deleted. Empty: the server default "
        "(CALL_RETENTION_DAYS, 400).",
    )
    redact_after_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RETENTION_DAYS)],
        help_text="Calls older than this many days, until they are deleted, keep only the last four digits of their "
        "phone numbers, and lose their texts, variables, metadata and provider payloads. Empty: the server default "
        "(CALL_REDACT_AFTER_DAYS; unset, never).",
    )
    # Every call of the organization created before this moment is redacted: each run redacts from here on only.
    calls_redacted_before = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_max_concurrent_calls(self) -> int:
        return self.max_concurrent_calls or settings.BURKI_MAX_CONCURRENT_CALLS

    @property
    def effective_call_retention_days(self) -> int:
        return self.call_retention_days or settings.CALL_RETENTION_DAYS

    @property
    def effective_redact_after_days(self) -> int | None:
        days: int | None = self.redact_after_days or settings.CALL_REDACT_AFTER_DAYS
        return days

    def clean(self) -> None:
        super().clean()
        redact, keep = self.effective_redact_after_days, self.effective_call_retention_days
        if redact is not None and redact >= keep:
            raise ValidationError(
                {"redact_after_days": f"Must be fewer days than the calls are kept ({keep}): they are deleted first."}
            )


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


def api_key_hash(raw_key: str) -> str:
    # Keys carry 256 bits of randomness, so a fast unsalted hash is enough: nothing to brute-force,
    # and the lookup stays one indexed query per request.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_generate() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


class ApiKey(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=API_KEY_VISIBLE_CHARS, editable=False)
    hashed_key = models.CharField(max_length=64, unique=True, editable=False)
    # What the key may do (burki.permissions): chosen when it is created, never above its creator's role.
    role = models.CharField(max_length=16, choices=Membership.Role.choices, default=Membership.Role.ADMIN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Minted by a member of the organization (not by the operator): the key works only while that person is an
    # active member, and never above their current role, so removing someone removes what they handed out.
    bound_to_creator = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """A request made with an Idempotency-Key, and the response it got, replayed to repeats of it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # Hash of the operation and its body: the same key with another body is a client bug, not a repeat.
    fingerprint = models.CharField(max_length=64)
    # Empty while the first request is still being processed.
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.organization_id})"


class ConfigVersion(models.Model):
    """How many times an organization's configuration has changed: burki.config's cache validity.

    Written only by the database (burki_config_version_bump, a trigger on every table whose rows the caches hold), in
    the transaction of the change itself: no code path, QuerySet.update and raw SQL included, can change a cached row
    without changing its organization's version. No foreign key: an organization's deletion bumps it too.
    """

    organization_id = models.BigIntegerField(primary_key=True)
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"organization {self.organization_id}: version {self.version}"
