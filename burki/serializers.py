"""Strict JSON input fields: DRF's defaults coerce `1` to "1" and "5" to 5, which hides client bugs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from burki.models import ApiKey, Membership, Organization


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: no booleans, no strings, no 3.0."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean: not "yes", 1 or "true"."""

    default_error_messages = {"invalid": "Must be a boolean."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class IdField(StrictIntegerField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=2**62, **kwargs)


class ApiKeyCreateInput(serializers.Serializer[Any]):
    name = StrictCharField(max_length=100)
    role = serializers.ChoiceField(
        choices=Membership.Role.choices,
        default=Membership.Role.ADMIN,
        help_text="What the key may do (member, admin, owner); at most your own role. Default: admin.",
    )


class ApiKeyOutput(serializers.ModelSerializer[ApiKey]):
    class Meta:
        model = ApiKey
        fields = [
            "id",
            "organization_id",
            "name",
            "prefix",
            "role",
            "is_active",
            "created_by_id",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields


class ApiKeyCreatedOutput(ApiKeyOutput):
    key = serializers.CharField(help_text="The raw key: shown in this response only, stored only as a hash.")

    class Meta(ApiKeyOutput.Meta):
        fields = [*ApiKeyOutput.Meta.fields, "key"]
        read_only_fields = fields


class OrganizationOutput(serializers.ModelSerializer[Organization]):
    # What applies: the organization's own setting, else the server's default.
    call_retention_days = serializers.IntegerField(
        source="effective_call_retention_days", help_text="Calls and their events are deleted after this many days."
    )
    redact_after_days = serializers.IntegerField(
        source="effective_redact_after_days",
        allow_null=True,
        help_text="Calls are redacted (phone numbers masked, texts cleared) after this many days; null: never.",
    )

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "call_retention_days", "redact_after_days", "created_at", "updated_at"]
        read_only_fields = fields
