from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from burki.serializers import (
    MAX_DATABASE_INTEGER,
    IdField,
    StrictCharField,
    StrictInputSerializer,
    StrictIntegerField,
)
from calls.templating import MAX_AGENDA, MAX_WELCOME_MESSAGE
from campaigns.models import Campaign, CampaignContact
from campaigns.selectors import campaign_progress
from campaigns.services import (
    MAX_ATTEMPTS,
    MAX_CONTACTS_PER_REQUEST,
    MAX_FROM_NUMBERS,
    RETRY_DELAY_RANGE,
    RETRY_OUTCOMES,
)
from telephony.numbers import InvalidPhoneNumber, normalize_e164
from telephony.serializers import PHONE_NUMBER_INPUT_HELP, PhoneNumberInputField, PhoneNumberOutputField

FROM, TO = "+14155550100", "+14155550199"
WINDOW_HELP = "In each callee's own time zone (its contact's `timezone`, else its number's)."
PROGRESS_EXAMPLE = {
    "counts": {
        "pending": 1200,
        "dialling": 10,
        "completed": 610,
        "retrying": 80,
        "failed": 40,
        "skipped": 60,
        "expired": 0,
    },
    "total": 2000,
    "calls_placed": 870,
    "answer_rate": 0.7011,
    "percent_done": 35.5,
    "estimated_finish_at": "2026-11-30T18:40:00Z",
}
CAMPAIGN_EXAMPLE: dict[str, Any] = {
    "id": 7,
    "organization_id": 1,
    "name": "December reminders",
    "status": "running",
    "from_numbers": [FROM, "+14155550101"],
    "assistant_id": None,
    "welcome_message": "Hi {{ first_name }}, this is the Acme clinic.",
    "agenda": "Remind {{ first_name }} of the appointment on {{ day }}.",
    "call_options": {"machine_detection": "hangup"},
    "starts_at": "2026-12-01T08:00:00Z",
    "ends_at": "2026-12-05T22:00:00Z",
    "window_days": [0, 1, 2, 3, 4],
    "window_start": "09:00",
    "window_end": "20:00",
    "max_concurrent_calls": 10,
    "retry_on": ["busy", "no-answer"],
    "max_attempts": 3,
    "retry_delay_seconds": 3600,
    "started_at": "2026-12-01T08:00:02.110000Z",
    "completed_at": None,
    "created_at": "2026-11-30T15:02:11.301000Z",
    "updated_at": "2026-12-01T08:00:02.110000Z",
    "progress": PROGRESS_EXAMPLE,
}
CONTACTS_EXAMPLE = {
    "contacts": [
        {"phone_number": TO, "variables": {"first_name": "Ann", "day": "Friday"}},
        {
            "phone_number": "+33612345678",
            "timezone": "Europe/Paris",
            "variables": {"first_name": "Luc", "day": "Monday"},
            "metadata": {"crm_id": "lead-43"},
        },
    ]
}
CREATE_EXAMPLE = {
    "name": "December reminders",
    "from_numbers": [FROM, "+14155550101"],
    "welcome_message": "Hi {{ first_name }}, this is the Acme clinic.",
    "agenda": "Remind {{ first_name }} of the appointment on {{ day }}.",
    "starts_at": "2026-12-01T08:00:00Z",
    "ends_at": "2026-12-05T22:00:00Z",
    "window_days": [0, 1, 2, 3, 4],
    "window_start": "09:00",
    "window_end": "20:00",
    "max_concurrent_calls": 10,
    "retry_on": ["busy", "no-answer"],
    "max_attempts": 3,
    "retry_delay_seconds": 3600,
}


@extend_schema_field({"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$", "example": "09:00"})
class LocalTimeField(serializers.TimeField):
    """A local time of day, `HH:MM` (seconds accepted on input); answered as `HH:MM`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"], **kwargs)


class FromNumbersField(serializers.ListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            child=PhoneNumberInputField(),
            min_length=1,
            max_length=MAX_FROM_NUMBERS,
            help_text=f"Your organization's active numbers, used in turn. {PHONE_NUMBER_INPUT_HELP}",
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> list[str]:
        numbers = super().to_internal_value(data)
        errors: dict[int, list[str]] = {}
        normalized = []
        for index, raw in enumerate(numbers):
            try:
                normalized.append(normalize_e164(raw))
            except InvalidPhoneNumber as exc:
                errors[index] = [str(exc)]
        if errors:
            raise serializers.ValidationError({str(index): problems for index, problems in errors.items()})
        return normalized


class CampaignSettingsInput(StrictInputSerializer):
    """The settings of a campaign; PATCH sends any of them, POST needs `name` and `from_numbers`."""

    name = StrictCharField(max_length=200)
    from_numbers = FromNumbersField()
    assistant_id = IdField(
        required=False, allow_null=True, help_text="The assistant for every call; null: each number's own."
    )
    welcome_message = StrictCharField(
        max_length=MAX_WELCOME_MESSAGE,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="A template rendered with each contact's variables (`{{ first_name }}`); empty: the assistant's.",
    )
    agenda = StrictCharField(
        max_length=MAX_AGENDA, required=False, allow_blank=True, trim_whitespace=False, help_text="A template."
    )
    call_options = serializers.DictField(
        required=False,
        help_text="Other options of each call, as for initiate: machine_detection, voicemail_message (a template), "
        "record, max_duration_seconds, ring_timeout_seconds.",
    )
    starts_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Null: as soon as it is started.")
    ends_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Contacts not reached by then are `expired`; null: no end."
    )
    window_days = serializers.ListField(
        child=StrictIntegerField(min_value=0, max_value=6),
        min_length=1,
        max_length=7,
        required=False,
        help_text=f"Days of the week calls may be placed, 0 = Monday ... 6 = Sunday. {WINDOW_HELP}",
    )
    window_start = LocalTimeField(required=False, help_text=f"Local time, e.g. 09:00. {WINDOW_HELP}")
    window_end = LocalTimeField(
        required=False,
        help_text=f"Local time, after window_start (exclusive), e.g. 20:00. {WINDOW_HELP}",
    )
    max_concurrent_calls = StrictIntegerField(
        min_value=1,
        max_value=MAX_DATABASE_INTEGER,
        required=False,
        help_text="Live calls of this campaign at once, at most the organization's max_concurrent_calls.",
    )
    retry_on = serializers.ListField(
        child=serializers.ChoiceField(choices=list(RETRY_OUTCOMES)),
        max_length=len(RETRY_OUTCOMES),
        required=False,
        help_text="Which outcomes of a call are tried again: busy, no-answer, failed.",
    )
    max_attempts = StrictIntegerField(
        min_value=1, max_value=MAX_ATTEMPTS, required=False, help_text="Calls per contact in all, first included."
    )
    retry_delay_seconds = StrictIntegerField(
        min_value=RETRY_DELAY_RANGE[0],
        max_value=RETRY_DELAY_RANGE[1],
        required=False,
        help_text="Seconds between a contact's attempts (a minute to a week).",
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample("Weekday reminders, three attempts", value=CREATE_EXAMPLE, request_only=True),
        OpenApiExample(
            "The least a campaign needs",
            description="Mon-Fri 09:00-20:00 in each callee's zone, one call at a time, one attempt.",
            value={"name": "Survey", "from_numbers": [FROM]},
            request_only=True,
        ),
    ]
)
class CampaignCreateInput(CampaignSettingsInput):
    pass


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A later end, more calls at once",
            value={"ends_at": "2026-12-12T22:00:00Z", "max_concurrent_calls": 20},
            request_only=True,
        )
    ]
)
class CampaignUpdateInput(CampaignSettingsInput):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, partial=True, **kwargs)


class CampaignListParams(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=Campaign.Status.choices, required=False)


class ContactListParams(serializers.Serializer[Any]):
    state = serializers.ChoiceField(choices=CampaignContact.State.choices, required=False)


class ProgressOutput(serializers.Serializer[Any]):
    counts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Contacts in each state: pending, dialling, completed, retrying, failed, skipped, expired.",
    )
    total = serializers.IntegerField(help_text="Contacts in all.")
    calls_placed = serializers.IntegerField(help_text="Calls (attempts) placed so far.")
    answer_rate = serializers.FloatField(
        allow_null=True, help_text="Answered calls / calls placed, 0 to 1; null before the first call."
    )
    percent_done = serializers.FloatField(help_text="Contacts in a final state, in percent.")
    estimated_finish_at = serializers.DateTimeField(
        allow_null=True,
        help_text="The pace so far carried on (never after ends_at); null before any contact finished or while "
        "not running. A finished campaign's: when it finished.",
    )


@extend_schema_serializer(examples=[OpenApiExample("Running", value=CAMPAIGN_EXAMPLE, response_only=True)])
class CampaignOutput(serializers.ModelSerializer[Campaign]):
    from_numbers = serializers.ListField(child=PhoneNumberOutputField())
    window_start = LocalTimeField()
    window_end = LocalTimeField()
    window_days = serializers.ListField(child=serializers.IntegerField())
    retry_on = serializers.ListField(child=serializers.ChoiceField(choices=list(RETRY_OUTCOMES)))
    call_options = serializers.DictField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "organization_id",
            "name",
            "status",
            "from_numbers",
            "assistant_id",
            "welcome_message",
            "agenda",
            "call_options",
            "starts_at",
            "ends_at",
            "window_days",
            "window_start",
            "window_end",
            "max_concurrent_calls",
            "retry_on",
            "max_attempts",
            "retry_delay_seconds",
            "started_at",
            "completed_at",
            "created_at",
            "updated_at",
            "progress",
        ]
        read_only_fields = fields

    @extend_schema_field(ProgressOutput(allow_null=True))
    def get_progress(self, campaign: Campaign) -> dict[str, Any] | None:
        """Only on a single campaign (GET one, and what the actions return): a list would count every campaign's."""
        if not self.context.get("progress"):
            return None
        return ProgressOutput(campaign_progress(campaign=campaign)).data


class ContactInput(StrictInputSerializer):
    phone_number = PhoneNumberInputField(example=TO, max_length=64)
    timezone = StrictCharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="IANA name (America/New_York); empty: the number's own zones (all of them must be in the window).",
    )
    variables = serializers.DictField(required=False, help_text="Template variables of this contact.")
    metadata = serializers.DictField(required=False, help_text="Yours, kept with the contact (at most 16 KB).")


@extend_schema_field(ContactInput(many=True))
class ContactListField(serializers.ListField):
    """Each item is judged by the import, so that a bad one is reported with its line, not as a 400 of the list."""


class ContactsImportInput(StrictInputSerializer):
    contacts = ContactListField(
        child=serializers.JSONField(),
        min_length=1,
        max_length=MAX_CONTACTS_PER_REQUEST,
        help_text=f"At most {MAX_CONTACTS_PER_REQUEST:,} a request.",
    )


class ContactsUploadInput(serializers.Serializer[Any]):
    file = serializers.FileField(
        help_text="A CSV file, UTF-8: a header line naming `phone_number`, optional `timezone`, and any other column "
        "as a template variable."
    )


IMPORT_OUTPUT_EXAMPLES = [
    OpenApiExample(
        "Imported, one number suppressed",
        value={
            "imported": 2,
            "pending": 1,
            "skipped": [{"line": 2, "phone_number": "+33612345678", "reason": "suppressed"}],
            "total_contacts": 2,
        },
        response_only=True,
        status_codes=["201"],
    )
]


class RowOutput(serializers.Serializer[Any]):
    line = serializers.IntegerField(help_text="JSON: the position in `contacts` (1 = first); CSV: the file's line.")
    phone_number = serializers.CharField(help_text="E.164 when it is a number; else as given.")
    reason = serializers.CharField()


class ImportOutput(serializers.Serializer[Any]):
    imported = serializers.IntegerField(help_text="Contacts added by this request.")
    pending = serializers.IntegerField(help_text="Of those, to be called.")
    skipped = RowOutput(many=True, help_text="Imported but never called: the number is suppressed.")
    total_contacts = serializers.IntegerField(help_text="The campaign's contacts now.")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Pending",
            value={
                "id": 31,
                "line": 1,
                "phone_number": TO,
                "timezone": "",
                "variables": {"first_name": "Ann"},
                "metadata": {"crm_id": "lead-42"},
                "state": "pending",
                "reason": "",
                "attempts": 0,
                "next_attempt_at": None,
                "last_call_id": None,
                "updated_at": "2026-11-30T15:04:20.002000Z",
            },
            response_only=True,
        )
    ]
)
class ContactOutput(serializers.ModelSerializer[CampaignContact]):
    phone_number = PhoneNumberOutputField(example=TO)

    class Meta:
        model = CampaignContact
        fields = [
            "id",
            "line",
            "phone_number",
            "timezone",
            "variables",
            "metadata",
            "state",
            "reason",
            "attempts",
            "next_attempt_at",
            "last_call_id",
            "updated_at",
        ]
        read_only_fields = fields
