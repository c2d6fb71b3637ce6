from __future__ import annotations

from typing import Any

from rest_framework import serializers

from burki.serializers import StrictCharField
from telephony.credentials import MAX_CREDENTIAL_LENGTH
from telephony.models import Provider, TelephonyAccount


class CredentialsField(serializers.DictField):
    """Write-only: credentials go in, and never come out of the API."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            child=StrictCharField(max_length=MAX_CREDENTIAL_LENGTH, trim_whitespace=False),
            write_only=True,
            **kwargs,
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
