"""Strict JSON input fields: DRF's defaults coerce `1` to "1" and "5" to 5, which hides client bugs."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from burki.models import MAX_RETENTION_DAYS, ApiKey, Membership, Organization

# A PositiveIntegerField's range on every database: anything above is refused here, not by the database.
MAX_DATABASE_INTEGER = 2**31 - 1


class Exemplified:
    """Mixed into a field: `example` (and `pattern`) for the OpenAPI schema (burki.schema.ExemplifiedFieldExtension).

    Constructor arguments, not attributes: DRF copies a serializer's fields by calling their constructors again.
    """

    def __init__(self, *args: Any, example: Any = None, pattern: str | None = None, **kwargs: Any) -> None:
        self.example = example
        self.pattern = pattern
        super().__init__(*args, **kwargs)


class FieldsBuiltOnce(serializers.Serializer[Any]):
    """A serializer whose fields are built once per class, not once per instance.

    DRF deep-copies every declared field for every serializer instance, and a field's deep copy calls its constructor
    again: for a dozen fields that is most of what a small serializer costs (half a millisecond per request on the
    initiate path). Here each instance gets shallow copies of fields built once, which it binds to itself as usual,
    so no two instances share a bound field (threads included). Only for serializers of plain fields: a nested
    serializer would be shared between copies, and is refused.
    """

    _templates: ClassVar[dict[type, dict[str, serializers.Field[Any, Any, Any, Any]]]] = {}

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        templates = FieldsBuiltOnce._templates.get(type(self))
        if templates is None:
            templates = super().get_fields()
            nested = [name for name, field in templates.items() if isinstance(field, serializers.BaseSerializer)]
            if nested:
                raise TypeError(f"{type(self).__name__}: nested serializers cannot be built once ({nested}).")
            FieldsBuiltOnce._templates[type(self)] = templates
        return {name: copy.copy(field) for name, field in templates.items()}


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
    """A JSON boolean: not "true", "yes", 1 or "on" (DRF's BooleanField takes all of them)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictInputSerializer(serializers.Serializer[Any]):
    """Refuses a field it does not know, rather than ignore it: a misspelt setting must not look saved."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({str(name): ["Unknown field."] for name in unknown})
        return attrs


class IdField(Exemplified, StrictIntegerField):
    def __init__(self, **kwargs: Any) -> None:
        # Without an example, documentation tools show the maximum (4611686018427387904): a request that fails.
        kwargs.setdefault("example", 1)
        super().__init__(min_value=1, max_value=2**62, **kwargs)


API_KEY = {
    "id": 7,
    "organization_id": 1,
    "name": "CRM integration",
    "prefix": "burki_Xy3kP9",
    "role": "member",
    "is_active": True,
    "created_by_id": 3,
    "created_at": "2026-11-30T09:20:41.003000Z",
    "last_used_at": None,
    "revoked_at": None,
}


@extend_schema_serializer(
    examples=[
        OpenApiExample("A key for the CRM", value={"name": "CRM integration", "role": "member"}, request_only=True)
    ]
)
class ApiKeyCreateInput(serializers.Serializer[Any]):
    name = StrictCharField(max_length=100)
    role = serializers.ChoiceField(
        choices=Membership.Role.choices,
        default=Membership.Role.ADMIN,
        help_text="What the key may do (member, admin, owner); at most your own role. Default: admin.",
    )


@extend_schema_serializer(examples=[OpenApiExample("A member key", value=API_KEY, response_only=True)])
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


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Created (the key, this once)",
            value={**API_KEY, "key": "burki_Xy3kP9vQ2mN8rT5wL1zH7cJ4bF6dG0sA9eK3uY2iO5p"},
            response_only=True,
        )
    ]
)
class ApiKeyCreatedOutput(ApiKeyOutput):
    key = serializers.CharField(help_text="The raw key: shown in this response only, stored only as a hash.")

    class Meta(ApiKeyOutput.Meta):
        fields = [*ApiKeyOutput.Meta.fields, "key"]
        read_only_fields = fields


COUNTRIES_HELP = (
    'ISO 3166 alpha-2 codes, upper case, the organization may call, e.g. ["US", "CA"]. Empty: every country '
    "(emergency numbers and short codes are refused whatever this says)."
)
PREMIUM_HELP = (
    "Refuse premium-rate, shared-cost, personal, pager, UAN and voicemail numbers, and satellite and "
    "international-network numbers (+870, +881, +882, +883): toll fraud."
)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "North America only, 20 calls at once",
            value={
                "max_concurrent_calls": 20,
                "allowed_destination_countries": ["US", "CA"],
                "block_premium_destinations": True,
            },
            request_only=True,
        ),
        OpenApiExample(
            "Keep calls 90 days, redact them after 30",
            value={"call_retention_days": 90, "redact_after_days": 30},
            request_only=True,
        ),
    ]
)
class OrganizationUpdateInput(StrictInputSerializer):
    """Only the fields sent change; an unknown field is a 400."""

    name = StrictCharField(max_length=200, required=False)  # Organization.name
    max_concurrent_calls = StrictIntegerField(
        min_value=1,
        max_value=MAX_DATABASE_INTEGER,
        required=False,
        allow_null=True,
        help_text="Live calls at once, up to the platform's maximum (`max_concurrent_calls_maximum`); null: the "
        "server default.",
    )
    allowed_destination_countries = serializers.ListField(
        child=StrictCharField(max_length=2), max_length=300, required=False, help_text=COUNTRIES_HELP
    )
    block_premium_destinations = StrictBooleanField(required=False, help_text=PREMIUM_HELP)
    call_retention_days = StrictIntegerField(
        min_value=1,
        max_value=MAX_RETENTION_DAYS,
        required=False,
        allow_null=True,
        help_text="Calls and their events are deleted after this many days; null: the server default.",
    )
    redact_after_days = StrictIntegerField(
        min_value=1,
        max_value=MAX_RETENTION_DAYS,
        required=False,
        allow_null=True,
        help_text="Calls are redacted after this many days, fewer than they are kept; null: the server default.",
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Acme",
            value={
                "id": 1,
                "name": "Acme",
                "slug": "acme",
                "max_concurrent_calls": 20,
                "max_concurrent_calls_maximum": 100,
                "allowed_destination_countries": ["US", "CA"],
                "block_premium_destinations": True,
                "call_retention_days": 400,
                "redact_after_days": None,
                "created_at": "2026-11-02T08:00:00.000000Z",
                "updated_at": "2026-11-30T09:31:12.781000Z",
            },
            response_only=True,
        )
    ]
)
class OrganizationOutput(serializers.ModelSerializer[Organization]):
    # What applies: the organization's own setting, else the server's default.
    max_concurrent_calls = serializers.IntegerField(
        source="effective_max_concurrent_calls", help_text="Live calls at once; past them, initiate is a 429."
    )
    max_concurrent_calls_maximum = serializers.SerializerMethodField(
        help_text="The most the organization's admins may set max_concurrent_calls to (the platform's maximum)."
    )
    allowed_destination_countries = serializers.ListField(child=serializers.CharField(), help_text=COUNTRIES_HELP)
    block_premium_destinations = serializers.BooleanField(help_text=PREMIUM_HELP)
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
        fields = [
            "id",
            "name",
            "slug",
            "max_concurrent_calls",
            "max_concurrent_calls_maximum",
            "allowed_destination_countries",
            "block_premium_destinations",
            "call_retention_days",
            "redact_after_days",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_max_concurrent_calls_maximum(self, organization: Organization) -> int:
        maximum: int = settings.BURKI_MAX_CONCURRENT_CALLS_LIMIT
        return maximum
