"""Twilio's webhooks, end to end: requests signed as Twilio signs them, through our URLs, onto the call."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from twilio.request_validator import RequestValidator

from calls.models import Call, CallEvent
from tests.fakes.webhooks import (
    STREAM_URL,
    WELCOME,
    assert_context_refused_because_over,
    assert_refused_and_unchanged,
    assert_stream_parameters,
    context,
    outcome,
    provider_call,
    recorded,
    webhook_path,
    webhook_url,
)

pytestmark = pytest.mark.django_db

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-5eb6c7d8e9f0a1b2c3d4"
CREDENTIALS = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
CALL_SID = "CA" + "7" * 32


@pytest.fixture
def call(organization: Any) -> Call:
    return provider_call(organization, provider="twilio", credentials=CREDENTIALS, call_sid=CALL_SID)


def callback(call: Call, call_status: str, **extra: str) -> dict[str, str]:
    """The fields of a Twilio status callback (Twilio posts them form-encoded)."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": CALL_SID,
        "CallStatus": call_status,
        "CallbackSource": "call-progress-events",
        "Called": call.to_number,
        "Caller": call.from_number,
        "Direction": "outbound-api",
        "From": call.from_number,
        "To": call.to_number,
        "Timestamp": "Tue, 14 Jan 2025 10:00:00 +0000",
        **extra,
    }


def post(
    call: Call,
    kind: str,
    fields: dict[str, str],
    *,
    token: str = AUTH_TOKEN,
    signed_fields: dict[str, str] | None = None,
    signed_url: str | None = None,
    signature: str | None = None,
) -> Any:
    """POST `fields` as Twilio does, signed over `signed_url` and `signed_fields` (by default, what is sent)."""
    if signature is None:
        signature = RequestValidator(token).compute_signature(
            signed_url or webhook_url(call, kind), fields if signed_fields is None else signed_fields
        )
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature} if signature else {}
    return Client().post(
        webhook_path(call, kind),
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        **headers,
    )


def event(call: Call, call_status: str, sequence: int, **extra: str) -> Any:
    return post(call, "status", callback(call, call_status, SequenceNumber=str(sequence), **extra))


def twiml(response: Any) -> ET.Element:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/xml"
    return ET.fromstring(response.content)  # noqa: S314 (our own server's answer, in a test)


# --- signatures -----------------------------------------------------------------------------------------------


def test_a_status_callback_signed_with_the_calls_auth_token_is_recorded(call: Call) -> None:
    response = event(call, "ringing", 1)

    assert response.status_code == 200
    assert twiml(response).tag == "Response"
    assert len(twiml(response)) == 0
    call.refresh_from_db()
    assert call.status == "ringing"
    [kept] = CallEvent.objects.filter(call=call)
    assert (kept.provider, kept.event_type, kept.status, kept.key) == ("twilio", "ringing", "ringing", "ringing:1")
    assert kept.payload == callback(call, "ringing", SequenceNumber="1")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"signature": ""}, id="missing"),
        pytest.param({"signature": "bm90IGEgc2lnbmF0dXJl"}, id="garbage"),
        pytest.param({"token": "another-accounts-auth-token"}, id="another-account"),
        pytest.param({"signed_fields": {"CallStatus": "ringing"}}, id="tampered-fields"),
        pytest.param({"signed_url": "http://testserver/telephony/twilio/status/another-token"}, id="another-url"),
        pytest.param({"signed_url": "https://testserver/telephony/twilio/status/{token}"}, id="another-scheme"),
    ],
)
def test_a_callback_without_a_valid_signature_is_403_and_changes_nothing(call: Call, tamper: dict[str, Any]) -> None:
    fields = callback(call, "completed", CallDuration="30", SequenceNumber="3")
    if "signed_url" in tamper:
        tamper = {"signed_url": tamper["signed_url"].format(token=call.token)}
    if "signed_fields" in tamper:
        # Signed as a ringing callback, sent as a completed one.
        tamper = {"signed_fields": {**fields, **tamper["signed_fields"]}}

    response = post(call, "status", fields, **tamper)

    assert_refused_and_unchanged(response, call)


def test_a_callback_signed_by_another_twilio_account_of_the_same_organization_is_403(
    call: Call, organization: Any
) -> None:
    provider_call(
        organization, provider="twilio", credentials={"account_sid": ACCOUNT_SID, "auth_token": "other-token"}
    )

    response = post(call, "status", callback(call, "ringing"), token="other-token")

    assert_refused_and_unchanged(response, call)


def test_a_call_whose_account_has_no_auth_token_refuses_every_callback(organization: Any) -> None:
    call = provider_call(organization, provider="twilio", credentials={"account_sid": ACCOUNT_SID}, call_sid=CALL_SID)

    response = post(call, "status", callback(call, "ringing"), token="")

    assert_refused_and_unchanged(response, call)


def test_twilio_signs_no_time_so_a_replayed_callback_verifies_but_changes_nothing(call: Call) -> None:
    # Nothing in a Twilio signature expires: only the duplicate check stands between a replay and the call.
    first = event(call, "completed", 4, CallDuration="12")
    call.refresh_from_db()
    ended_at = call.ended_at

    replay = event(call, "completed", 4, CallDuration="12")

    assert (first.status_code, replay.status_code) == (200, 200)
    call.refresh_from_db()
    assert (call.status, call.duration, call.ended_at) == ("completed", 12, ended_at)
    assert CallEvent.objects.filter(call=call).count() == 1


def test_a_get_callback_is_verified_over_its_url_alone(call: Call) -> None:
    query = urlencode(callback(call, "ringing", SequenceNumber="1"))
    path = f"{webhook_path(call, 'status')}?{query}"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"http://testserver{path}", {})

    response = Client().get(path, HTTP_X_TWILIO_SIGNATURE=signature)

    assert response.status_code == 200
    call.refresh_from_db()
    assert call.status == "ringing"


def test_a_signed_callback_without_a_call_status_is_400(call: Call) -> None:
    response = post(call, "status", {"CallSid": CALL_SID, "AccountSid": ACCOUNT_SID})

    assert response.status_code == 400
    assert not CallEvent.objects.filter(call=call).exists()


def test_a_signed_form_callback_with_a_nul_in_a_field_is_400_and_changes_nothing(call: Call) -> None:
    response = event(call, "ringing", 1, CallerName="Ann\x00")

    assert response.status_code == 400, response.content
    assert response.json() == {
        "detail": "Unreadable event: a NUL character or an invalid surrogate in payload.CallerName."
    }
    call.refresh_from_db()
    assert call.status == "queued"
    assert not CallEvent.objects.filter(call=call).exists()


# --- the answer: TwiML ----------------------------------------------------------------------------------------


def answer_request(call: Call) -> dict[str, str]:
    return {**callback(call, "in-progress"), "CallbackSource": ""}


@override_settings(MEDIA_STREAM_URL=STREAM_URL)
@pytest.mark.parametrize("flow", [False, True], ids=["assistant-call", "flow-call"])
def test_with_a_media_stream_the_twiml_connects_the_call_to_it_with_every_parameter(
    organization: Any, flow: bool
) -> None:
    call = provider_call(organization, provider="twilio", credentials=CREDENTIALS, call_sid=CALL_SID, flow=flow)

    response = post(call, "answer", answer_request(call))

    root = twiml(response)
    assert root.tag == "Response"
    [connect] = root
    assert (connect.tag, connect.attrib) == ("Connect", {})
    [stream] = connect
    assert (stream.tag, stream.attrib) == ("Stream", {"url": STREAM_URL})
    assert all(child.tag == "Parameter" and set(child.attrib) == {"name", "value"} for child in stream)
    parameters = {child.attrib["name"]: child.attrib["value"] for child in stream}
    assert len(parameters) == len(stream)  # no name twice
    assert_stream_parameters(parameters, call)
    assert b"&lt;b&gt; &amp; &quot;Bob&quot;" in response.content  # escaped by the builder, not by luck


@override_settings(MEDIA_STREAM_URL="")
def test_without_a_media_stream_the_twiml_says_the_welcome_message_and_hangs_up(call: Call) -> None:
    response = post(call, "answer", answer_request(call))

    root = twiml(response)
    assert [child.tag for child in root] == ["Say", "Hangup"]
    say, hangup = root
    assert say.text == WELCOME
    assert (say.attrib, hangup.attrib, hangup.text) == ({}, {}, None)
    assert b"Hi Ann &lt;b&gt; &amp;" in response.content


@override_settings(MEDIA_STREAM_URL="")
def test_characters_xml_cannot_carry_are_left_out_rather_than_breaking_the_twiml(organization: Any) -> None:
    call = provider_call(
        organization,
        provider="twilio",
        credentials=CREDENTIALS,
        call_sid=CALL_SID,
        welcome_message="Bell\x07 and\x0b tab\there",
    )

    response = post(call, "answer", answer_request(call))

    [say, _] = twiml(response)
    assert say.text == "Bell and tab\there"


def test_an_unsigned_answer_request_gets_no_twiml(call: Call) -> None:
    response = post(call, "answer", answer_request(call), signature="")

    assert_refused_and_unchanged(response, call)
    assert b"Stream" not in response.content


def stream_parameters_in(response: Any) -> dict[str, str]:
    [connect] = twiml(response)
    [stream] = connect
    return {child.attrib["name"]: child.attrib["value"] for child in stream}


@override_settings(MEDIA_STREAM_URL=STREAM_URL)
def test_a_captured_answer_request_replayed_after_the_call_ended_gets_a_hangup_and_no_stream_token(
    call: Call,
) -> None:
    # Captured on the wire while the call was live: Twilio's signature carries no time, so it verifies forever.
    fields = answer_request(call)
    signature = RequestValidator(AUTH_TOKEN).compute_signature(webhook_url(call, "answer"), fields)
    live = post(call, "answer", fields, signature=signature)
    token = stream_parameters_in(live)["stream_token"]
    assert context(call, token).status_code == 200
    event(call, "completed", 4, CallDuration="12")
    ended, events = outcome(call), recorded(call)

    replay = post(call, "answer", fields, signature=signature)

    assert [child.tag for child in twiml(replay)] == ["Hangup"]
    assert b"stream_token" not in replay.content
    assert b"Stream" not in replay.content
    assert (outcome(call), recorded(call)) == (ended, events)
    assert_context_refused_because_over(context(call, token), call)


@override_settings(MEDIA_STREAM_URL=STREAM_URL)
def test_an_answer_request_naming_another_call_sid_gets_no_twiml(call: Call) -> None:
    response = post(call, "answer", {**answer_request(call), "CallSid": "CA" + "8" * 32})

    assert_refused_and_unchanged(response, call)
    assert b"stream_token" not in response.content


# --- statuses -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call_status", "extra", "status", "end_reason", "duration"),
    [
        ("queued", {}, "queued", "", None),
        ("initiated", {}, "initiated", "", None),
        ("ringing", {}, "ringing", "", None),
        ("in-progress", {}, "in-progress", "", None),
        ("completed", {"CallDuration": "42"}, "completed", "completed", 42),
        ("busy", {"CallDuration": "0"}, "busy", "busy", 0),
        ("no-answer", {"CallDuration": "0"}, "no-answer", "no-answer", 0),
        ("failed", {"CallDuration": "0"}, "failed", "failed", 0),
        ("canceled", {"CallDuration": "0"}, "canceled", "canceled", 0),
    ],
)
def test_each_twilio_call_status_maps_onto_the_normalized_lifecycle(
    call: Call, call_status: str, extra: dict[str, str], status: str, end_reason: str, duration: int | None
) -> None:
    response = event(call, call_status, 1, **extra)

    assert response.status_code == 200
    call.refresh_from_db()
    assert (call.status, call.end_reason, call.duration) == (status, end_reason, duration)
    assert recorded(call) == [(call_status, status)]
    assert (call.ended_at is not None) == bool(end_reason)
    assert (call.answered_at is not None) == (status == "in-progress")


def test_a_call_status_twilio_adds_later_is_kept_without_moving_the_call(call: Call) -> None:
    response = event(call, "paused-by-aliens", 1)

    assert response.status_code == 200
    call.refresh_from_db()
    assert call.status == "queued"
    assert recorded(call) == [("paused-by-aliens", "")]


def test_a_full_twilio_lifecycle_records_answer_end_and_twilios_duration(call: Call) -> None:
    for sequence, call_status in enumerate(["initiated", "ringing", "in-progress"]):
        assert event(call, call_status, sequence).status_code == 200
    Call.objects.filter(pk=call.pk).update(answered_at=timezone.now() - timedelta(seconds=90))

    event(call, "completed", 3, CallDuration="87")

    call.refresh_from_db()
    assert (call.status, call.end_reason, call.duration) == ("completed", "completed", 87)
    assert call.answered_at is not None
    assert call.ended_at is not None
    assert [status for _, status in recorded(call)] == ["initiated", "ringing", "in-progress", "completed"]


def test_a_late_ringing_after_completed_is_kept_but_changes_nothing(call: Call) -> None:
    event(call, "completed", 3, CallDuration="5")
    ended = outcome(call)

    late = event(call, "ringing", 1)

    assert late.status_code == 200
    assert outcome(call) == ended
    assert recorded(call) == [("completed", "completed"), ("ringing", "ringing")]


def test_the_same_callback_twice_is_one_event(call: Call) -> None:
    responses = [event(call, "ringing", 1), event(call, "ringing", 1)]

    assert [r.status_code for r in responses] == [200, 200]
    assert recorded(call) == [("ringing", "ringing")]


def test_callbacks_without_a_sequence_number_are_told_apart_by_status(call: Call) -> None:
    post(call, "status", callback(call, "ringing"))
    post(call, "status", callback(call, "ringing"))
    post(call, "status", callback(call, "in-progress"))

    assert list(CallEvent.objects.filter(call=call).values_list("key", flat=True)) == ["ringing", "in-progress"]


def test_a_callback_for_an_unknown_call_fills_in_its_call_sid(organization: Any) -> None:
    call = provider_call(organization, provider="twilio", credentials=CREDENTIALS, call_sid=None, status="unknown")

    event(call, "ringing", 1)

    call.refresh_from_db()
    assert (call.call_sid, call.status) == (CALL_SID, "ringing")
