from __future__ import annotations

from typing import Any

from rest_framework import serializers

from assistants.models import PhoneNumber
from burki.serializers import IdField, StrictCharField


class PhoneNumberCreateInput(serializers.Serializer[Any]):
    phone_number = StrictCharField(max_length=32)
    telephony_account_id = IdField()
    assistant_id = IdField(required=False, allow_null=True)
    flow_id = IdField(required=False, allow_null=True)
    friendly_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    is_active = serializers.BooleanField(default=True)


class PhoneNumberUpdateInput(serializers.Serializer[Any]):
    phone_number = StrictCharField(max_length=32, required=False)
    telephony_account_id = IdField(required=False)
    assistant_id = IdField(required=False, allow_null=True)
    flow_id = IdField(required=False, allow_null=True)
    friendly_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class PhoneNumberOutput(serializers.ModelSerializer[PhoneNumber]):
    provider = serializers.CharField(source="telephony_account.provider")

    class Meta:
        model = PhoneNumber
        fields = [
            "id",
            "organization_id",
            "phone_number",
            "friendly_name",
            "telephony_account_id",
            "provider",
            "assistant_id",
            "flow_id",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
