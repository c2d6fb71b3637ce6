from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from burki.serializers import StrictCharField
from telephony.credentials import MAX_CREDENTIAL_LENGTH, credentials_description
from telephony.models import Provider, TelephonyAccount


class CredentialsField(serializers.DictField):
    """Write-only: credentials go in, and never come out of the API."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            child=StrictCharField(max_length=MAX_CREDENTIAL_LENGTH, trim_whitespace=False),
            write_only=True,
            help_text=credentials_description(),
            **kwargs,
        )


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A Twilio account",
            value={
                "provider": "twilio",
                "name": "Twilio production",
                "credentials": {"account_sid": "AC" + "0" * 32, "auth_token": "your-auth-token"},
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


class TelephonyAccountUpdateInput(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100, required=False)
    is_active = serializers.BooleanField(required=False)
    credentials = CredentialsField(required=False)
    calls_per_second = serializers.IntegerField(min_value=0, max_value=1000, required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "provider" in self.initial_data:
            raise serializers.ValidationError({"provider": ["The provider of an account cannot be changed."]})
        return attrs


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
