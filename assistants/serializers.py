from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from assistants.models import DEFAULT_MAX_CALL_LENGTH, Assistant, ConversationFlow, PhoneNumber
from assistants.secrets import mask_secrets
from assistants.services import MAX_IMPORTED_NUMBERS, ImportOutcome
from burki.serializers import IdField, StrictBooleanField, StrictCharField, StrictIntegerField
from telephony.detection import MachineDetection
from telephony.serializers import PhoneNumberInputField, PhoneNumberOutputField

STAMP = "2026-11-30T09:12:44.108000Z"
LLM_SETTINGS: dict[str, Any] = {"provider": "openai", "model": "gpt-4o-mini", "api_key": "sk-…", "temperature": 0.3}
SETTINGS: dict[str, Any] = {
    "llm_settings": LLM_SETTINGS,
    "tts_settings": {"provider": "elevenlabs", "voice_id": "21m00Tcm4TlvDq8ikWAM"},
    "stt_settings": {"provider": "deepgram", "language": "en-US"},
    "custom_settings": {},
}
ASSISTANT = {
    "name": "Receptionist",
    "description": "Confirms appointments for the Acme clinic.",
    "is_active": True,
    "welcome_message": "Hi {{ name }}, this is the Acme clinic.",
    "max_call_length": 1800,
    "machine_detection": "leave_message",
    "voicemail_message": "Hi {{ name }}, this is the Acme clinic: please call us back about {{ day }}.",
    "record": False,
}
FLOW_DEFINITION = {
    "nodes": [
        {"id": "greet", "type": "start", "prompt": "Greet the caller by name."},
        {"id": "confirm", "type": "question", "prompt": "Is {{ day }} still good for you?"},
    ],
    "edges": [{"from": "greet", "to": "confirm"}],
}
PHONE_NUMBER = {
    "phone_number": "+14155550101",
    "friendly_name": "Clinic reminders",
    "telephony_account_id": 1,
    "assistant_id": 1,
    "flow_id": None,
    "is_active": True,
}


@extend_schema_serializer(examples=[OpenApiExample("Answered by an assistant", value=PHONE_NUMBER, request_only=True)])
class PhoneNumberCreateInput(serializers.Serializer[Any]):
    phone_number = PhoneNumberInputField(example="+14155550101")
    telephony_account_id = IdField()
    assistant_id = IdField(required=False, allow_null=True)
    flow_id = IdField(required=False, allow_null=True)
    friendly_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    is_active = serializers.BooleanField(default=True)


@extend_schema_serializer(
    examples=[
        OpenApiExample("Answered by a flow", value={"flow_id": 3, "assistant_id": None}, request_only=True),
        OpenApiExample("Renamed", value={"friendly_name": "Clinic reminders (west)"}, request_only=True),
    ]
)
class PhoneNumberUpdateInput(serializers.Serializer[Any]):
    phone_number = PhoneNumberInputField(required=False, example="+14155550101")
    telephony_account_id = IdField(required=False)
    assistant_id = IdField(required=False, allow_null=True)
    flow_id = IdField(required=False, allow_null=True)
    friendly_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Two numbers, answered by an assistant",
            value={"phone_numbers": ["+14155550102", "+14155550103"], "assistant_id": 1},
            request_only=True,
        ),
        OpenApiExample("Every number the provider lists", value={"all": True}, request_only=True),
    ]
)
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


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Two numbers, one registered",
            value={
                "telephony_account_id": 1,
                "provider": "twilio",
                "items": [
                    {
                        "phone_number": "+14155550101",
                        "friendly_name": "Clinic reminders",
                        "provider_id": "PN0123456789abcdef0123456789abcdef",
                        "registered": True,
                        "phone_number_id": 1,
                    },
                    {
                        "phone_number": "+14155550102",
                        "friendly_name": "(415) 555-0102",
                        "provider_id": "PN1123456789abcdef0123456789abcdef",
                        "registered": False,
                        "phone_number_id": None,
                    },
                ],
                "total": 2,
            },
            response_only=True,
        )
    ]
)
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


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "One imported, one there already",
            value={
                "telephony_account_id": 1,
                "provider": "twilio",
                "imported": 1,
                "already_registered": 1,
                "skipped": 0,
                "results": [
                    {"phone_number": "+14155550102", "outcome": "imported", "phone_number_id": 2, "detail": ""},
                    {
                        "phone_number": "+14155550101",
                        "outcome": "already_registered",
                        "phone_number_id": 1,
                        "detail": "",
                    },
                ],
            },
            response_only=True,
        )
    ]
)
class PhoneNumberImportOutput(serializers.Serializer[Any]):
    telephony_account_id = serializers.IntegerField()
    provider = serializers.CharField()
    imported = serializers.IntegerField()
    already_registered = serializers.IntegerField()
    skipped = serializers.IntegerField()
    results = ImportResultOutput(many=True)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A Twilio number",
            value={
                "id": 1,
                "organization_id": 1,
                **PHONE_NUMBER,
                "provider": "twilio",
                "created_at": STAMP,
                "updated_at": STAMP,
            },
            response_only=True,
        )
    ]
)
class PhoneNumberOutput(serializers.ModelSerializer[PhoneNumber]):
    phone_number = PhoneNumberOutputField()
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


@extend_schema_serializer(
    examples=[OpenApiExample("A receptionist", value={**ASSISTANT, **SETTINGS}, request_only=True)]
)
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


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A new model, the same key",
            description="`********` keeps the stored secret.",
            value={"llm_settings": {"provider": "openai", "model": "gpt-4o", "api_key": "********"}},
            request_only=True,
        ),
        OpenApiExample("Paused", value={"is_active": False}, request_only=True),
    ]
)
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


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A receptionist (secrets masked)",
            value={
                "id": 1,
                "organization_id": 1,
                **ASSISTANT,
                **SETTINGS,
                "llm_settings": {**LLM_SETTINGS, "api_key": "********"},
                "created_at": STAMP,
                "updated_at": STAMP,
            },
            response_only=True,
        )
    ]
)
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


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Confirm an appointment",
            value={"name": "Appointment check", "base_assistant_id": 1, "definition": FLOW_DEFINITION},
            request_only=True,
        )
    ]
)
class FlowCreateInput(serializers.Serializer[Any]):
    name = StrictCharField()
    base_assistant_id = IdField()
    is_active = serializers.BooleanField(default=True)
    # Anything goes here: the service checks the definition and names each problem.
    definition = serializers.JSONField(allow_null=True)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Renamed and paused", value={"name": "Appointment check v2", "is_active": False}, request_only=True
        )
    ]
)
class FlowUpdateInput(serializers.Serializer[Any]):
    name = StrictCharField(required=False)
    base_assistant_id = IdField(required=False)
    is_active = serializers.BooleanField(required=False)
    definition = serializers.JSONField(required=False, allow_null=True)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Confirm an appointment",
            value={
                "id": 3,
                "organization_id": 1,
                "name": "Appointment check",
                "base_assistant_id": 1,
                "is_active": True,
                "definition": FLOW_DEFINITION,
                "created_at": STAMP,
                "updated_at": STAMP,
            },
            response_only=True,
        )
    ]
)
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
