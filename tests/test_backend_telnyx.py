"""The Telnyx backend: the real telnyx SDK over real HTTP against a fake Telnyx on 127.0.0.1."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from calls.models import Call
from telephony.backends.base import ProviderAccount, TelephonyError
from telephony.backends.telnyx import TelnyxBackend
from tests.fakes.server import FakeProvider
from tests.fakes.support import (
    FROM_NUMBER,
    TO_NUMBER,
    assert_call_left_unknown,
    assert_nothing_contains,
    callback_url,
    dial_request,
    from_threads,
    initiate,
    modules_loaded_by_importing,
    provider_number,
    use_backend,
)

pytest_plugins = ["tests.fakes.fixtures"]

BACKEND = "telephony.backends.telnyx.TelnyxBackend"
API_KEY = "KEY0190ABCDEF_telnyx-secret-7c1d2e3f4a5b"
CONNECTION_ID = "1684641123236054244"
PUBLIC_KEY = "dGVzdC1wdWJsaWMta2V5LW5vdC1yZWFsLTEyMzQ1Njc4OTA="
CREDENTIALS = {"api_key": API_KEY, "connection_id": CONNECTION_ID, "public_key": PUBLIC_KEY}
CALL_CONTROL_ID = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"
DIALED = {
    "data": {
        "call_control_id": CALL_CONTROL_ID,
        "call_leg_id": "2dc6fc34-f9e0-11ea-b68e-02420a0f7768",
        "call_session_id": "2dc1b3c8-f9e0-11ea-bc5a-02420a0f7768",
        "is_alive": False,
        "record_type": "call",
    }
}


@pytest.fixture
def telnyx(fake_provider: FakeProvider) -> Iterator[FakeProvider]:
    """A fake Telnyx that dials, with the telnyx backend pointed at it."""
    fake_provider.on("POST", "/v2/calls", json=DIALED)
    with use_backend("telnyx", BACKEND, API_BASE_URL=f"{fake_provider.url}/v2", TIMEOUT=2):
        yield fake_provider


@pytest.fixture
def telnyx_number(organization: Any) -> Any:
    return provider_number(organization, provider="telnyx", credentials=CREDENTIALS)


def backend_for(fake: FakeProvider) -> TelnyxBackend:
    return TelnyxBackend(provider="telnyx", options={"API_BASE_URL": f"{fake.url}/v2", "TIMEOUT": 2})


ACCOUNT = ProviderAccount(id=1, provider="telnyx", credentials=CREDENTIALS)


def test_initiate_dials_once_through_telnyx_with_the_parameters_of_a_production_dialer(
    api: Any, telnyx: FakeProvider, telnyx_number: Any
) -> None:
    response = initiate(api)

    assert response.status_code == 200, response.content
    assert response.json()["call_sid"] == CALL_CONTROL_ID
    call = Call.objects.get()
    assert (call.call_sid, call.status, call.provider) == (CALL_CONTROL_ID, "queued", "telnyx")
    [request] = telnyx.requests
    assert (request.method, request.path) == ("POST", "/v2/calls")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.data == {
        "connection_id": CONNECTION_ID,
        "to": TO_NUMBER,
        "from": FROM_NUMBER,
        "webhook_url": callback_url("telnyx", "status", call.token),
        "client_state": base64.b64encode(call.token.encode()).decode(),
        "command_id": f"burki-call-{call.pk}",
        "timeout_secs": settings.TELEPHONY_RING_TIMEOUT,
        "time_limit_secs": telnyx_number.assistant.max_call_length,
    }
    assert base64.b64decode(request.data["client_state"]).decode() == call.token
    assert "4155550" not in request.data["webhook_url"]


def test_a_repeated_telnyx_dial_of_the_same_call_carries_the_same_command_id(telnyx: FakeProvider) -> None:
    backend = backend_for(telnyx)

    backend.dial(ACCOUNT, dial_request("telnyx", call_id=41))
    backend.dial(ACCOUNT, dial_request("telnyx", call_id=41))
    backend.dial(ACCOUNT, dial_request("telnyx", call_id=42))

    assert [r.data["command_id"] for r in telnyx.requests] == ["burki-call-41", "burki-call-41", "burki-call-42"]


def test_telnyx_streams_media_when_the_request_has_a_stream_url(telnyx: FakeProvider) -> None:
    backend = backend_for(telnyx)

    backend.dial(ACCOUNT, dial_request("telnyx", stream_url="wss://media.burki.test/stream/tok-41"))
    backend.dial(ACCOUNT, dial_request("telnyx", time_limit=None))

    with_stream, without = telnyx.requests
    assert with_stream.data["stream_url"] == "wss://media.burki.test/stream/tok-41"
    assert "stream_url" not in without.data
    assert "time_limit_secs" not in without.data
    assert without.data["timeout_secs"] == 25


@pytest.mark.parametrize(
    ("status", "code", "title", "detail"),
    [
        (422, "10010", "Invalid 'to' address", "The 'to' address must be a valid E.164 number or SIP URI."),
        (403, "10015", "Bad Request", "The destination country is not enabled in your outbound voice profile."),
    ],
)
def test_a_telnyx_refusal_fails_the_call_and_answers_502_naming_the_telnyx_code(
    api: Any, telnyx: FakeProvider, telnyx_number: Any, status: int, code: str, title: str, detail: str
) -> None:
    telnyx.on("POST", "/v2/calls", status=status, json={"errors": [{"code": code, "title": title, "detail": detail}]})

    response = initiate(api)

    assert response.status_code == 502
    body = response.json()
    assert code in body["detail"]
    assert detail in body["detail"]
    assert body["provider_code"] == code
    call = Call.objects.get()
    assert (call.status, call.end_reason) == ("failed", "provider-rejected")
    assert code in call.error_message
    assert len(telnyx.requests) == 1


def test_a_telnyx_server_error_is_a_refusal_with_its_http_status_not_an_unknown_outcome(
    telnyx: FakeProvider,
) -> None:
    telnyx.on("POST", "/v2/calls", status=500, json={"errors": [{"code": "10007", "title": "Unexpected error"}]})

    with pytest.raises(TelephonyError) as caught:
        backend_for(telnyx).dial(ACCOUNT, dial_request("telnyx"))

    assert caught.value.kind == TelephonyError.REJECTED
    assert (caught.value.code, caught.value.http_status) == ("10007", 500)
    assert len(telnyx.requests) == 1  # the SDK's retries on 5xx are off


@pytest.mark.parametrize(("retry_after_header", "expected"), [({"Retry-After": "3"}, "3"), ({}, "1")])
def test_telnyx_rate_limiting_answers_429_with_retry_after(
    api: Any,
    telnyx: FakeProvider,
    telnyx_number: Any,
    retry_after_header: dict[str, str],
    expected: str,
) -> None:
    telnyx.on(
        "POST",
        "/v2/calls",
        status=429,
        json={"errors": [{"code": "90103", "title": "Too many requests", "detail": "Dial rate limit exceeded."}]},
        headers=retry_after_header,
    )

    response = initiate(api)

    assert response.status_code == 429
    assert response["Retry-After"] == expected
    assert response.json()["provider_code"] == "90103"
    assert Call.objects.get().end_reason == "provider-rate-limited"
    assert len(telnyx.requests) == 1  # no SDK retry either


def test_a_telnyx_request_that_hangs_times_out_and_leaves_the_call_unknown(
    api: Any, fake_provider: FakeProvider, telnyx_number: Any
) -> None:
    fake_provider.on("POST", "/v2/calls", mode="hang")

    started = time.monotonic()
    with use_backend("telnyx", BACKEND, API_BASE_URL=f"{fake_provider.url}/v2", TIMEOUT=0.5):
        response = initiate(api)

    assert time.monotonic() - started < 2.5
    assert_call_left_unknown(response)
    assert len(fake_provider.requests) == 1


def test_a_refused_telnyx_connection_leaves_the_call_unknown(api: Any, refused_url: str, telnyx_number: Any) -> None:
    with use_backend("telnyx", BACKEND, API_BASE_URL=f"{refused_url}/v2", TIMEOUT=2):
        response = initiate(api)

    assert_call_left_unknown(response)


def test_a_dropped_connection_sends_the_dial_to_telnyx_exactly_once(
    api: Any, telnyx: FakeProvider, telnyx_number: Any
) -> None:
    telnyx.on("POST", "/v2/calls", mode="drop")

    response = initiate(api)

    assert_call_left_unknown(response)
    assert len(telnyx.received("POST", "/v2/calls")) == 1


def test_a_telnyx_answer_without_call_control_id_leaves_the_call_unknown(
    api: Any, telnyx: FakeProvider, telnyx_number: Any
) -> None:
    telnyx.on("POST", "/v2/calls", json={"data": None})

    response = initiate(api)

    assert_call_left_unknown(response)


def test_hangup_sends_the_telnyx_hangup_action(telnyx: FakeProvider) -> None:
    path = f"/v2/calls/{CALL_CONTROL_ID}/actions/hangup"
    telnyx.on("POST", path, json={"data": {"result": "ok"}})

    backend_for(telnyx).hangup(ACCOUNT, CALL_CONTROL_ID)

    [request] = telnyx.requests
    assert (request.method, request.path) == ("POST", path)
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.data == {}


def test_a_failed_telnyx_hangup_raises_a_telephony_error(telnyx: FakeProvider) -> None:
    path = f"/v2/calls/{CALL_CONTROL_ID}/actions/hangup"
    telnyx.on("POST", path, status=422, json={"errors": [{"code": "90018", "title": "Call has already ended"}]})

    with pytest.raises(TelephonyError) as caught:
        backend_for(telnyx).hangup(ACCOUNT, CALL_CONTROL_ID)

    assert (caught.value.kind, caught.value.code, caught.value.http_status) == (TelephonyError.REJECTED, "90018", 422)
    assert "Call has already ended" in caught.value.message


def test_telnyx_credentials_never_reach_logs_or_api_responses(
    api: Any, telnyx: FakeProvider, telnyx_number: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    ok = initiate(api)
    telnyx.on("POST", "/v2/calls", status=401, json={"errors": [{"code": "10009", "title": "Authentication failed"}]})
    refused = initiate(api)

    assert (ok.status_code, refused.status_code) == (200, 502)
    assert any(record.name.startswith("telnyx") for record in caplog.records)  # the SDK did log, at DEBUG
    assert_nothing_contains([caplog.text, ok.content, refused.content], [API_KEY, PUBLIC_KEY])


def test_telnyx_oauth_and_key_variables_in_the_environment_are_ignored(
    api: Any, telnyx: FakeProvider, telnyx_number: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELNYX_API_KEY", "process-wide-key")
    monkeypatch.setenv("TELNYX_CLIENT_ID", "process-wide-client")
    monkeypatch.setenv("TELNYX_CLIENT_SECRET", "process-wide-secret")

    response = initiate(api)

    assert response.status_code == 200, response.content
    assert telnyx.received("POST", "/v2/calls")[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert telnyx.received("POST", "/oauth/.*|/v2/oauth/.*") == []


def test_one_telnyx_client_serves_an_account_until_its_credentials_change(telnyx: FakeProvider) -> None:
    backend = backend_for(telnyx)
    clients = from_threads(lambda: backend._client(ACCOUNT)[0])

    rotated = ProviderAccount(id=1, provider="telnyx", credentials={**CREDENTIALS, "api_key": "KEY-rotated"})
    backend.dial(rotated, dial_request("telnyx"))

    assert len({id(client) for client in clients}) == 1
    assert backend._client(rotated)[0] is not clients[0]
    assert telnyx.requests[-1].headers["authorization"] == "Bearer KEY-rotated"


def test_missing_telnyx_credentials_are_refused_before_anything_is_sent(telnyx: FakeProvider) -> None:
    account = ProviderAccount(id=1, provider="telnyx", credentials={"api_key": API_KEY, "connection_id": " "})

    with pytest.raises(TelephonyError) as caught:
        backend_for(telnyx).dial(account, dial_request("telnyx"))

    assert caught.value.kind == TelephonyError.REJECTED
    assert "connection_id" in caught.value.message
    assert telnyx.requests == []


def test_importing_the_telnyx_backend_does_not_import_the_sdk() -> None:
    assert modules_loaded_by_importing("telephony.backends.telnyx", ["telnyx", "httpx"]) == []
