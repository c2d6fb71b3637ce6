"""Telnyx's webhooks, end to end: Call Control events signed with Ed25519 as Telnyx signs them, onto the call."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.test import override_settings
from django.utils import timezone

from calls.models import Call, CallEvent
from tests.factories import ConversationFlowFactory
from tests.fakes.server import FakeProvider
from tests.fakes.support import initiate, provider_number, use_backend
from tests.fakes.webhooks import (
    STREAM_URL,
    WELCOME,
    assert_context_refused_because_over,
    assert_refused_and_unchanged,
    assert_stream_parameters,
    context,
    outcome,
    post_json,
    provider_call,
    recorded,
    webhook_url,
)

pytest_plugins = ["tests.fakes.fixtures"]
pytestmark = pytest.mark.django_db

CALL_CONTROL_ID = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"
SIGNING_KEY = Ed25519PrivateKey.generate()  # Telnyx's key: the account holds its public half


def public_key_of(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


CREDENTIALS = {
    "api_key": "KEY0190_telnyx",
    "connection_id": "1684641123236054244",
    "public_key": public_key_of(SIGNING_KEY),
}


@pytest.fixture
def call(organization: Any) -> Call:
    return provider_call(organization, provider="telnyx", credentials=CREDENTIALS, call_sid=CALL_CONTROL_ID)


def telnyx_event(call: Call, event_type: str, *, event_id: str | None = None, **payload: Any) -> dict[str, Any]:
    """A Call Control webhook as Telnyx posts it to the dial's webhook_url (our status URL)."""
    return {
        "data": {
            "record_type": "event",
            "event_type": event_type,
            "id": event_id or str(uuid.uuid4()),
            "occurred_at": "2025-01-14T10:00:05.000000Z",
            "payload": {
                "call_control_id": CALL_CONTROL_ID,
                "call_leg_id": "2dc6fc34-f9e0-11ea-b68e-02420a0f7768",
                "call_session_id": "2dc1b3c8-f9e0-11ea-bc5a-02420a0f7768",
                "client_state": base64.b64encode(call.token.encode()).decode(),
                "connection_id": CREDENTIALS["connection_id"],
                "from": call.from_number,
                "to": call.to_number,
                **payload,
            },
        },
        "meta": {"attempt": 1, "delivered_to": webhook_url(call, "status")},
    }


def signed_headers(
    body: bytes, *, key: Ed25519PrivateKey = SIGNING_KEY, timestamp: int | None = None
) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(f"{stamp}|".encode() + body)
    return {"HTTP_TELNYX_SIGNATURE_ED25519": base64.b64encode(signature).decode(), "HTTP_TELNYX_TIMESTAMP": stamp}


def post(call: Call, body: dict[str, Any], kind: str = "status", **headers: str) -> Any:
    raw = json.dumps(body).encode()
    return post_json(call, kind, raw, **{**signed_headers(raw), **headers})


def event(call: Call, event_type: str, **payload: Any) -> Any:
    return post(call, telnyx_event(call, event_type, **payload))


# --- signatures -----------------------------------------------------------------------------------------------


def test_an_event_signed_with_the_accounts_key_is_recorded_without_our_client_state(call: Call) -> None:
    body = telnyx_event(call, "call.initiated", event_id="ev-1", state="bridging", direction="outgoing")

    response = post(call, body)

    assert response.status_code == 204
    assert response.content == b""
    call.refresh_from_db()
    assert call.status == "initiated"
    [kept] = CallEvent.objects.filter(call=call)
    assert (kept.provider, kept.event_type, kept.status, kept.key) == ("telnyx", "call.initiated", "initiated", "ev-1")
    assert kept.payload["data"]["payload"]["call_control_id"] == CALL_CONTROL_ID
    assert kept.payload["meta"] == {"attempt": 1}  # delivered_to, our URL with the call's token, is left out
    assert "client_state" not in kept.payload["data"]["payload"]
    assert call.token not in json.dumps(kept.payload)


def signed_then(call: Call, change: str) -> tuple[bytes, dict[str, str]]:
    """A correctly signed hangup event, then one thing about it changed."""
    raw = json.dumps(telnyx_event(call, "call.hangup", hangup_cause="normal_clearing")).encode()
    now = int(time.time())
    other_key = Ed25519PrivateKey.generate()
    headers = signed_headers(raw)
    if change == "missing-signature":
        del headers["HTTP_TELNYX_SIGNATURE_ED25519"]
    elif change == "missing-timestamp":
        del headers["HTTP_TELNYX_TIMESTAMP"]
    elif change == "another-key":
        headers = signed_headers(raw, key=other_key)
    elif change == "stale":
        headers = signed_headers(raw, timestamp=now - 301)
    elif change == "from-the-future":
        headers = signed_headers(raw, timestamp=now + 330)
    elif change == "timestamp-changed":
        headers["HTTP_TELNYX_TIMESTAMP"] = str(int(headers["HTTP_TELNYX_TIMESTAMP"]) - 1)
    elif change == "tampered-body":
        raw = raw.replace(b"normal_clearing", b"user_busy")
    elif change == "not-base64":
        headers["HTTP_TELNYX_SIGNATURE_ED25519"] = "not base64 at all!"
    elif change == "short-signature":
        headers["HTTP_TELNYX_SIGNATURE_ED25519"] = base64.b64encode(b"\x00" * 10).decode()
    elif change == "timestamp-not-a-number":
        headers["HTTP_TELNYX_TIMESTAMP"] = "1e9"
    return raw, headers


@pytest.mark.parametrize(
    "change",
    [
        "missing-signature",
        "missing-timestamp",
        "another-key",
        "stale",
        "from-the-future",
        "timestamp-changed",
        "tampered-body",
        "not-base64",
        "short-signature",
        "timestamp-not-a-number",
    ],
)
def test_an_event_without_a_valid_signature_is_403_and_changes_nothing(call: Call, change: str) -> None:
    raw, headers = signed_then(call, change)

    response = post_json(call, "status", raw, **headers)

    assert_refused_and_unchanged(response, call)


def test_an_event_signed_within_the_allowed_age_is_accepted(call: Call) -> None:
    raw = json.dumps(telnyx_event(call, "call.answered")).encode()

    response = post_json(call, "status", raw, **signed_headers(raw, timestamp=int(time.time()) - 290))

    assert response.status_code == 204


def test_an_event_signed_by_another_telnyx_account_is_403(call: Call, organization: Any) -> None:
    other_key = Ed25519PrivateKey.generate()
    provider_call(organization, provider="telnyx", credentials={**CREDENTIALS, "public_key": public_key_of(other_key)})
    raw = json.dumps(telnyx_event(call, "call.answered")).encode()

    response = post_json(call, "status", raw, **signed_headers(raw, key=other_key))

    assert_refused_and_unchanged(response, call)


@pytest.mark.parametrize(
    "public_key",
    ["", "not base64!", base64.b64encode(b"too short").decode(), base64.b64encode(b"\x01" * 64).decode()],
    ids=["missing", "not-base64", "too-short", "too-long"],
)
def test_an_account_with_an_unusable_public_key_refuses_events_without_an_error(
    organization: Any, public_key: str
) -> None:
    call = provider_call(
        organization, provider="telnyx", credentials={**CREDENTIALS, "public_key": public_key}, call_sid=CALL_CONTROL_ID
    )

    response = event(call, "call.answered")

    assert_refused_and_unchanged(response, call)


def test_a_signed_event_that_is_not_a_telnyx_event_is_400(call: Call) -> None:
    for body in ({"event": "call.answered"}, {"data": {"event_type": "call.answered"}}, {"data": {"id": "x"}}):
        response = post(call, body)

        assert response.status_code == 400
    assert not CallEvent.objects.filter(call=call).exists()


# --- the answer URL -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("media_stream_url", [STREAM_URL, ""])
def test_telnyx_needs_no_answer_document(call: Call, media_stream_url: str) -> None:
    with override_settings(MEDIA_STREAM_URL=media_stream_url):
        response = post(call, {"data": {}}, kind="answer")

    assert (response.status_code, response.content) == (204, b"")
    assert not CallEvent.objects.filter(call=call).exists()


# --- the stream starts from the dial --------------------------------------------------------------------------


@pytest.fixture
def telnyx(fake_provider: FakeProvider) -> Any:
    fake_provider.on("POST", "/v2/calls", json={"data": {"call_control_id": CALL_CONTROL_ID}})
    with use_backend("telnyx", "telephony.backends.telnyx.TelnyxBackend", API_BASE_URL=f"{fake_provider.url}/v2"):
        yield fake_provider


@override_settings(MEDIA_STREAM_URL=f"{STREAM_URL}?region=eu")
@pytest.mark.parametrize("flow", [False, True], ids=["assistant-number", "flow-number"])
def test_with_a_media_stream_the_dial_carries_the_stream_url_with_every_parameter(
    api: Any, organization: Any, telnyx: FakeProvider, flow: bool
) -> None:
    number = provider_number(organization, provider="telnyx", credentials=CREDENTIALS)
    if flow:
        number.assistant, number.flow = None, ConversationFlowFactory(organization=organization)
        number.save()

    response = api.post(
        "/calls/initiate",
        {"from_phone_number": number.phone_number, "to_phone_number": "+14155550199", "welcome_message": WELCOME,
         "agenda": "Discuss <renewal> & \"terms\""},
        format="json",
    )  # fmt: skip

    assert response.status_code == 200, response.content
    call = Call.objects.get()
    [dial] = telnyx.received("POST", "/v2/calls")
    stream_url = urlsplit(dial.data["stream_url"])
    assert f"{stream_url.scheme}://{stream_url.netloc}{stream_url.path}" == STREAM_URL
    query = parse_qs(stream_url.query, keep_blank_values=True)
    assert all(len(values) == 1 for values in query.values())
    assert query.pop("region") == ["eu"]
    assert_stream_parameters({name: values[0] for name, values in query.items()}, call)
    assert (call.flow_id is not None) == flow


def test_without_a_media_stream_the_dial_carries_no_stream_url(
    api: Any, organization: Any, telnyx: FakeProvider, settings: Any
) -> None:
    settings.MEDIA_STREAM_URL = ""
    provider_number(organization, provider="telnyx", credentials=CREDENTIALS)

    assert initiate(api).status_code == 200

    [dial] = telnyx.received("POST", "/v2/calls")
    assert "stream_url" not in dial.data


@override_settings(MEDIA_STREAM_URL=STREAM_URL)
def test_the_stream_token_given_on_dial_opens_no_context_once_the_call_has_hung_up(
    api: Any, organization: Any, telnyx: FakeProvider
) -> None:
    provider_number(organization, provider="telnyx", credentials=CREDENTIALS)
    assert initiate(api).status_code == 200
    call = Call.objects.get()
    [dial] = telnyx.received("POST", "/v2/calls")
    [token] = parse_qs(urlsplit(dial.data["stream_url"]).query)["stream_token"]
    assert context(call, token).status_code == 200

    assert event(call, "call.hangup", hangup_cause="normal_clearing").status_code == 204

    assert_context_refused_because_over(context(call, token), call)


# --- what a signature for one call opens on another -----------------------------------------------------------


@pytest.mark.parametrize("call_control_id", [CALL_CONTROL_ID, None], ids=["id-known", "dial-timed-out"])
def test_an_event_telnyx_signed_for_another_call_is_403_and_changes_nothing(
    organization: Any, call_control_id: str | None
) -> None:
    # Another call of the same Telnyx account: the same key signed it, with that call's client_state inside.
    other = provider_call(organization, provider="telnyx", credentials=CREDENTIALS, call_sid="v3:another-call")
    call = provider_call(
        organization, provider="telnyx", credentials=CREDENTIALS, call_sid=call_control_id, status="unknown"
    )
    raw = json.dumps(telnyx_event(other, "call.answered")).encode()

    response = post_json(call, "status", raw, **signed_headers(raw))

    assert_refused_and_unchanged(response, call)


def test_an_event_without_our_client_state_cannot_claim_a_call_whose_id_is_not_known(organization: Any) -> None:
    call = provider_call(organization, provider="telnyx", credentials=CREDENTIALS, call_sid=None, status="unknown")
    body = telnyx_event(call, "call.initiated")
    del body["data"]["payload"]["client_state"]
    raw = json.dumps(body).encode()

    response = post_json(call, "status", raw, **signed_headers(raw))

    assert_refused_and_unchanged(response, call)


def test_an_event_without_client_state_still_counts_for_a_call_whose_id_is_known(call: Call) -> None:
    body = telnyx_event(call, "call.initiated")
    del body["data"]["payload"]["client_state"]

    assert post(call, body).status_code == 204

    assert recorded(call) == [("call.initiated", "initiated")]


# --- statuses -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "payload", "status", "end_reason"),
    [
        ("call.initiated", {"state": "bridging", "direction": "outgoing"}, "initiated", ""),
        ("call.answered", {"state": "answered"}, "in-progress", ""),
        ("call.hangup", {"hangup_cause": "normal_clearing"}, "completed", "normal_clearing"),
        ("call.hangup", {"hangup_cause": "time_limit"}, "completed", "time_limit"),
        ("call.hangup", {"hangup_cause": "user_busy"}, "busy", "user_busy"),
        ("call.hangup", {"hangup_cause": "no_answer"}, "no-answer", "no_answer"),
        ("call.hangup", {"hangup_cause": "timeout"}, "no-answer", "timeout"),
        ("call.hangup", {"hangup_cause": "call_rejected"}, "failed", "call_rejected"),
        ("call.hangup", {"hangup_cause": "not_found"}, "failed", "not_found"),
        ("call.hangup", {"hangup_cause": "unspecified"}, "failed", "unspecified"),
        ("call.hangup", {"hangup_cause": "originator_cancel"}, "canceled", "originator_cancel"),
        ("call.hangup", {"hangup_cause": "a_cause_telnyx_adds_later"}, "failed", "a_cause_telnyx_adds_later"),
        ("call.hangup", {}, "failed", "unspecified"),
    ],
)
def test_each_telnyx_event_maps_onto_the_normalized_lifecycle(
    call: Call, event_type: str, payload: dict[str, str], status: str, end_reason: str
) -> None:
    response = event(call, event_type, **payload)

    assert response.status_code == 204
    call.refresh_from_db()
    assert (call.status, call.end_reason) == (status, end_reason)
    assert recorded(call) == [(event_type, status)]
    if end_reason:
        assert call.ended_at is not None
        assert call.duration == 0  # never answered


@pytest.mark.parametrize(
    "event_type",
    ["call.streaming.started", "call.streaming.stopped", "call.machine.detection.ended", "call.cost", "call.bridged"],
)
def test_events_that_say_nothing_about_status_are_kept_without_moving_the_call(call: Call, event_type: str) -> None:
    response = event(call, event_type)

    assert response.status_code == 204
    call.refresh_from_db()
    assert call.status == "queued"
    assert recorded(call) == [(event_type, "")]


def test_a_hangup_with_start_and_end_times_gives_the_duration(call: Call) -> None:
    event(call, "call.answered")

    event(
        call,
        "call.hangup",
        hangup_cause="normal_clearing",
        start_time="2025-01-14T10:00:00.250000Z",
        end_time="2025-01-14T10:01:07.000000Z",
    )

    call.refresh_from_db()
    assert (call.status, call.duration) == ("completed", 67)


def test_a_hangup_with_only_a_start_time_leaves_the_duration_to_the_time_since_answered(call: Call) -> None:
    event(call, "call.answered")
    Call.objects.filter(pk=call.pk).update(answered_at=timezone.now() - timedelta(seconds=40))

    event(call, "call.hangup", hangup_cause="normal_clearing", start_time="2025-01-14T09:00:00Z")

    call.refresh_from_db()
    assert (call.status, call.end_reason) == ("completed", "normal_clearing")
    assert call.duration is not None
    assert 40 <= call.duration <= 42  # not the hour since start_time


def test_a_late_answered_after_the_hangup_is_kept_but_changes_nothing(call: Call) -> None:
    event(call, "call.hangup", hangup_cause="originator_cancel")
    ended = outcome(call)

    late = event(call, "call.answered")

    assert late.status_code == 204
    assert outcome(call) == ended
    assert recorded(call) == [("call.hangup", "canceled"), ("call.answered", "in-progress")]


def test_a_redelivered_event_is_one_event(call: Call) -> None:
    body = telnyx_event(call, "call.answered", event_id="ev-answered")
    again = {**body, "meta": {**body["meta"], "attempt": 2}}

    responses = [post(call, body), post(call, again)]

    assert [r.status_code for r in responses] == [204, 204]
    assert recorded(call) == [("call.answered", "in-progress")]


def test_an_event_for_an_unknown_call_fills_in_its_call_control_id(organization: Any) -> None:
    call = provider_call(organization, provider="telnyx", credentials=CREDENTIALS, call_sid=None, status="unknown")

    event(call, "call.initiated")

    call.refresh_from_db()
    assert (call.call_sid, call.status) == (CALL_CONTROL_ID, "initiated")


# --- without a media stream: speak the welcome message, then hang up -------------------------------------------


@pytest.fixture
def telnyx_commands(fake_provider: FakeProvider) -> Any:
    for action in ("speak", "hangup"):
        fake_provider.on("POST", f"/v2/calls/{CALL_CONTROL_ID}/actions/{action}", json={"data": {"result": "ok"}})
    with use_backend("telnyx", "telephony.backends.telnyx.TelnyxBackend", API_BASE_URL=f"{fake_provider.url}/v2"):
        yield fake_provider


def test_without_a_media_stream_an_answered_call_says_its_welcome_message_then_hangs_up(
    call: Call, telnyx_commands: FakeProvider
) -> None:
    Call.objects.filter(pk=call.pk).update(welcome_message="Hi <Ann> & co")
    answered = telnyx_event(call, "call.answered")

    assert post(call, answered).status_code in (200, 204)
    assert post(call, answered).status_code in (200, 204)  # redelivered: must not speak twice
    assert event(call, "call.speak.ended").status_code in (200, 204)

    commands = [(r.path, r.data) for r in telnyx_commands.requests]
    assert [path for path, _ in commands] == [
        f"/v2/calls/{CALL_CONTROL_ID}/actions/speak",
        f"/v2/calls/{CALL_CONTROL_ID}/actions/hangup",
    ]
    speak = commands[0][1]
    assert speak["payload"] == "Hi <Ann> & co"
    assert speak["voice"] == "female"
    assert speak["command_id"] == f"{CALL_CONTROL_ID}:speak"
    assert telnyx_commands.requests[0].headers["authorization"] == f"Bearer {CREDENTIALS['api_key']}"


@override_settings(MEDIA_STREAM_URL=STREAM_URL)
def test_with_a_media_stream_nothing_is_said_by_command(call: Call, telnyx_commands: FakeProvider) -> None:
    event(call, "call.answered")

    assert telnyx_commands.requests == []


def test_a_failed_speak_command_still_records_the_event(call: Call, fake_provider: FakeProvider) -> None:
    fake_provider.on(
        "POST",
        f"/v2/calls/{CALL_CONTROL_ID}/actions/speak",
        status=422,
        json={"errors": [{"code": "90018", "title": "Call has already ended"}]},
    )
    with use_backend("telnyx", "telephony.backends.telnyx.TelnyxBackend", API_BASE_URL=f"{fake_provider.url}/v2"):
        response = event(call, "call.answered")

    assert response.status_code in (200, 204)
    call.refresh_from_db()
    assert call.status == "in-progress"
