"""The admin: an assistant's voicemail settings, the test-call form's options, and what a call page shows of them."""

from __future__ import annotations

from typing import Any

import pytest

from assistants.models import Assistant
from calls.models import Call
from telephony.backends import sandbox
from tests.factories import AssistantFactory, CallFactory
from tests.test_admin import admin_url, form_errors, page_text, place_test_call_url

pytestmark = pytest.mark.django_db


def place(client: Any, number: Any, **fields: Any) -> Any:
    data = {"to_number": "+14155550195", "assistant": "", "welcome_message": "", "agenda": "", "variables": ""}
    return client.post(place_test_call_url(number), {**data, **fields}, follow=True)


def test_a_test_call_takes_machine_detection_its_voicemail_message_and_recording(
    admin_client: Any, number: Any
) -> None:
    response = place(
        admin_client,
        number,
        machine_detection="leave_message",
        voicemail_message="Call us back, {{ name }}.",
        record="on",
        variables='{"name": "Ada"}',
    )

    assert response.status_code == 200
    call = Call.objects.get()
    assert (call.machine_detection, call.voicemail_message, call.record) == (
        "leave_message",
        "Call us back, Ada.",
        True,
    )
    [sent] = sandbox.outbox
    assert (sent.request.machine_detection, sent.request.record) == ("leave_message", True)


def test_a_test_call_left_to_the_assistant_takes_its_settings(admin_client: Any, number: Any) -> None:
    Assistant.objects.filter(pk=number.assistant_id).update(machine_detection="hangup", record=True)

    place(admin_client, number)

    call = Call.objects.get()
    assert (call.machine_detection, call.record) == ("hangup", True)


def test_a_voicemail_message_missing_a_variable_is_shown_on_its_field(admin_client: Any, number: Any) -> None:
    response = place(admin_client, number, machine_detection="leave_message", voicemail_message="Hi {{ who }}")

    assert form_errors(response)["voicemail_message"] == ["Missing variable: who"]
    assert sandbox.outbox == []


def test_an_assistant_set_to_leave_messages_needs_its_voicemail_message_in_the_admin(
    admin_client: Any, organization: Any
) -> None:
    assistant = AssistantFactory(organization=organization)
    url = admin_url(Assistant, "change", assistant.pk)
    data = {
        "organization": organization.pk,
        "name": assistant.name,
        "description": "",
        "is_active": "on",
        "welcome_message": "Hello.",
        "max_call_length": 600,
        "machine_detection": "leave_message",
        "voicemail_message": "",
        "llm_settings": "{}",
        "tts_settings": "{}",
        "stt_settings": "{}",
        "custom_settings": "{}",
    }

    refused = admin_client.post(url, data)
    saved = admin_client.post(url, {**data, "voicemail_message": "Call us back."})

    assert form_errors(refused)["voicemail_message"] == ["Needed when machine_detection is leave_message."]
    assert saved.status_code == 302
    assistant.refresh_from_db()
    assert (assistant.machine_detection, assistant.voicemail_message) == ("leave_message", "Call us back.")


def test_a_call_page_shows_who_answered_and_the_recording(admin_client: Any, organization: Any) -> None:
    call = CallFactory(
        organization=organization,
        status="completed",
        machine_detection="hangup",
        answered_by="machine",
        end_reason="voicemail",
        recording_url="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        recording_duration=9,
    )

    text = page_text(admin_client.get(admin_url(Call, "change", call.pk)))

    assert "voicemail" in text
    assert "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1" in text
    assert "Answered by" in text
