from __future__ import annotations

from typing import Any

from rest_framework import serializers

from assistants.models import DEFAULT_MAX_CALL_LENGTH, Assistant, ConversationFlow, PhoneNumber
from assistants.secrets import mask_secrets
from assistants.services import MAX_IMPORTED_NUMBERS, ImportOutcome
from burki.serializers import IdField, StrictBooleanField, StrictCharField, StrictIntegerField
from telephony.detection import MachineDetection


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


class PhoneNumberImportInput(serializers.Serializer[Any]):
    phone_numbers = serializers.ListField(
        child=StrictCharField(max_length=32),
        required=False,
        min_length=1,
        max_length=MAX_IMPORTED_NUMBERS,
        help_text="The numbers to import (E.164), each one the provider lists for the account. Or `all`.",
    )
    all = serializers.BooleanField(
        default=False, help_text="Import every number the provider lists for the account (instead of phone_numbers)."
    )
    assistant_id = IdField(required=False, allow_null=True, help_text="Assign the new numbers to this assistant.")
    flow_id = IdField(required=False, allow_null=True, help_text="Or to this conversation flow.")


class AvailableNumberOutput(serializers.Serializer[Any]):
    phone_number = serializers.CharField(help_text="E.164.")
    friendly_name = serializers.CharField(help_text="The provider's name for it, if any.")
    provider_id = serializers.CharField(help_text="The provider's own id for it (Twilio's PN…, Telnyx's), if any.")
    registered = serializers.BooleanField(help_text="Whether your organization has registered it already.")
    phone_number_id = serializers.IntegerField(allow_null=True, help_text="That registration's id, if any.")


class AvailableNumbersOutput(serializers.Serializer[Any]):
    telephony_account_id = serializers.IntegerField()
    provider = serializers.CharField()
    items = AvailableNumberOutput(many=True)
    total = serializers.IntegerField()


class ImportResultOutput(serializers.Serializer[Any]):
    phone_number = serializers.CharField()
    outcome = serializers.ChoiceField(
        choices=[outcome.value for outcome in ImportOutcome],
        help_text="imported; already_registered (your organization holds it already, left as it is); skipped (not "
        "a number Burki can register, see detail).",
    )
    phone_number_id = serializers.IntegerField(allow_null=True, help_text="The registration (new or existing).")
    detail = serializers.CharField(allow_blank=True)


class PhoneNumberImportOutput(serializers.Serializer[Any]):
    telephony_account_id = serializers.IntegerField()
    provider = serializers.CharField()
    imported = serializers.IntegerField()
    already_registered = serializers.IntegerField()
    skipped = serializers.IntegerField()
    results = ImportResultOutput(many=True)


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


class SettingsField(serializers.JSONField):
    """A settings object in: a JSON object, never null, a list or a string holding JSON."""

    default_error_messages = {"not_an_object": "Must be a JSON object."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            self.fail("not_an_object")
        return super().to_internal_value(data)


class MaskedSettingsField(serializers.JSONField):
    """A settings object out, its secrets masked: they are write-only."""

    def to_representation(self, value: Any) -> Any:
        return mask_secrets(value)


class AssistantListParams(serializers.Serializer[Any]):
    active_only = serializers.BooleanField(default=False)


def _max_length(name: str) -> int:
    # full_clean() does not check a TextField's max_length (only its form field does): the input must.
    max_length = getattr(Assistant._meta.get_field(name), "max_length", None)
    if not isinstance(max_length, int):
        raise TypeError(f"Assistant.{name} has no max_length.")
    return max_length


class AssistantCreateInput(serializers.Serializer[Any]):
    # The call-length range is the model's, checked by the service's full_clean().
    name = StrictCharField(max_length=_max_length("name"))
    description = StrictCharField(max_length=_max_length("description"), allow_blank=True, default="")
    is_active = serializers.BooleanField(default=True)
    welcome_message = StrictCharField(max_length=_max_length("welcome_message"), allow_blank=True, default="")
    max_call_length = StrictIntegerField(default=DEFAULT_MAX_CALL_LENGTH)
    machine_detection = serializers.ChoiceField(choices=MachineDetection.choices, default=MachineDetection.OFF)
    voicemail_message = StrictCharField(max_length=_max_length("voicemail_message"), allow_blank=True, default="")
    record = StrictBooleanField(default=False)
    llm_settings = SettingsField(default=dict)
    tts_settings = SettingsField(default=dict)
    stt_settings = SettingsField(default=dict)
    custom_settings = SettingsField(default=dict)


class AssistantUpdateInput(serializers.Serializer[Any]):
    name = StrictCharField(max_length=_max_length("name"), required=False)
    description = StrictCharField(max_length=_max_length("description"), required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)
    welcome_message = StrictCharField(max_length=_max_length("welcome_message"), required=False, allow_blank=True)
    max_call_length = StrictIntegerField(required=False)
    machine_detection = serializers.ChoiceField(choices=MachineDetection.choices, required=False)
    voicemail_message = StrictCharField(max_length=_max_length("voicemail_message"), required=False, allow_blank=True)
    record = StrictBooleanField(required=False)
    llm_settings = SettingsField(required=False)
    tts_settings = SettingsField(required=False)
    stt_settings = SettingsField(required=False)
    custom_settings = SettingsField(required=False)


class AssistantOutput(serializers.ModelSerializer[Assistant]):
    llm_settings = MaskedSettingsField(read_only=True)
    tts_settings = MaskedSettingsField(read_only=True)
    stt_settings = MaskedSettingsField(read_only=True)
    custom_settings = MaskedSettingsField(read_only=True)

    class Meta:
        model = Assistant
        fields = [
            "id",
            "organization_id",
            "name",
            "description",
            "is_active",
            "welcome_message",
            "max_call_length",
            "machine_detection",
            "voicemail_message",
            "record",
            "llm_settings",
            "tts_settings",
            "stt_settings",
            "custom_settings",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class FlowCreateInput(serializers.Serializer[Any]):
    name = StrictCharField()
    base_assistant_id = IdField()
    is_active = serializers.BooleanField(default=True)
    # Anything goes here: the service checks the definition and names each problem.
    definition = serializers.JSONField(allow_null=True)


class FlowUpdateInput(serializers.Serializer[Any]):
    name = StrictCharField(required=False)
    base_assistant_id = IdField(required=False)
    is_active = serializers.BooleanField(required=False)
    definition = serializers.JSONField(required=False, allow_null=True)


class FlowOutput(serializers.ModelSerializer[ConversationFlow]):
    class Meta:
        model = ConversationFlow
        fields = [
            "id",
            "organization_id",
            "name",
            "base_assistant_id",
            "is_active",
            "definition",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
