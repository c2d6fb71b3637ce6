"""Vonage's webhooks, end to end: requests with a signed JWT as Vonage sends them, through our URLs, onto the call."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.test import override_settings
from django.utils import timezone

from calls.models import Call, CallEvent
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
)

pytestmark = pytest.mark.django_db

APPLICATION_ID = "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab"
SIGNATURE_SECRET = "vonage-signature-secret-9f8e7d6c5b4a3f2e1d0c"
CREDENTIALS = {
    "application_id": APPLICATION_ID,
    "private_key": "-----BEGIN PRIVATE KEY-----\nnot used by webhooks\n-----END PRIVATE KEY-----",
    "signature_secret": SIGNATURE_SECRET,
}
CALL_UUID = "63f61863-4a51-4f6b-86e1-46edebcf9356"
CONVERSATION_UUID = "CON-f972836a-550f-45fa-956c-12a2ab5b7d22"


@pytest.fixture
def call(organization: Any) -> Call:
    return provider_call(organization, provider="vonage", credentials=CREDENTIALS, call_sid=CALL_UUID)


def signature_jwt(body: bytes, *, secret: str = SIGNATURE_SECRET, **claims: Any) -> str:
    """The token Vonage puts in `Authorization: Bearer`: HS256 with the signature secret, the body's hash inside."""
    payload = {
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": "abcd1234",
        "application_id": APPLICATION_ID,
        **claims,
    }
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm="HS256")


def post(call: Call, kind: str, body: dict[str, Any], *, authorization: str | None = None, **claims: Any) -> Any:
    raw = json.dumps(body).encode()
    if authorization is None:
        authorization = f"Bearer {signature_jwt(raw, **claims)}"
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    return post_json(call, kind, raw, **headers)


def vonage_event(call_status: str, *, timestamp: str = "2025-01-14T10:00:05.000Z", **extra: Any) -> dict[str, Any]:
    return {
        "from": "14155550100",
        "to": "14155550199",
        "uuid": CALL_UUID,
        "conversation_uuid": CONVERSATION_UUID,
        "status": call_status,
        "direction": "outbound",
        "timestamp": timestamp,
        **extra,
    }


def event(call: Call, call_status: str, **extra: Any) -> Any:
    return post(call, "status", vonage_event(call_status, **extra))


# --- signatures -----------------------------------------------------------------------------------------------


def test_an_event_signed_with_the_accounts_secret_is_recorded(call: Call) -> None:
    body = vonage_event("ringing")

    response = post(call, "status", body)

    assert (response.status_code, response.content) == (204, b"")
    call.refresh_from_db()
    assert call.status == "ringing"
    [kept] = CallEvent.objects.filter(call=call)
    assert (kept.provider, kept.event_type, kept.status) == ("vonage", "ringing", "ringing")
    assert kept.key == f"{CALL_UUID}:ringing:2025-01-14T10:00:05.000Z"
    assert kept.payload == body


def raw_and_authorization(call: Call, change: str) -> tuple[bytes, str]:
    """A correctly signed completed event, then one thing about it changed."""
    raw = json.dumps(vonage_event("completed", duration="30")).encode()
    now = int(time.time())
    token = signature_jwt(raw)
    if change == "missing":
        return raw, ""
    if change == "another-secret":
        token = signature_jwt(raw, secret="another-accounts-signature-secret-0000")
    elif change == "stale":
        token = signature_jwt(raw, iat=now - 301)
    elif change == "from-the-future":
        token = signature_jwt(raw, iat=now + 330)
    elif change == "no-iat":
        token = signature_jwt(raw, iat=None)
    elif change == "tampered-body":
        raw = raw.replace(b'"30"', b'"3000"')
    elif change == "no-payload-hash":
        token = signature_jwt(raw, payload_hash=None)
    elif change == "hash-of-another-body":
        token = signature_jwt(raw, payload_hash=hashlib.sha256(b"{}").hexdigest())
    elif change == "expired":
        token = signature_jwt(raw, exp=now - 1)
    elif change == "unsigned":
        token = jwt.encode({"iat": now, "payload_hash": hashlib.sha256(raw).hexdigest()}, key=None, algorithm="none")
    elif change == "garbage":
        token = "not.a.jwt"
    elif change == "not-bearer":
        return raw, f"Basic {token}"
    return raw, f"Bearer {token}"


@pytest.mark.parametrize(
    "change",
    [
        "missing",
        "another-secret",
        "stale",
        "from-the-future",
        "no-iat",
        "tampered-body",
        "no-payload-hash",
        "hash-of-another-body",
        "expired",
        "unsigned",
        "garbage",
        "not-bearer",
    ],
)
def test_an_event_without_a_valid_signature_is_403_and_changes_nothing(call: Call, change: str) -> None:
    raw, authorization = raw_and_authorization(call, change)
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = post_json(call, "status", raw, **headers)

    assert_refused_and_unchanged(response, call)


def test_an_event_signed_within_the_allowed_age_is_accepted(call: Call) -> None:
    response = post(call, "status", vonage_event("ringing"), iat=int(time.time()) - 290)

    assert response.status_code == 204


def test_an_event_signed_by_another_vonage_account_of_the_same_organization_is_403(
    call: Call, organization: Any
) -> None:
    other_secret = "other-accounts-signature-secret-1234567"
    provider_call(organization, provider="vonage", credentials={**CREDENTIALS, "signature_secret": other_secret})

    response = post(call, "status", vonage_event("answered"), secret=other_secret)

    assert_refused_and_unchanged(response, call)


def test_an_account_without_a_signature_secret_refuses_every_event(organization: Any) -> None:
    credentials = {**CREDENTIALS, "signature_secret": ""}
    call = provider_call(organization, provider="vonage", credentials=credentials, call_sid=CALL_UUID)

    # Signed with a secret the account once had: with none configured now, nothing verifies.
    response = post(call, "status", vonage_event("answered"))

    assert_refused_and_unchanged(response, call)


def test_a_signed_event_that_is_not_a_json_object_is_400(call: Call) -> None:
    raw = b"[1, 2]"

    response = post_json(call, "status", raw, HTTP_AUTHORIZATION=f"Bearer {signature_jwt(raw)}")

    assert response.status_code == 400
    assert not CallEvent.objects.filter(call=call).exists()


# --- the answer: NCCO -----------------------------------------------------------------------------------------


def answer_request(call: Call) -> dict[str, Any]:
    """What Vonage POSTs to the answer URL (the dial asks for answer_method POST)."""
    return {
        "to": call.to_number.lstrip("+"),
        "from": call.from_number.lstrip("+"),
        "uuid": CALL_UUID,
        "conversation_uuid": CONVERSATION_UUID,
        "region_url": "https://api-eu-3.vonage.com",
    }


def ncco(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    actions: list[dict[str, Any]] = json.loads(response.content)
    return actions


@override_settings(MEDIA_STREAM_URL=STREAM_URL)
@pytest.mark.parametrize("flow", [False, True], ids=["assistant-call", "flow-call"])
def test_with_a_media_stream_the_ncco_connects_the_call_to_a_websocket_with_every_parameter(
    organization: Any, flow: bool
) -> None:
    call = provider_call(organization, provider="vonage", credentials=CREDENTIALS, call_sid=CALL_UUID, flow=flow)

    response = post(call, "answer", answer_request(call))

    [connect] = ncco(response)
    assert set(connect) == {"action", "from", "endpoint"}
    assert (connect["action"], connect["from"]) == ("connect", "14155550100")
    [endpoint] = connect["endpoint"]
    assert set(endpoint) == {"type", "uri", "content-type", "headers"}
    assert (endpoint["type"], endpoint["uri"]) == ("websocket", STREAM_URL)
    assert endpoint["content-type"] == "audio/l16;rate=16000"
    assert_stream_parameters(endpoint["headers"], call)
    assert not CallEvent.objects.filter(call=call).exists()


@override_settings(MEDIA_STREAM_URL="")
def test_without_a_media_stream_the_ncco_only_speaks_the_welcome_message(call: Call) -> None:
    response = post(call, "answer", answer_request(call))

    assert ncco(response) == [{"action": "talk", "text": WELCOME}]


def test_an_answer_request_with_a_tampered_body_gets_no_ncco(call: Call) -> None:
    raw = json.dumps(answer_request(call)).encode()
    token = signature_jwt(raw)

    response = post_json(
        call, "answer", raw.replace(b"14155550199", b"14155550666"), HTTP_AUTHORIZATION=f"Bearer {token}"
    )

    assert_refused_and_unchanged(response, call)


# --- replays ---------------------------------------------------------------------------------------------------


def streamed_headers(response: Any) -> dict[str, str]:
    [connect] = ncco(response)
    [endpoint] = connect["endpoint"]
    headers: dict[str, str] = endpoint["headers"]
    return headers


@override_settings(MEDIA_STREAM_URL=STREAM_URL)
def test_a_captured_answer_request_replayed_after_the_call_ended_gets_an_empty_ncco_and_no_stream_token(
    call: Call,
) -> None:
    # Replayed within the JWT's freshness window: the captured token and body verify again.
    raw = json.dumps(answer_request(call)).encode()
    authorization = f"Bearer {signature_jwt(raw)}"
    live = post_json(call, "answer", raw, HTTP_AUTHORIZATION=authorization)
    token = streamed_headers(live)["stream_token"]
    assert context(call, token).status_code == 200
    event(call, "completed", duration="12")
    ended, events = outcome(call), recorded(call)

    replay = post_json(call, "answer", raw, HTTP_AUTHORIZATION=authorization)

    assert ncco(replay) == []
    assert b"stream_token" not in replay.content
    assert (outcome(call), recorded(call)) == (ended, events)
    assert_context_refused_because_over(context(call, token), call)


# --- what a signature for one URL opens on another ------------------------------------------------------------


@override_settings(MEDIA_STREAM_URL=STREAM_URL)
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(vonage_event("answered"), id="status-event"),
        pytest.param(
            {"uuid": CALL_UUID, "conversation_uuid": CONVERSATION_UUID, "dtmf": {"digits": "1"},
             "timestamp": "2025-01-14T10:00:09.000Z"},
            id="input-event",
        ),
    ],
)  # fmt: skip
def test_an_event_vonage_signed_for_the_event_url_gets_no_ncco_on_the_answer_url(
    call: Call, body: dict[str, Any]
) -> None:
    # The JWT does not cover the URL: the same token and body, captured on their way to the status URL.
    raw = json.dumps(body).encode()
    authorization = f"Bearer {signature_jwt(raw)}"
    assert post_json(call, "status", raw, HTTP_AUTHORIZATION=authorization).status_code == 204
    call.refresh_from_db()

    response = post_json(call, "answer", raw, HTTP_AUTHORIZATION=authorization)

    assert response.status_code == 403
    assert b"stream_token" not in response.content
    assert Call.objects.get(pk=call.pk).status == call.status


@override_settings(MEDIA_STREAM_URL=STREAM_URL)
def test_an_answer_request_vonage_signed_for_another_call_gets_no_ncco(call: Call) -> None:
    # Another call of the same application: the same signature secret signed it, with that call's uuid inside.
    body = {**answer_request(call), "uuid": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"}

    response = post(call, "answer", body)

    assert_refused_and_unchanged(response, call)
    assert b"stream_token" not in response.content


@override_settings(MEDIA_STREAM_URL=STREAM_URL)
def test_an_answer_request_for_a_call_whose_uuid_is_not_known_yet_is_answered(organization: Any) -> None:
    call = provider_call(organization, provider="vonage", credentials=CREDENTIALS, call_sid=None, status="unknown")

    response = post(call, "answer", answer_request(call))

    assert_stream_parameters(streamed_headers(response), call)


# --- statuses -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call_status", "extra", "status", "end_reason", "duration"),
    [
        ("started", {}, "initiated", "", None),
        ("ringing", {}, "ringing", "", None),
        ("answered", {"start_time": None, "rate": None}, "in-progress", "", None),
        ("completed", {"duration": "42", "rate": "0.01", "price": "0.007"}, "completed", "completed", 42),
        ("busy", {}, "busy", "busy", 0),
        ("timeout", {}, "no-answer", "timeout", 0),
        ("unanswered", {}, "no-answer", "unanswered", 0),
        ("rejected", {}, "failed", "rejected", 0),
        ("failed", {"detail": "cannot_route"}, "failed", "failed", 0),
        ("cancelled", {}, "canceled", "cancelled", 0),
    ],
)
def test_each_vonage_call_status_maps_onto_the_normalized_lifecycle(
    call: Call, call_status: str, extra: dict[str, Any], status: str, end_reason: str, duration: int | None
) -> None:
    response = event(call, call_status, **extra)

    assert response.status_code == 204
    call.refresh_from_db()
    assert (call.status, call.end_reason, call.duration) == (status, end_reason, duration)
    assert recorded(call) == [(call_status, status)]
    assert (call.ended_at is not None) == bool(end_reason)
    assert (call.answered_at is not None) == (status == "in-progress")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(vonage_event("machine", sub_state="beep_start"), id="machine"),
        pytest.param(vonage_event("human"), id="human"),
        pytest.param({"uuid": CALL_UUID, "dtmf": {"digits": "1"}, "timestamp": "2025-01-14T10:00:09Z"}, id="input"),
        pytest.param(
            {"type": "transfer", "uuid": CALL_UUID, "conversation_uuid_to": "CON-2", "timestamp": "2025-01-14T10:00Z"},
            id="transfer",
        ),
    ],
)
def test_events_without_a_call_status_are_kept_without_moving_the_call(call: Call, body: dict[str, Any]) -> None:
    response = post(call, "status", body)

    assert response.status_code == 204
    call.refresh_from_db()
    assert call.status == "queued"
    [(_, status)] = recorded(call)
    assert status == ""


def test_a_status_event_without_the_calls_uuid_is_400(call: Call) -> None:
    response = post(call, "status", {"status": "answered", "timestamp": "2025-01-14T10:00:05.000Z"})

    assert response.status_code == 400
    assert not CallEvent.objects.filter(call=call).exists()


def test_a_full_vonage_lifecycle_records_answer_end_and_vonages_duration(call: Call) -> None:
    for number, call_status in enumerate(["started", "ringing", "answered"]):
        assert event(call, call_status, timestamp=f"2025-01-14T10:00:0{number}.000Z").status_code == 204
    Call.objects.filter(pk=call.pk).update(answered_at=timezone.now() - timedelta(seconds=20))

    event(call, "completed", duration="18", timestamp="2025-01-14T10:00:30.000Z")

    call.refresh_from_db()
    assert (call.status, call.end_reason, call.duration) == ("completed", "completed", 18)
    assert [status for _, status in recorded(call)] == ["initiated", "ringing", "in-progress", "completed"]


def test_a_late_ringing_after_completed_is_kept_but_changes_nothing(call: Call) -> None:
    event(call, "completed", duration="5", timestamp="2025-01-14T10:00:30.000Z")
    ended = outcome(call)

    late = event(call, "ringing", timestamp="2025-01-14T10:00:02.000Z")

    assert late.status_code == 204
    assert outcome(call) == ended
    assert recorded(call) == [("completed", "completed"), ("ringing", "ringing")]


def test_the_same_event_twice_is_one_event(call: Call) -> None:
    # Signed twice (a new jti and iat each time), as a redelivery would be.
    responses = [event(call, "answered"), event(call, "answered")]

    assert [r.status_code for r in responses] == [204, 204]
    assert recorded(call) == [("answered", "in-progress")]


def test_an_event_for_an_unknown_call_fills_in_its_uuid(organization: Any) -> None:
    call = provider_call(organization, provider="vonage", credentials=CREDENTIALS, call_sid=None, status="unknown")

    event(call, "started")

    call.refresh_from_db()
    assert (call.call_sid, call.status) == (CALL_UUID, "initiated")
