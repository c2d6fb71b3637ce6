"""The per-call options of initiate and validate (machine detection, voicemail message, recording, limits), their
assistant defaults, bounds and templates; and the assistant's own defaults through its API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from calls.models import Call
from telephony.backends import sandbox
from tests.factories import ApiKeyFactory, AssistantFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

BODY = {"from_phone_number": "+14155550100", "to_phone_number": "+14155550199"}
EFFECTIVE = ("machine_detection", "voicemail_message", "record", "max_duration_seconds", "ring_timeout_seconds")


def validate(api: Any, **body: Any) -> Any:
    return api.post("/api/v1/calls/validate", {**BODY, **body}, format="json")


def initiate(api: Any, **body: Any) -> Any:
    return api.post("/calls/initiate", {**BODY, **body}, format="json")


def effective(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    return {name: response.json()[name] for name in EFFECTIVE}


# --- effective values -------------------------------------------------------------------------------------------


def test_validate_reports_the_assistants_defaults_when_the_call_gives_none(api: Any, number: Any) -> None:
    assert effective(validate(api)) == {
        "machine_detection": "off",
        "voicemail_message": "",
        "record": False,
        "max_duration_seconds": number.assistant.max_call_length,
        "ring_timeout_seconds": 30,
    }


def test_validate_reports_the_assistants_own_choices_with_its_voicemail_message_rendered(api: Any, number: Any) -> None:
    assistant = number.assistant
    assistant.machine_detection = "leave_message"
    assistant.voicemail_message = "Hi {{ name }}, it's {{ company | default('Burki') }}: call us back."
    assistant.record = True
    assistant.max_call_length = 120
    assistant.save()

    assert effective(validate(api, variables={"name": "Ann"})) == {
        "machine_detection": "leave_message",
        "voicemail_message": "Hi Ann, it's Burki: call us back.",
        "record": True,
        "max_duration_seconds": 120,
        "ring_timeout_seconds": 30,
    }


def test_the_calls_options_override_the_assistants(api: Any, number: Any) -> None:
    assistant = number.assistant
    assistant.machine_detection, assistant.voicemail_message, assistant.record = "leave_message", "Assistant's.", True
    assistant.save()

    response = validate(
        api,
        machine_detection="leave_message",
        voicemail_message="Call's own, {{ name }}.",
        record=False,
        max_duration_seconds=10,
        ring_timeout_seconds=120,
        variables={"name": "Bo"},
    )

    assert effective(response) == {
        "machine_detection": "leave_message",
        "voicemail_message": "Call's own, Bo.",
        "record": False,
        "max_duration_seconds": 10,
        "ring_timeout_seconds": 120,
    }


def test_initiate_records_the_effective_options_on_the_call_and_sends_them_to_the_carrier(
    api: Any, number: Any
) -> None:
    response = initiate(
        api,
        machine_detection="hangup",
        record=True,
        max_duration_seconds=14400,
        ring_timeout_seconds=5,
    )

    assert response.status_code == 200, response.content
    call = Call.objects.get()
    assert (call.machine_detection, call.record, call.max_duration_seconds, call.ring_timeout_seconds) == (
        "hangup",
        True,
        14400,
        5,
    )
    assert call.voicemail_message == ""  # only leave_message says one
    [sent] = sandbox.outbox
    request = sent.request
    assert (request.machine_detection, request.record, request.time_limit, request.ring_timeout) == (
        "hangup",
        True,
        14400,
        5,
    )
    shown = api.get(f"/api/v1/calls/{call.pk}").json()
    assert {name: shown[name] for name in EFFECTIVE} == {
        "machine_detection": "hangup",
        "voicemail_message": "",
        "record": True,
        "max_duration_seconds": 14400,
        "ring_timeout_seconds": 5,
    }
    assert (shown["answered_by"], shown["recording_url"], shown["recording_duration"]) == ("", "", None)


# --- templates --------------------------------------------------------------------------------------------------


def test_a_voicemail_message_missing_a_variable_is_a_400_naming_it_and_nothing_is_dialled(
    api: Any, number: Any
) -> None:
    response = initiate(api, machine_detection="leave_message", voicemail_message="Hi {{ first_name }} {{ last }}")

    assert response.status_code == 400
    assert response.json()["detail"] == "Missing template variables: first_name, last."
    assert response.json()["missing_variables"] == ["first_name", "last"]
    assert response.json()["errors"] == {
        "voicemail_message": ["Missing variable: first_name", "Missing variable: last"]
    }
    assert Call.objects.count() == 0
    assert sandbox.outbox == []


def test_missing_variables_of_welcome_and_voicemail_are_named_together(api: Any, number: Any) -> None:
    response = validate(
        api, welcome_message="Hi {{ a }}", machine_detection="leave_message", voicemail_message="Bye {{ b }}"
    )

    assert response.status_code == 400
    assert response.json()["missing_variables"] == ["a", "b"]


def test_leave_message_without_any_voicemail_message_is_a_400(api: Any, number: Any) -> None:
    response = validate(api, machine_detection="leave_message")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"voicemail_message"}


def test_the_voicemail_message_is_neither_rendered_nor_checked_where_it_is_never_said(api: Any, number: Any) -> None:
    number.assistant.voicemail_message = "Hi {{ never_given }}"
    number.assistant.save()

    assert effective(validate(api, machine_detection="detect"))["voicemail_message"] == ""


def test_a_voicemail_message_longer_than_1000_characters_after_rendering_is_a_400(api: Any, number: Any) -> None:
    response = validate(
        api,
        machine_detection="leave_message",
        voicemail_message="{{ a }}{{ b }}",
        variables={"a": "x" * 600, "b": "y" * 600},
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"voicemail_message": ["At most 1000 characters after rendering (got 1200)."]}


# --- bounds and types -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_duration_seconds", 9),
        ("max_duration_seconds", 14401),
        ("max_duration_seconds", "600"),
        ("max_duration_seconds", 60.5),
        ("ring_timeout_seconds", 4),
        ("ring_timeout_seconds", 121),
        ("ring_timeout_seconds", True),
        ("record", "true"),
        ("record", 1),
        ("machine_detection", "maybe"),
        ("machine_detection", True),
    ],
)
def test_options_out_of_bounds_or_of_the_wrong_type_are_a_400_naming_the_field(
    api: Any, number: Any, field: str, value: Any
) -> None:
    for path in ("/api/v1/calls/validate", "/calls/initiate"):
        response = api.post(path, {**BODY, field: value}, format="json")

        assert response.status_code == 400, response.content
        assert set(response.json()["errors"]) == {field}
    assert Call.objects.count() == 0


def test_the_service_checks_the_options_itself_for_the_admin_and_commands(number: Any) -> None:
    from burki.errors import InvalidInput
    from calls.services import call_validate

    with pytest.raises(InvalidInput) as caught:
        call_validate(
            organization=number.organization,
            from_number="+14155550100",
            to_number="+14155550199",
            machine_detection="sometimes",
            record="yes",
            max_duration_seconds=5,
            ring_timeout_seconds=600,
        )

    assert set(caught.value.errors or {}) == {
        "machine_detection",
        "record",
        "max_duration_seconds",
        "ring_timeout_seconds",
    }


def test_explicit_nulls_mean_the_assistants_defaults(api: Any, number: Any) -> None:
    response = validate(
        api,
        machine_detection=None,
        voicemail_message=None,
        record=None,
        max_duration_seconds=None,
        ring_timeout_seconds=None,
    )

    assert effective(response)["machine_detection"] == "off"
    assert effective(response)["max_duration_seconds"] == number.assistant.max_call_length


def test_a_member_may_place_a_call_with_every_option(organization: Any, number: Any, client_for: Any) -> None:
    member = client_for(ApiKeyFactory(organization=organization, role="member").raw_key)

    response = initiate(member, machine_detection="detect", record=True, ring_timeout_seconds=20)

    assert response.status_code == 200, response.content


# --- the assistant's defaults ------------------------------------------------------------------------------------


def test_an_assistant_keeps_its_machine_detection_voicemail_message_and_recording(api: Any, organization: Any) -> None:
    created = api.post(
        "/api/v1/assistants",
        {
            "name": "Dialer",
            "machine_detection": "leave_message",
            "voicemail_message": "Hi {{ name }}, call us back.",
            "record": True,
        },
        format="json",
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["machine_detection"], body["voicemail_message"], body["record"]) == (
        "leave_message",
        "Hi {{ name }}, call us back.",
        True,
    )
    changed = api.patch(f"/api/v1/assistants/{body['id']}", {"machine_detection": "hangup"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["machine_detection"] == "hangup"


def test_a_new_assistant_detects_nothing_and_records_nothing(api: Any, organization: Any) -> None:
    body = api.post("/api/v1/assistants", {"name": "Plain"}, format="json").json()

    assert (body["machine_detection"], body["voicemail_message"], body["record"]) == ("off", "", False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"machine_detection": "leave_message"}, "voicemail_message"),
        ({"machine_detection": "leave_message", "voicemail_message": "   "}, "voicemail_message"),
        ({"machine_detection": "whenever"}, "machine_detection"),
        ({"record": "yes"}, "record"),
        ({"voicemail_message": "x" * 1001}, "voicemail_message"),
    ],
)
def test_an_assistant_with_unusable_voicemail_settings_is_a_400(
    api: Any, organization: Any, body: dict[str, Any], field: str
) -> None:
    response = api.post("/api/v1/assistants", {"name": "Dialer", **body}, format="json")

    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == {field}


def test_an_assistant_cannot_be_switched_to_leave_message_without_a_voicemail_message(
    api: Any, organization: Any
) -> None:
    assistant = AssistantFactory(organization=organization)

    response = api.patch(f"/api/v1/assistants/{assistant.pk}", {"machine_detection": "leave_message"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"voicemail_message"}
    assistant.refresh_from_db()
    assert assistant.machine_detection == "off"


# --- the README documents them ----------------------------------------------------------------------------------


def readme_section(title: str) -> str:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = text.index(f"\n### {title}\n")
    return text[start : text.index("\n#", start + 1)]


def test_the_readmes_initiate_table_documents_every_field_initiate_takes() -> None:
    from calls.serializers import CallInitiateInput

    rows = re.findall(r"^\| `(\w+)` \| (?:required|optional) \|", readme_section("`POST /calls/initiate`"), re.M)

    assert rows == list(CallInitiateInput().fields)


def test_the_readmes_sandbox_table_documents_every_magic_number() -> None:
    from telephony.backends.sandbox import MAGIC_NUMBERS

    numbers = re.findall(r"^\| `(\+\d+)` \|", readme_section("The sandbox"), re.M)

    assert numbers == list(MAGIC_NUMBERS)


# --- retention ---------------------------------------------------------------------------------------------------


def test_redaction_clears_the_voicemail_message_and_the_recordings_url_but_keeps_who_answered() -> None:
    from calls.retention import calls_apply_retention
    from tests.test_retention import NOW, call_aged

    organization = OrganizationFactory(call_retention_days=30, redact_after_days=10)
    due = call_aged(
        organization,
        15,
        machine_detection="leave_message",
        voicemail_message="Hi Ann, call Dr Who back.",
        answered_by="machine",
        end_reason="voicemail-message-left",
        recording_url="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        recording_duration=12,
    )

    calls_apply_retention(now=NOW)

    due.refresh_from_db()
    assert (due.voicemail_message, due.recording_url) == ("", "")
    assert (due.answered_by, due.end_reason, due.recording_duration) == ("machine", "voicemail-message-left", 12)


# --- deploying ------------------------------------------------------------------------------------------------------


def test_a_call_and_an_assistant_saved_by_code_from_before_these_options_get_their_defaults(number: Any) -> None:
    """During a deploy, processes still running the previous code insert rows without the new columns."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO assistants_assistant (organization_id, name, description, is_active, welcome_message,"
            " max_call_length, llm_settings, tts_settings, stt_settings, custom_settings, created_at, updated_at)"
            " VALUES (%s, 'Old', '', %s, '', 600, '{}', '{}', '{}', '{}', %s, %s)",
            [number.organization_id, True, "2026-11-30 10:00:00+00:00", "2026-11-30 10:00:00+00:00"],
        )
        cursor.execute(
            "INSERT INTO calls_call (organization_id, direction, from_number, to_number, provider, status,"
            " welcome_message, agenda, variables, metadata, error_message, end_reason, token, created_at, updated_at)"
            " VALUES (%s, 'outbound', '+14155550100', '+14155550199', 'sandbox', 'queued', '', '', '{}', '{}', '',"
            " '', 'old-token', %s, %s)",
            [number.organization_id, "2026-11-30 10:00:00+00:00", "2026-11-30 10:00:00+00:00"],
        )

    from assistants.models import Assistant

    old = Assistant.objects.get(name="Old")
    assert (old.machine_detection, old.voicemail_message, old.record) == ("off", "", False)
    call = Call.objects.get(token="old-token")
    assert (call.machine_detection, call.voicemail_message, call.record) == ("off", "", False)
    assert (call.answered_by, call.recording_url, call.max_duration_seconds) == ("", "", None)
