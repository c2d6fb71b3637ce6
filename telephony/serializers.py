from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from burki.serializers import Exemplified, StrictCharField
from telephony.credentials import MAX_CREDENTIAL_LENGTH, credentials_description
from telephony.models import Provider, TelephonyAccount
from telephony.numbers import MAX_INPUT_LENGTH

E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"
PHONE_NUMBER_INPUT_HELP = (
    "E.164: `+`, the country code and the number, e.g. `+14155550100`. Spaces, dashes, dots and parentheses are "
    "ignored (`+1 (415) 555-0100`); answers give the number in E.164."
)
PHONE_NUMBER_HELP = "E.164: `+`, the country code and the number, e.g. `+14155550100`."
REDACTED_PHONE_NUMBER_HELP = (
    "E.164, e.g. `+14155550199`; once the call is redacted (the organization's `redact_after_days`), only the last "
    "four digits: `…0199`."
)


class PhoneNumberInputField(Exemplified, StrictCharField):
    """A phone number as people write it; the service normalizes it to E.164 (telephony.numbers.normalize_e164)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", MAX_INPUT_LENGTH)
        kwargs.setdefault("help_text", PHONE_NUMBER_INPUT_HELP)
        kwargs.setdefault("example", "+14155550100")
        super().__init__(**kwargs)


class PhoneNumberOutputField(Exemplified, serializers.CharField):
    """A phone number as Burki answers with it: E.164, or masked to its last four digits once a call is redacted."""

    def __init__(self, *, redactable: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("example", "+14155550100")
        kwargs.setdefault("help_text", REDACTED_PHONE_NUMBER_HELP if redactable else PHONE_NUMBER_HELP)
        if not redactable:
            kwargs.setdefault("pattern", E164_PATTERN)
        super().__init__(**kwargs)


class CredentialsField(serializers.DictField):
    """Write-only: credentials go in, and never come out of the API."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            child=StrictCharField(max_length=MAX_CREDENTIAL_LENGTH, trim_whitespace=False),
            write_only=True,
            help_text=credentials_description(),
            **kwargs,
        )


ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A Twilio account",
            value={
                "provider": "twilio",
                "name": "Twilio production",
                "credentials": {"account_sid": ACCOUNT_SID, "auth_token": "your-auth-token"},
            },
            request_only=True,
        ),
        OpenApiExample(
            "A Telnyx account",
            value={
                "provider": "telnyx",
                "name": "Telnyx",
                "credentials": {
                    "api_key": "KEY0123456789ABCDEF_example",
                    "connection_id": "1684641123236054244",
                    "public_key": "base64-public-key",
                },
            },
            request_only=True,
        ),
        OpenApiExample(
            "A Vonage account",
            value={
                "provider": "vonage",
                "name": "Vonage",
                "credentials": {
                    "application_id": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
                    "private_key": "-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----\n",
                    "signature_secret": "your-signature-secret",
                    "api_key": "a1b2c3d4",
                    "api_secret": "your-api-secret",
                },
            },
            request_only=True,
        ),
        OpenApiExample(
            "The sandbox (places no real call)",
            value={"provider": "sandbox", "name": "Sandbox", "credentials": {}},
            request_only=True,
        ),
    ]
)
class TelephonyAccountCreateInput(serializers.Serializer[Any]):
    provider = serializers.ChoiceField(choices=Provider.choices)
    name = serializers.CharField(max_length=100)
    is_active = serializers.BooleanField(default=True)
    credentials = CredentialsField(allow_empty=True)
    calls_per_second = serializers.IntegerField(min_value=0, max_value=1000, required=False, allow_null=True)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "New credentials",
            value={"credentials": {"account_sid": ACCOUNT_SID, "auth_token": "your-new-auth-token"}},
            request_only=True,
        ),
        OpenApiExample("A faster rate", value={"calls_per_second": 5}, request_only=True),
    ]
)
class TelephonyAccountUpdateInput(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100, required=False)
    is_active = serializers.BooleanField(required=False)
    credentials = CredentialsField(required=False)
    calls_per_second = serializers.IntegerField(min_value=0, max_value=1000, required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "provider" in self.initial_data:
            raise serializers.ValidationError({"provider": ["The provider of an account cannot be changed."]})
        return attrs


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A Twilio account (credentials never shown)",
            value={
                "id": 1,
                "organization_id": 1,
                "provider": "twilio",
                "name": "Twilio production",
                "is_active": True,
                "credentials_hint": "…cdef",
                "calls_per_second": None,
                "effective_calls_per_second": 1,
                "created_at": "2026-11-30T09:10:02.551000Z",
                "updated_at": "2026-11-30T09:10:02.551000Z",
            },
            response_only=True,
        )
    ]
)
class TelephonyAccountOutput(serializers.ModelSerializer[TelephonyAccount]):
    class Meta:
        model = TelephonyAccount
        fields = [
            "id",
            "organization_id",
            "provider",
            "name",
            "is_active",
            "credentials_hint",
            "calls_per_second",
            "effective_calls_per_second",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
