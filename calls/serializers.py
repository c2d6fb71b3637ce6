from __future__ import annotations

from typing import Any

from rest_framework import serializers

from assistants.models import Assistant, ConversationFlow
from burki.serializers import IdField, StrictCharField
from calls.models import Call, CallEvent
from calls.services import MAX_AGENDA, MAX_WELCOME_MESSAGE


class CallInitiateInput(serializers.Serializer[Any]):
    # Format (E.164) is checked by the service, so the admin and the command get the same rules.
    from_phone_number = StrictCharField(max_length=32)
    to_phone_number = StrictCharField(max_length=32)
    assistant_id = IdField(required=False, allow_null=True)
    welcome_message = StrictCharField(
        max_length=MAX_WELCOME_MESSAGE,
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
    )
    agenda = StrictCharField(
        max_length=MAX_AGENDA, required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    variables = serializers.DictField(required=False, allow_null=True, allow_empty=True)


class CallInitiateOutput(serializers.Serializer[Call]):
    success = serializers.SerializerMethodField()
    message = serializers.SerializerMethodField()
    call_sid = serializers.CharField()
    call_id = serializers.IntegerField(source="pk")
    status = serializers.CharField()
    from_number = serializers.CharField()
    to_number = serializers.CharField()

    def get_success(self, call: Call) -> bool:
        return True

    def get_message(self, call: Call) -> str:
        return "Call initiated successfully"


class CallOutput(serializers.ModelSerializer[Call]):
    """The call object of Burki's published API, plus our own fields beside it."""

    customer_phone = serializers.CharField(source="to_number")
    twilio_phone = serializers.CharField(source="from_number")
    telephony_provider = serializers.CharField(source="provider")
    assistant_name = serializers.SerializerMethodField()

    class Meta:
        model = Call
        fields = [
            "id",
            "organization_id",
            "assistant_id",
            "assistant_name",
            "flow_id",
            "phone_number_id",
            "call_sid",
            "status",
            "direction",
            "customer_phone",
            "twilio_phone",
            "from_number",
            "to_number",
            "telephony_provider",
            "duration",
            "started_at",
            "answered_at",
            "ended_at",
            "created_at",
            "updated_at",
            "welcome_message",
            "agenda",
            "variables",
            "metadata",
            "error_message",
            "end_reason",
        ]
        read_only_fields = fields

    def get_assistant_name(self, call: Call) -> str | None:
        return call.assistant.name if call.assistant is not None else None


class CallEventOutput(serializers.ModelSerializer[CallEvent]):
    class Meta:
        model = CallEvent
        fields = ["id", "call_id", "provider", "event_type", "status", "payload", "received_at"]
        read_only_fields = fields


class _ContextAssistant(serializers.ModelSerializer[Assistant]):
    # The voice engine gets the settings whole, provider keys included: it is the one party that uses them.
    class Meta:
        model = Assistant
        fields = [
            "id",
            "name",
            "max_call_length",
            "llm_settings",
            "tts_settings",
            "stt_settings",
            "custom_settings",
        ]


class _ContextFlow(serializers.ModelSerializer[ConversationFlow]):
    class Meta:
        model = ConversationFlow
        fields = ["id", "name", "definition"]


class CallContextOutput(serializers.ModelSerializer[Call]):
    call_id = serializers.IntegerField(source="pk")
    assistant = _ContextAssistant()
    flow = _ContextFlow(allow_null=True)

    class Meta:
        model = Call
        fields = [
            "call_id",
            "organization_id",
            "call_sid",
            "status",
            "direction",
            "from_number",
            "to_number",
            "welcome_message",
            "agenda",
            "variables",
            "assistant",
            "flow",
        ]
        read_only_fields = fields
