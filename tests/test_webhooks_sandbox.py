"""The provider-independent webhook path, exercised with the sandbox provider's signed protocol."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from calls.models import Call, CallEvent
from telephony.backends import sandbox
from telephony.backends.base import ProviderAccount
from tests.factories import CallFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

STREAM = "wss://voice.example.com/stream"


@pytest.fixture
def placed(api: Any, number: Any) -> Call:
    response = api.post(
        "/calls/initiate",
        {
            "from_phone_number": "+14155550100",
            "to_phone_number": "+14155550199",
            "welcome_message": "Hi {{name}} <&> \"quoted\" 'single'",
            "agenda": "Discuss {{topic}}",
            "variables": {"name": "Ann", "topic": "renewal"},
        },
        format="json",
    )
    assert response.status_code == 200
    return Call.objects.select_related("telephony_account").get(pk=response.json()["call_id"])


def account_of(call: Call) -> ProviderAccount:
    return ProviderAccount(id=call.telephony_account_id, provider="sandbox", credentials={})


def post_signed(
    call: Call,
    kind: str,
    payload: dict[str, Any],
    *,
    signed_url: str | None = None,
    timestamp: int | None = None,
    body: bytes | None = None,
    secure: bool = False,
    **headers: str,
) -> Any:
    path = f"/telephony/sandbox/{kind}/{call.token}"
    raw = json.dumps(payload).encode()
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    url = signed_url or f"{'https' if secure else 'http'}://testserver{path}"
    signature = sandbox.sign(account_of(call), url=url, timestamp=stamp, body=raw)
    return Client().post(
        path,
        data=body if body is not None else raw,
        content_type="application/json",
        HTTP_X_SANDBOX_SIGNATURE=signature,
        HTTP_X_SANDBOX_TIMESTAMP=stamp,
        **headers,
    )


def event(call: Call, name: str, **extra: Any) -> Any:
    return post_signed(call, "status", {"event": name, "call_sid": call.call_sid, "event_id": name, **extra})


# --- signatures -----------------------------------------------------------------------------------------------


def test_a_signed_event_is_recorded_and_moves_the_call(placed: Call) -> None:
    response = event(placed, "ringing")

    assert response.status_code == 204
    placed.refresh_from_db()
    assert placed.status == "ringing"
    [recorded] = CallEvent.objects.filter(call=placed)
    assert (recorded.provider, recorded.event_type, recorded.status) == ("sandbox", "ringing", "ringing")
    assert recorded.payload["call_sid"] == placed.call_sid


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"HTTP_X_SANDBOX_SIGNATURE": ""}, id="missing-signature"),
        pytest.param({"HTTP_X_SANDBOX_SIGNATURE": "0" * 64}, id="wrong-signature"),
        pytest.param({"age": 301}, id="stale"),
        pytest.param({"age": -330}, id="from-the-future"),
        pytest.param({"body": b'{"event": "completed", "event_id": "x"}'}, id="tampered-body"),
        pytest.param({"signed_url": "http://testserver/telephony/sandbox/status/another-token"}, id="other-url"),
    ],
)
def test_a_bad_signature_is_403_changes_nothing_and_logs_a_warning_without_secrets(
    placed: Call, tamper: dict[str, Any], caplog: Any
) -> None:
    caplog.set_level(logging.WARNING)
    kwargs = {k: v for k, v in tamper.items() if not k.startswith("HTTP_") and k != "age"}
    if "age" in tamper:
        kwargs["timestamp"] = int(time.time()) - tamper["age"]
    headers = {k: v for k, v in tamper.items() if k.startswith("HTTP_")}
    payload = {"event": "ringing", "call_sid": placed.call_sid, "event_id": "r"}
    if headers:
        # Send the header override by posting manually.
        response = Client().post(
            f"/telephony/sandbox/status/{placed.token}",
            data=json.dumps(payload),
            content_type="application/json",
            HTTP_X_SANDBOX_TIMESTAMP=str(int(time.time())),
            **headers,
        )
    else:
        response = post_signed(placed, "status", payload, **kwargs)

    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid webhook signature."}
    placed.refresh_from_db()
    assert placed.status == "queued"
    assert CallEvent.objects.count() == 0
    assert "refused" in caplog.text
    assert placed.token not in caplog.text
    assert sandbox.webhook_secret(account_of(placed)).hex() not in caplog.text


def test_an_account_signs_only_its_own_calls(placed: Call) -> None:
    other_account = ProviderAccount(id=(placed.telephony_account_id or 0) + 1000, provider="sandbox", credentials={})
    path = f"/telephony/sandbox/status/{placed.token}"
    raw = json.dumps({"event": "ringing", "event_id": "r"}).encode()
    stamp = str(int(time.time()))

    response = Client().post(
        path,
        data=raw,
        content_type="application/json",
        HTTP_X_SANDBOX_SIGNATURE=sandbox.sign(other_account, url=f"http://testserver{path}", timestamp=stamp, body=raw),
        HTTP_X_SANDBOX_TIMESTAMP=stamp,
    )

    assert response.status_code == 403


def test_an_unknown_token_is_404(placed: Call) -> None:
    response = Client().post("/telephony/sandbox/status/no-such-token", data="{}", content_type="application/json")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_behind_a_tls_proxy_the_signed_url_is_the_https_one_the_provider_called(placed: Call) -> None:
    payload = {"event": "ringing", "call_sid": placed.call_sid, "event_id": "r"}

    # Without SECURE_PROXY_SSL_HEADER Django rebuilds http://, which is not what the provider signed.
    proxy_headers = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "testserver"}
    plain = post_signed(placed, "status", payload, secure=True, **proxy_headers)
    with override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        proxied = post_signed(placed, "status", payload, secure=True, **proxy_headers)

    assert plain.status_code == 403
    assert proxied.status_code == 204


def test_an_unreadable_but_signed_event_is_400(placed: Call) -> None:
    response = post_signed(placed, "status", {"not": "an event"})

    assert response.status_code == 400
    assert "Unreadable event" in response.json()["detail"]


# --- the answer -----------------------------------------------------------------------------------------------


def test_without_a_media_stream_the_answer_says_the_welcome_message_and_hangs_up(placed: Call) -> None:
    response = post_signed(placed, "answer", {"call_sid": placed.call_sid})

    assert response.status_code == 200
    assert response.json() == {"actions": [{"say": "Hi Ann <&> \"quoted\" 'single'"}, {"hangup": {}}]}


@override_settings(MEDIA_STREAM_URL=STREAM)
def test_with_a_media_stream_the_answer_connects_the_call_with_everything_the_engine_needs(
    placed: Call, client_for: Any
) -> None:
    response = post_signed(placed, "answer", {"call_sid": placed.call_sid})

    [action] = response.json()["actions"]
    stream = action["stream"]
    assert stream["url"] == STREAM
    params = stream["parameters"]
    assert params["call_id"] == str(placed.pk)
    assert params["assistant_id"] == str(placed.assistant_id)
    assert "flow_id" not in params
    assert params["welcome_message"] == "Hi Ann <&> \"quoted\" 'single'"
    assert params["agenda"] == "Discuss renewal"
    context = client_for(params["stream_token"]).get(f"/api/v1/calls/{placed.pk}/context")
    assert context.status_code == 200
    assert context.json()["welcome_message"] == params["welcome_message"]


@override_settings(MEDIA_STREAM_URL=STREAM)
def test_an_answer_request_replayed_after_the_call_ended_hangs_up_and_mints_no_stream_token(
    placed: Call, client_for: Any
) -> None:
    live = post_signed(placed, "answer", {"call_sid": placed.call_sid})
    token = live.json()["actions"][0]["stream"]["parameters"]["stream_token"]
    event(placed, "completed", duration=3)
    placed.refresh_from_db()

    replay = post_signed(placed, "answer", {"call_sid": placed.call_sid})

    assert replay.status_code == 200
    assert replay.json() == {"actions": [{"hangup": {}}]}
    assert b"stream_token" not in replay.content
    assert list(placed.events.values_list("event_type", flat=True)) == ["completed"]
    assert Call.objects.get(pk=placed.pk).updated_at == placed.updated_at
    assert client_for(token).get(f"/api/v1/calls/{placed.pk}/context").status_code == 409


# --- stream tokens and the context endpoint -------------------------------------------------------------------


def stream_token(call: Call) -> str:
    from calls.streams import stream_token_issue

    return stream_token_issue(call)


def test_the_context_gives_the_engine_the_assistant_flow_texts_and_variables(
    api: Any, organization: Any, client_for: Any
) -> None:
    from tests.factories import ConversationFlowFactory, PhoneNumberFactory

    flow = ConversationFlowFactory(organization=organization)
    flow.base_assistant.tts_settings = {"voice": "alloy"}
    flow.base_assistant.save()
    PhoneNumberFactory(organization=organization, phone_number="+14155550100", assistant=None, flow=flow)
    call_id = api.post(
        "/calls/initiate",
        {"from_phone_number": "+14155550100", "to_phone_number": "+14155550199", "variables": {"x": {"y": 1}}},
        format="json",
    ).json()["call_id"]
    call = Call.objects.get(pk=call_id)

    body = client_for(stream_token(call)).get(f"/api/v1/calls/{call.pk}/context").json()

    assert body["call_id"] == call.pk
    assert body["assistant"]["id"] == flow.base_assistant_id
    assert body["assistant"]["tts_settings"] == {"voice": "alloy"}
    assert body["flow"] == {"id": flow.pk, "name": flow.name, "definition": flow.definition}
    assert body["variables"] == {"x": {"y": 1}}
    assert body["welcome_message"] == call.welcome_message


def test_a_stream_token_for_another_call_is_404(placed: Call, client_for: Any) -> None:
    other = CallFactory(organization=placed.organization)

    response = client_for(stream_token(other)).get(f"/api/v1/calls/{placed.pk}/context")

    assert response.status_code == 404


@pytest.mark.parametrize("kind", ["garbage", "api-key", "expired", "tampered"])
def test_any_other_token_is_401_on_the_context(placed: Call, client_for: Any, api_key: Any, kind: str) -> None:
    token = {
        "garbage": "not-a-token",
        "api-key": api_key.raw_key,
        "expired": stream_token(placed),
        "tampered": stream_token(placed)[:-2] + "xx",
    }[kind]
    ttl = -1 if kind == "expired" else 600

    with override_settings(STREAM_TOKEN_TTL=ttl):
        response = client_for(token).get(f"/api/v1/calls/{placed.pk}/context")

    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize("ending", ["completed", "busy", "no-answer", "failed", "canceled"])
def test_a_valid_unexpired_token_opens_no_context_once_the_call_is_over(
    placed: Call, client_for: Any, ending: str
) -> None:
    token = stream_token(placed)
    assert client_for(token).get(f"/api/v1/calls/{placed.pk}/context").status_code == 200

    assert event(placed, ending).status_code == 204

    response = client_for(token).get(f"/api/v1/calls/{placed.pk}/context")
    assert response.status_code == 409
    status = Call.objects.get(pk=placed.pk).status
    assert response.json() == {"detail": f"Call {placed.pk} is over (status {status})."}
    assert status == ending


def test_a_token_of_a_call_whose_secret_changed_is_401(placed: Call, client_for: Any) -> None:
    token = stream_token(placed)
    Call.objects.filter(pk=placed.pk).update(token="rotated-secret-token")

    assert client_for(token).get(f"/api/v1/calls/{placed.pk}/context").status_code == 401


# --- lifecycle ------------------------------------------------------------------------------------------------


def test_a_full_lifecycle_sets_answered_ended_and_duration(placed: Call) -> None:
    for name in ("initiated", "ringing", "answered"):
        assert event(placed, name).status_code == 204
    placed.refresh_from_db()
    assert placed.status == "in-progress"
    assert placed.answered_at is not None

    event(placed, "completed", duration=42)

    placed.refresh_from_db()
    assert placed.status == "completed"
    assert placed.end_reason == "hangup"
    assert placed.duration == 42
    assert placed.ended_at is not None
    assert placed.answered_at is not None
    assert placed.ended_at >= placed.answered_at
    assert list(placed.events.values_list("status", flat=True)) == [
        "initiated", "ringing", "in-progress", "completed"
    ]  # fmt: skip


def test_late_and_out_of_order_events_never_move_a_call_backwards(placed: Call) -> None:
    event(placed, "answered")
    event(placed, "ringing")
    placed.refresh_from_db()
    assert placed.status == "in-progress"

    event(placed, "completed", duration=3)
    event(placed, "initiated")
    event(placed, "failed")

    placed.refresh_from_db()
    assert placed.status == "completed"
    assert placed.duration == 3
    assert placed.events.count() == 5  # every accepted event is kept, even one that changes nothing


def test_a_duplicate_event_changes_nothing(placed: Call) -> None:
    event(placed, "completed", duration=5)
    placed.refresh_from_db()
    ended = placed.ended_at

    again = event(placed, "completed", duration=99)

    assert again.status_code == 204
    placed.refresh_from_db()
    assert (placed.duration, placed.ended_at) == (5, ended)
    assert placed.events.count() == 1


def test_an_event_for_an_unknown_call_fills_in_its_provider_id_and_status(placed: Call) -> None:
    Call.objects.filter(pk=placed.pk).update(status="unknown", call_sid=None)
    placed.refresh_from_db()

    post_signed(placed, "status", {"event": "ringing", "call_sid": "SBlate", "event_id": "1"})

    placed.refresh_from_db()
    assert (placed.call_sid, placed.status) == ("SBlate", "ringing")


def test_a_call_that_ends_unanswered_records_why_and_zero_duration(placed: Call) -> None:
    event(placed, "no-answer")

    placed.refresh_from_db()
    assert (placed.status, placed.end_reason, placed.duration) == ("no-answer", "no-answer", 0)
    assert placed.answered_at is None


def test_events_are_listed_for_the_calls_organization_only(placed: Call, api: Any, client_for: Any) -> None:
    from tests.factories import ApiKeyFactory

    event(placed, "ringing")
    stranger = client_for(ApiKeyFactory(organization=OrganizationFactory()).raw_key)

    mine = api.get(f"/api/v1/calls/{placed.pk}/events")
    theirs = stranger.get(f"/api/v1/calls/{placed.pk}/events")

    assert [e["event_type"] for e in mine.json()["items"]] == ["ringing"]
    assert mine.json()["total"] == 1
    assert theirs.status_code == 404


# --- stale calls ----------------------------------------------------------------------------------------------


def age(call: Call, **delta: float) -> None:
    Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(**delta))


def test_expire_stale_calls_fails_only_calls_well_past_their_end(organization: Any) -> None:
    stuck_queued = CallFactory(organization=organization, status="queued")
    fresh_queued = CallFactory(organization=organization, status="queued")
    long_ringing = CallFactory(organization=organization, status="in-progress")
    live = CallFactory(organization=organization, status="in-progress")
    lost_unknown = CallFactory(organization=organization, status="unknown")
    done = CallFactory(organization=organization, status="completed")
    age(stuck_queued, minutes=6)
    age(fresh_queued, minutes=1)
    age(long_ringing, seconds=1800 + 30 + 300 + 5)  # past max length + ring + grace
    age(live, seconds=1800)
    age(lost_unknown, hours=5)
    age(done, days=3)
    out = StringIO()

    call_command("expire_stale_calls", stdout=out)
    call_command("expire_stale_calls", stdout=StringIO())

    assert "Expired 3 stale call(s)." in out.getvalue()
    statuses = dict(Call.objects.values_list("pk", "status"))
    assert statuses[stuck_queued.pk] == statuses[long_ringing.pk] == statuses[lost_unknown.pk] == "failed"
    assert (statuses[fresh_queued.pk], statuses[live.pk], statuses[done.pk]) == ("queued", "in-progress", "completed")
    expired = Call.objects.get(pk=long_ringing.pk)
    assert expired.end_reason == "stale"
    assert expired.ended_at is not None


# --- the whole thing over real HTTP ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_place_test_call_simulate_drives_a_full_lifecycle_over_http(live_server: Any, settings: Any) -> None:
    from tests.factories import PhoneNumberFactory

    settings.PUBLIC_BASE_URL = live_server.url
    PhoneNumberFactory(phone_number="+14155550100")
    out = StringIO()

    call_command(
        "place_test_call", "--from", "+14155550100", "--to", "+14155550199", "--simulate", "--json", stdout=out
    )

    result = json.loads(out.getvalue())
    assert [(r["request"], r["http_status"]) for r in result["simulated"]] == [
        ("initiated", 204), ("ringing", 204), ("answer", 200), ("answered", 204), ("completed", 204)
    ]  # fmt: skip
    call = Call.objects.get(pk=result["call_id"])
    assert (call.status, call.duration, result["status"]) == ("completed", 7, "completed")
    assert list(call.events.values_list("status", flat=True)) == ["initiated", "ringing", "in-progress", "completed"]


def test_an_event_naming_another_provider_call_is_kept_but_not_applied(placed: Call) -> None:
    response = post_signed(placed, "status", {"event": "completed", "call_sid": "SBsomeone-else", "event_id": "x"})

    assert response.status_code == 204
    placed.refresh_from_db()
    assert (placed.status, placed.call_sid) != ("completed", "SBsomeone-else")
    assert placed.status == "queued"
    assert placed.events.get().event_type == "completed"


def unknown_call_of_the_same_account(placed: Call) -> Call:
    """A call whose dial timed out (no provider id yet), placed through the same sandbox account as `placed`."""
    call: Call = CallFactory(
        organization=placed.organization,
        telephony_account=placed.telephony_account,
        provider="sandbox",
        call_sid=None,
        status="unknown",
    )
    return call


def test_an_event_naming_a_provider_call_id_held_by_another_call_is_kept_but_claims_nothing(
    placed: Call, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    timed_out = unknown_call_of_the_same_account(placed)

    response = post_signed(timed_out, "status", {"event": "answered", "call_sid": placed.call_sid, "event_id": "a"})

    assert response.status_code == 204, response.content
    timed_out.refresh_from_db()
    assert (timed_out.call_sid, timed_out.status, timed_out.answered_at) == (None, "unknown", None)
    assert timed_out.events.get().payload["call_sid"] == placed.call_sid
    assert Call.objects.get(pk=placed.pk).call_sid == placed.call_sid
    assert not placed.events.exists()
    assert f"call {timed_out.pk}: event answered names a provider call id held by another call" in caplog.text
    assert placed.call_sid not in caplog.text


def test_a_provider_call_id_claimed_by_another_call_meanwhile_is_not_claimed_twice(
    placed: Call, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The race the check before the update cannot see: another call's event claimed the id between the two.
    caplog.set_level(logging.WARNING)
    monkeypatch.setattr("calls.lifecycle._call_sid_taken", lambda call, call_sid: False)
    timed_out = unknown_call_of_the_same_account(placed)

    response = post_signed(timed_out, "status", {"event": "completed", "call_sid": placed.call_sid, "event_id": "c"})

    assert response.status_code == 204, response.content
    timed_out.refresh_from_db()
    assert (timed_out.call_sid, timed_out.status, timed_out.ended_at) == (None, "unknown", None)
    assert timed_out.events.get().event_type == "completed"
    assert "another call claimed meanwhile" in caplog.text
    # The transaction survived the failed update: the call is still usable, and its next event applies.
    assert (
        post_signed(timed_out, "status", {"event": "ringing", "call_sid": "SBits-own", "event_id": "r"}).status_code
        == 204
    )
    timed_out.refresh_from_db()
    assert (timed_out.call_sid, timed_out.status) == ("SBits-own", "ringing")


def test_a_provider_call_id_longer_than_any_provider_s_is_kept_but_not_claimed(placed: Call) -> None:
    timed_out = unknown_call_of_the_same_account(placed)

    response = post_signed(timed_out, "status", {"event": "ringing", "call_sid": "SB" + "9" * 200, "event_id": "r"})

    assert response.status_code == 204, response.content
    timed_out.refresh_from_db()
    assert (timed_out.call_sid, timed_out.status) == (None, "unknown")
    assert timed_out.events.count() == 1


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"event": "ringing", "call_sid": "SB\x00", "event_id": "r"}, "call_sid, payload.call_sid"),
        ({"event": "ringing", "event_id": "r\ud800"}, "key, payload.event_id"),
        ({"event": "ringing", "event_id": "r", "extra": {"to": ["+14155550199", "\x00"]}}, "payload.extra.to[1]"),
    ],
)
def test_a_signed_event_carrying_text_no_database_stores_is_400_and_changes_nothing(
    placed: Call, payload: dict[str, Any], where: str
) -> None:
    response = post_signed(placed, "status", payload)

    assert response.status_code == 400, response.content
    assert response.json() == {"detail": f"Unreadable event: a NUL character or an invalid surrogate in {where}."}
    placed.refresh_from_db()
    assert (placed.status, placed.events.count()) == ("queued", 0)
