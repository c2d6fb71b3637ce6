from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from assistants.models import Assistant, ConversationFlow
from burki.serializers import FieldsBuiltOnce, IdField, StrictBooleanField, StrictCharField, StrictIntegerField
from calls.models import Call, CallEvent, Suppression
from calls.options import MAX_DURATION_RANGE, RING_TIMEOUT_RANGE
from calls.selectors import CallFilters
from calls.suppressions import MAX_BULK_ROWS, MAX_REASON
from calls.templating import MAX_AGENDA, MAX_VOICEMAIL_MESSAGE, MAX_WELCOME_MESSAGE
from telephony.detection import AnsweredBy, MachineDetection
from telephony.numbers import InvalidPhoneNumber, normalize_e164
from telephony.serializers import PHONE_NUMBER_INPUT_HELP, PhoneNumberInputField, PhoneNumberOutputField
from telephony.status import CallStatus

# What the OpenAPI examples show: one call, as it goes. A Twilio call id, and the fictional +1 415 555 01xx range.
CALL_SID = "CA5f0c1e2d3b4a69788796a5b4c3d2e1f0"
FROM, TO = "+14155550100", "+14155550199"
VARIABLES = {"name": "Ann", "day": "Friday"}
METADATA = {"crm_id": "lead-42"}
WELCOME = "Hi Ann, this is the Acme clinic."
AGENDA = "Confirm Ann's appointment on Friday."
CALL_EXAMPLE: dict[str, Any] = {
    "id": 42,
    "organization_id": 1,
    "assistant_id": 1,
    "assistant_name": "Receptionist",
    "flow_id": None,
    "phone_number_id": 1,
    "call_sid": CALL_SID,
    "status": "completed",
    "direction": "outbound",
    "customer_phone": TO,
    "twilio_phone": FROM,
    "from_number": FROM,
    "to_number": TO,
    "telephony_provider": "twilio",
    "duration": 42,
    "started_at": "2026-11-30T10:47:11.604000Z",
    "answered_at": "2026-11-30T10:47:18.220000Z",
    "ended_at": "2026-11-30T10:48:00.431000Z",
    "created_at": "2026-11-30T10:47:11.512000Z",
    "updated_at": "2026-11-30T10:48:00.431000Z",
    "welcome_message": WELCOME,
    "agenda": AGENDA,
    "variables": VARIABLES,
    "metadata": METADATA,
    "error_message": "",
    "end_reason": "hangup",
    "machine_detection": "detect",
    "answered_by": "human",
    "voicemail_message": "",
    "record": True,
    "recording_url": "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/RE0123456789abcdef0123456789abcdef",
    "recording_duration": 41,
    "max_duration_seconds": 1800,
    "ring_timeout_seconds": 30,
    "campaign_id": None,
}


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A call with templates",
            description="The number's assistant speaks; `{{ name }}` and `{{ day }}` come from `variables`.",
            value={
                "from_phone_number": FROM,
                "to_phone_number": TO,
                "welcome_message": "Hi {{ name }}, this is the Acme clinic.",
                "agenda": "Confirm {{ name }}'s appointment on {{ day }}.",
                "variables": VARIABLES,
                "metadata": METADATA,
            },
            request_only=True,
        ),
        OpenApiExample(
            "The least a call needs",
            description="The number's flow or assistant, with its own greeting.",
            value={"from_phone_number": FROM, "to_phone_number": TO},
            request_only=True,
        ),
        OpenApiExample(
            "Another assistant",
            value={"from_phone_number": "+1 (415) 555-0100", "to_phone_number": TO, "assistant_id": 2},
            request_only=True,
        ),
    ]
)
class CallInitiateInput(FieldsBuiltOnce):
    # Format (E.164) is checked by the service, so the admin and the command get the same rules.
    from_phone_number = PhoneNumberInputField(
        help_text=f"One of your organization's active numbers. {PHONE_NUMBER_INPUT_HELP}"
    )
    to_phone_number = PhoneNumberInputField(
        example="+14155550199",
        help_text=f"Whom to call: a valid number, not the from-number, never an emergency number or a short code, "
        f"allowed by the organization's destination policy. {PHONE_NUMBER_INPUT_HELP}",
    )
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
    # Stored on the call as given and returned with it; its limits (16 KB, depth) are checked by the service.
    metadata = serializers.DictField(required=False, allow_null=True, allow_empty=True)
    machine_detection = serializers.ChoiceField(
        choices=MachineDetection.choices,
        required=False,
        allow_null=True,
        help_text="What to do when an answering machine answers: off, detect (report only), hangup, leave_message "
        "(say voicemail_message after the beep, then hang up). Default: the assistant's.",
    )
    voicemail_message = StrictCharField(
        max_length=MAX_VOICEMAIL_MESSAGE,
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        help_text="A template, like welcome_message; said in leave_message mode. Default: the assistant's.",
    )
    record = StrictBooleanField(
        required=False, allow_null=True, help_text="Have the carrier record the call. Default: the assistant's."
    )
    max_duration_seconds = StrictIntegerField(
        min_value=MAX_DURATION_RANGE[0],
        max_value=MAX_DURATION_RANGE[1],
        required=False,
        allow_null=True,
        help_text="The call's time limit at the carrier. Default: the assistant's max_call_length.",
    )
    ring_timeout_seconds = StrictIntegerField(
        min_value=RING_TIMEOUT_RANGE[0],
        max_value=RING_TIMEOUT_RANGE[1],
        required=False,
        allow_null=True,
        help_text="How long the carrier lets it ring. Default: the server's TELEPHONY_RING_TIMEOUT (30).",
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Placed",
            value={
                "success": True,
                "message": "Call initiated successfully",
                "call_sid": CALL_SID,
                "call_id": 42,
                "status": "queued",
                "from_number": FROM,
                "to_number": TO,
            },
            response_only=True,
        )
    ]
)
class CallInitiateOutput(FieldsBuiltOnce):
    success = serializers.SerializerMethodField()
    message = serializers.SerializerMethodField()
    call_sid = serializers.CharField()
    call_id = serializers.IntegerField(source="pk")
    status = serializers.CharField()
    from_number = PhoneNumberOutputField()
    to_number = PhoneNumberOutputField(example="+14155550199")

    def get_success(self, call: Call) -> bool:
        return True

    def get_message(self, call: Call) -> str:
        return "Call initiated successfully"


# The call object's fields and where each comes from: a column of Call, or the assistant's name.
CALL_SOURCES = {
    "id": "id",
    "organization_id": "organization_id",
    "assistant_id": "assistant_id",
    "assistant_name": "assistant__name",
    "flow_id": "flow_id",
    "phone_number_id": "phone_number_id",
    "call_sid": "call_sid",
    "status": "status",
    "direction": "direction",
    "customer_phone": "to_number",
    "twilio_phone": "from_number",
    "from_number": "from_number",
    "to_number": "to_number",
    "telephony_provider": "provider",
    "duration": "duration",
    "started_at": "started_at",
    "answered_at": "answered_at",
    "ended_at": "ended_at",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "welcome_message": "welcome_message",
    "agenda": "agenda",
    "variables": "variables",
    "metadata": "metadata",
    "error_message": "error_message",
    "end_reason": "end_reason",
    "machine_detection": "machine_detection",
    "answered_by": "answered_by",
    "voicemail_message": "voicemail_message",
    "record": "record",
    "recording_url": "recording_url",
    "recording_duration": "recording_duration",
    "max_duration_seconds": "max_duration_seconds",
    "ring_timeout_seconds": "ring_timeout_seconds",
    "campaign_id": "campaign_id",
}
_DATETIMES = ("started_at", "answered_at", "ended_at", "created_at", "updated_at")


def call_object(row: Mapping[str, Any]) -> dict[str, Any]:
    """The call object (CallOutput) from a row of CALL_SOURCES' values, e.g. `.values(*CALL_SOURCES.values())`."""
    call = {name: row[source] for name, source in CALL_SOURCES.items()}
    for name in _DATETIMES:
        if call[name] is not None:
            # As DRF writes them, in UTC (the API's time zone): 2026-05-04T12:00:00.123456Z.
            call[name] = call[name].astimezone(UTC).isoformat().replace("+00:00", "Z")
    return call


def answered_by_field() -> serializers.ChoiceField:
    # Empty until the carrier's detection says who answered (and for calls that do not detect): documented, so that
    # clients and the schema agree on "".
    return serializers.ChoiceField(
        choices=AnsweredBy.choices, allow_blank=True, read_only=True, help_text="Empty until detection has said."
    )


@extend_schema_serializer(examples=[OpenApiExample("A completed call", value=CALL_EXAMPLE, response_only=True)])
class CallOutput(serializers.ModelSerializer[Call]):
    """The call object of Burki's published API, plus our own fields beside it."""

    customer_phone = PhoneNumberOutputField(source="to_number", redactable=True, example="+14155550199")
    twilio_phone = PhoneNumberOutputField(source="from_number", redactable=True)
    from_number = PhoneNumberOutputField(redactable=True)
    to_number = PhoneNumberOutputField(redactable=True, example="+14155550199")
    telephony_provider = serializers.CharField(source="provider")
    assistant_name = serializers.SerializerMethodField()
    answered_by = answered_by_field()

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
            "machine_detection",
            "answered_by",
            "voicemail_message",
            "record",
            "recording_url",
            "recording_duration",
            "max_duration_seconds",
            "ring_timeout_seconds",
            "campaign_id",
        ]
        read_only_fields = fields

    def get_assistant_name(self, call: Call) -> str | None:
        return call.assistant.name if call.assistant is not None else None

    def to_representation(self, call: Call) -> dict[str, Any]:
        # DRF's generic path costs about 100 µs a call: most of a page's time. The same object, built directly
        # (tests/test_calls_read.py holds it to DRF's own).
        row = {source: getattr(call, source) for source in CALL_SOURCES.values() if source != "assistant__name"}
        row["assistant__name"] = self.get_assistant_name(call)
        return call_object(row)


class CallRowOutput(serializers.BaseSerializer[dict[str, Any]]):
    """CallOutput's object from a `.values(*CALL_SOURCES.values())` row: a list page's calls need no models."""

    def to_representation(self, row: dict[str, Any]) -> dict[str, Any]:
        return call_object(row)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Twilio's completed callback",
            value={
                "id": 170,
                "call_id": 42,
                "provider": "twilio",
                "event_type": "completed",
                "status": "completed",
                "payload": {"CallSid": CALL_SID, "CallStatus": "completed", "CallDuration": "42"},
                "received_at": "2026-11-30T10:48:00.431000Z",
            },
            response_only=True,
        )
    ]
)
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


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "An answered call",
            value={
                "call_id": 42,
                "organization_id": 1,
                "call_sid": CALL_SID,
                "status": "in-progress",
                "direction": "outbound",
                "from_number": FROM,
                "to_number": TO,
                "welcome_message": WELCOME,
                "agenda": AGENDA,
                "variables": VARIABLES,
                "machine_detection": "detect",
                "answered_by": "human",
                "assistant": {
                    "id": 1,
                    "name": "Receptionist",
                    "max_call_length": 1800,
                    "llm_settings": {"provider": "openai", "model": "gpt-4o-mini", "api_key": "sk-…"},
                    "tts_settings": {"provider": "elevenlabs", "voice_id": "21m00Tcm4TlvDq8ikWAM"},
                    "stt_settings": {"provider": "deepgram", "language": "en-US"},
                    "custom_settings": {},
                },
                "flow": None,
            },
            response_only=True,
        )
    ]
)
class CallContextOutput(serializers.ModelSerializer[Call]):
    call_id = serializers.IntegerField(source="pk")
    from_number = PhoneNumberOutputField()
    to_number = PhoneNumberOutputField(example="+14155550199")
    assistant = _ContextAssistant()
    flow = _ContextFlow(allow_null=True)

    answered_by = answered_by_field()

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
            "machine_detection",
            "answered_by",
            "assistant",
            "flow",
        ]
        read_only_fields = fields


class FlexibleDateTimeField(serializers.DateTimeField):
    """ISO 8601 date-time, or a plain date (the start of that day, or its end with `end_of_day`)."""

    def __init__(self, *, end_of_day: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.end_of_day = end_of_day

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, str) and len(value) == 10:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                self.fail("invalid", format="YYYY-MM-DD or an ISO 8601 date-time")
            moment = datetime.combine(day, time.max if self.end_of_day else time.min)
            return timezone.make_aware(moment, UTC)
        return super().to_internal_value(value)


class CallListFilters(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=CallStatus.choices, required=False)
    assistant_id = serializers.IntegerField(min_value=1, max_value=2**62, required=False)
    campaign_id = serializers.IntegerField(
        min_value=1, max_value=2**62, required=False, help_text="Calls placed by this campaign."
    )
    customer_phone = PhoneNumberInputField(
        required=False, example="+14155550199", help_text=f"Calls to this number. {PHONE_NUMBER_INPUT_HELP}"
    )
    call_sid = serializers.CharField(max_length=128, required=False)
    date_from = FlexibleDateTimeField(required=False)
    date_to = FlexibleDateTimeField(required=False, end_of_day=True)
    min_duration = serializers.IntegerField(min_value=0, max_value=10**7, required=False)
    max_duration = serializers.IntegerField(min_value=0, max_value=10**7, required=False)

    def validate_customer_phone(self, value: str) -> str:
        try:
            return normalize_e164(value)
        except InvalidPhoneNumber as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": ["Must not be before date_from."]})
        return attrs

    def filters(self) -> CallFilters:
        data = self.validated_data
        return CallFilters(
            status=data.get("status"),
            assistant_id=data.get("assistant_id"),
            campaign_id=data.get("campaign_id"),
            customer_phone=data.get("customer_phone"),
            call_sid=data.get("call_sid"),
            created_from=data.get("date_from"),
            created_to=data.get("date_to"),
            min_duration=data.get("min_duration"),
            max_duration=data.get("max_duration"),
        )


class CallExportParams(CallListFilters):
    format = serializers.ChoiceField(
        choices=["csv", "ndjson"],
        required=False,
        help_text="csv (the default) or ndjson; without it, `Accept: application/x-ndjson` asks for NDJSON.",
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Hung up while ringing",
            value={
                "success": True,
                "message": "Call terminated",
                "call_id": 42,
                "call_sid": CALL_SID,
                "status": "canceled",
            },
            response_only=True,
        )
    ]
)
class CallTerminateOutput(serializers.Serializer[Call]):
    success = serializers.SerializerMethodField()
    message = serializers.SerializerMethodField()
    call_id = serializers.IntegerField(source="pk")
    call_sid = serializers.CharField()
    status = serializers.CharField()

    def get_success(self, call: Call) -> bool:
        return True

    def get_message(self, call: Call) -> str:
        return "Call terminated"


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Before the provider named it",
            description="The dial timed out (`unknown`, no `call_sid`): recorded as canceled at once.",
            value={"success": True, "message": "Call canceled", "call_id": 42, "call_sid": None, "status": "canceled"},
            response_only=True,
        ),
        OpenApiExample(
            "Hung up through the provider",
            value={
                "success": True,
                "message": "Call canceled",
                "call_id": 42,
                "call_sid": CALL_SID,
                "status": "completed",
            },
            response_only=True,
        ),
    ]
)
class CallCancelOutput(CallTerminateOutput):
    call_sid = serializers.CharField(
        allow_null=True,
        help_text="The provider's call id; null when the call was canceled before the provider named it.",
    )

    def get_message(self, call: Call) -> str:
        return "Call canceled"


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Would be placed",
            value={
                "valid": True,
                "message": "The call would be placed.",
                "from_number": FROM,
                "to_number": TO,
                "assistant_id": 1,
                "flow_id": None,
                "telephony_provider": "twilio",
                "telephony_account_id": 1,
                "welcome_message": WELCOME,
                "agenda": AGENDA,
                "variables": VARIABLES,
                "metadata": METADATA,
                "machine_detection": "off",
                "voicemail_message": "",
                "record": False,
                "max_duration_seconds": 1800,
                "ring_timeout_seconds": 30,
            },
            response_only=True,
        )
    ]
)
class CallValidateOutput(serializers.Serializer[Any]):
    """What initiate would do with the same body."""

    valid = serializers.SerializerMethodField()
    message = serializers.SerializerMethodField()
    from_number = PhoneNumberOutputField()
    to_number = PhoneNumberOutputField(example="+14155550199")
    assistant_id = serializers.IntegerField(source="assistant.pk")
    flow_id = serializers.SerializerMethodField()
    telephony_provider = serializers.CharField(source="number.telephony_account.provider")
    telephony_account_id = serializers.IntegerField(source="number.telephony_account.pk")
    welcome_message = serializers.CharField()
    agenda = serializers.CharField()
    variables = serializers.DictField()
    metadata = serializers.DictField()
    machine_detection = serializers.ChoiceField(choices=MachineDetection.choices)
    voicemail_message = serializers.CharField(help_text="Rendered; empty unless machine_detection is leave_message.")
    record = serializers.BooleanField()
    max_duration_seconds = serializers.IntegerField()
    ring_timeout_seconds = serializers.IntegerField()

    def get_valid(self, plan: Any) -> bool:
        return True

    def get_message(self, plan: Any) -> str:
        return "The call would be placed."

    def get_flow_id(self, plan: Any) -> int | None:
        return plan.flow.pk if plan.flow is not None else None


# --- the do-not-call list (suppressions) ------------------------------------------------------------------------

SUPPRESSION_EXAMPLE: dict[str, Any] = {
    "id": 7,
    "organization_id": 1,
    "phone_number": TO,
    "reason": "Asked not to be called again.",
    "source": "api",
    "call_id": None,
    "created_at": "2026-11-30T11:02:40.118000Z",
}


@extend_schema_serializer(
    examples=[
        OpenApiExample("Added through the API", value=SUPPRESSION_EXAMPLE, response_only=True),
        OpenApiExample(
            "A callee's opt-out",
            value={**SUPPRESSION_EXAMPLE, "reason": "Said: stop calling me.", "source": "opt-out", "call_id": 42},
            response_only=True,
        ),
    ]
)
class SuppressionOutput(serializers.ModelSerializer[Suppression]):
    phone_number = PhoneNumberOutputField(example=TO)
    call_id = serializers.IntegerField(
        allow_null=True, help_text="With source opt-out: the call in which the callee asked (null once it is deleted)."
    )

    class Meta:
        model = Suppression
        fields = ["id", "organization_id", "phone_number", "reason", "source", "call_id", "created_at"]
        read_only_fields = fields


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "One number",
            value={"phone_number": "+1 (415) 555-0199", "reason": "Asked not to be called again."},
            request_only=True,
        ),
    ]
)
class SuppressionCreateInput(serializers.Serializer[Any]):
    # Normalized (E.164) by the service, with initiate's rules and messages.
    phone_number = PhoneNumberInputField(example=TO, help_text=f"The number never to call. {PHONE_NUMBER_INPUT_HELP}")
    reason = StrictCharField(max_length=MAX_REASON, required=False, allow_blank=True, default="")


class SuppressionListFilters(serializers.Serializer[Any]):
    phone_number = PhoneNumberInputField(
        required=False, example=TO, help_text=f"This number's entry, if it has one. {PHONE_NUMBER_INPUT_HELP}"
    )
    # A declared field, popped from the class by DRF's metaclass: it does not replace Field.source.
    source = serializers.ChoiceField(choices=Suppression.Source.choices, required=False)  # type: ignore[assignment]

    def validate_phone_number(self, value: str) -> str:
        try:
            return normalize_e164(value)
        except InvalidPhoneNumber as exc:
            raise serializers.ValidationError(str(exc)) from None


class _BulkItem(serializers.Serializer[Any]):
    phone_number = PhoneNumberInputField(example=TO)
    reason = StrictCharField(
        max_length=MAX_REASON, required=False, allow_blank=True, help_text="Default: the request's `reason`."
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Three rows, one given twice",
            value={
                "items": [
                    {"phone_number": "+14155550199", "reason": "Asked on the phone."},
                    {"phone_number": "+1 415 555 0198"},
                    {"phone_number": "+14155550199"},
                ],
                "reason": "Imported from the CRM's opt-out list.",
            },
            request_only=True,
        ),
    ]
)
class SuppressionBulkInput(serializers.Serializer[Any]):
    """Documents the JSON body; calls.suppressions.json_rows reads it (row by row, with each refusal's position)."""

    items = serializers.ListField(
        child=_BulkItem(),
        min_length=1,
        max_length=MAX_BULK_ROWS,
        help_text=f"At most {MAX_BULK_ROWS:,} rows. A row may also be just the number, as a string.",
    )
    reason = StrictCharField(
        max_length=MAX_REASON, required=False, allow_blank=True, help_text="For the rows that give none."
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Two added, one already on the list, one duplicate merged",
            value={
                "received": 4,
                "created": 2,
                "duplicates_merged": 1,
                "already_suppressed_count": 1,
                "already_suppressed": ["+14155550197"],
            },
            response_only=True,
        )
    ]
)
class SuppressionBulkOutput(serializers.Serializer[Any]):
    received = serializers.IntegerField(help_text="Rows in the request.")
    created = serializers.IntegerField(help_text="Numbers added to the list now.")
    duplicates_merged = serializers.IntegerField(help_text="Rows that repeated a number given earlier in the request.")
    already_suppressed_count = serializers.SerializerMethodField(help_text="Numbers that were on the list already.")
    already_suppressed = serializers.ListField(
        child=PhoneNumberOutputField(), help_text="Those numbers (their entries are left as they were)."
    )

    def get_already_suppressed_count(self, result: Any) -> int:
        return len(result.already_suppressed)


@extend_schema_serializer(
    examples=[OpenApiExample("What the callee said", value={"reason": "Said: stop calling me."}, request_only=True)]
)
class CallOptOutInput(serializers.Serializer[Any]):
    reason = StrictCharField(
        max_length=MAX_REASON,
        required=False,
        allow_blank=True,
        help_text="Default: 'Opted out during the call.'",
    )
