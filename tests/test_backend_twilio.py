"""The Twilio backend: the real twilio SDK over real HTTP against a fake Twilio on 127.0.0.1."""

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
from telephony.backends.twilio import TwilioBackend
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

BACKEND = "telephony.backends.twilio.TwilioBackend"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-5eb6c7d8e9f0a1b2c3d4"
CREDENTIALS = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
CALLS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
CALL_SID = "CA" + "5" * 32
CREATED = {"sid": CALL_SID, "account_sid": ACCOUNT_SID, "status": "queued", "to": TO_NUMBER, "from": FROM_NUMBER}
BASIC_AUTH = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()


@pytest.fixture
def twilio(fake_provider: FakeProvider) -> Iterator[FakeProvider]:
    """A fake Twilio that creates calls, with the twilio backend pointed at it."""
    fake_provider.on("POST", CALLS, status=201, json=CREATED)
    with use_backend("twilio", BACKEND, API_BASE_URL=fake_provider.url, TIMEOUT=2):
        yield fake_provider


@pytest.fixture
def twilio_number(organization: Any) -> Any:
    return provider_number(organization, provider="twilio", credentials=CREDENTIALS)


def test_initiate_places_one_twilio_call_with_the_parameters_of_a_production_dialer(
    api: Any, twilio: FakeProvider, twilio_number: Any
) -> None:
    response = initiate(api)

    assert response.status_code == 200, response.content
    assert response.json()["call_sid"] == CALL_SID
    assert response.json()["status"] == "queued"
    call = Call.objects.get()
    assert (call.call_sid, call.status, call.provider) == (CALL_SID, "queued", "twilio")
    [request] = twilio.requests
    assert (request.method, request.path) == ("POST", CALLS)
    assert request.headers["authorization"] == BASIC_AUTH
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.data == {
        "To": [TO_NUMBER],
        "From": [FROM_NUMBER],
        "Url": [callback_url("twilio", "answer", call.token)],
        "Method": ["POST"],
        "StatusCallback": [callback_url("twilio", "status", call.token)],
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "StatusCallbackMethod": ["POST"],
        "Timeout": [str(settings.TELEPHONY_RING_TIMEOUT)],
        "TimeLimit": [str(twilio_number.assistant.max_call_length)],
    }


def test_twilio_callback_urls_carry_the_token_and_no_number_or_variable(
    api: Any, twilio: FakeProvider, twilio_number: Any
) -> None:
    initiate(api)

    [request] = twilio.requests
    for url in (request.form("Url"), request.form("StatusCallback")):
        assert Call.objects.get().token in url
        assert "4155550" not in url
        assert "Ada" not in url


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (21211, "The 'To' number +14155550199 is not a valid phone number."),
        (21216, "Account not allowed to call +14155550199"),
    ],
)
def test_a_twilio_refusal_fails_the_call_and_answers_502_naming_the_twilio_code(
    api: Any, twilio: FakeProvider, twilio_number: Any, code: int, message: str
) -> None:
    twilio.on("POST", CALLS, status=400, json={"code": code, "message": message, "status": 400})

    response = initiate(api)

    assert response.status_code == 502
    body = response.json()
    assert str(code) in body["detail"]
    assert message in body["detail"]
    assert body["provider_code"] == str(code)
    assert body["status"] == "failed"
    call = Call.objects.get()
    assert call.status == "failed"
    assert call.end_reason == "provider-rejected"
    assert str(code) in call.error_message
    assert len(twilio.requests) == 1


def test_a_twilio_server_error_is_a_refusal_with_its_http_status_not_an_unknown_outcome(
    twilio: FakeProvider,
) -> None:
    twilio.on("POST", CALLS, status=503, json={"code": 20503, "message": "Service Unavailable", "status": 503})
    backend = TwilioBackend(provider="twilio", options={"API_BASE_URL": twilio.url, "TIMEOUT": 2})

    with pytest.raises(TelephonyError) as caught:
        backend.dial(ProviderAccount(id=1, provider="twilio", credentials=CREDENTIALS), dial_request("twilio"))

    assert caught.value.kind == TelephonyError.REJECTED
    assert (caught.value.code, caught.value.http_status) == ("20503", 503)
    assert len(twilio.requests) == 1


@pytest.mark.parametrize(("retry_after_header", "expected"), [({"Retry-After": "7"}, "7"), ({}, "1")])
def test_twilio_rate_limiting_answers_429_with_retry_after(
    api: Any,
    twilio: FakeProvider,
    twilio_number: Any,
    retry_after_header: dict[str, str],
    expected: str,
) -> None:
    twilio.on(
        "POST",
        CALLS,
        status=429,
        json={"code": 20429, "message": "Too Many Requests", "status": 429},
        headers=retry_after_header,
    )

    response = initiate(api)

    assert response.status_code == 429
    assert response["Retry-After"] == expected
    assert response.json()["provider_code"] == "20429"
    call = Call.objects.get()
    assert (call.status, call.end_reason) == ("failed", "provider-rate-limited")


def test_a_twilio_request_that_hangs_times_out_and_leaves_the_call_unknown(
    api: Any, fake_provider: FakeProvider, twilio_number: Any
) -> None:
    fake_provider.on("POST", CALLS, mode="hang")

    started = time.monotonic()
    with use_backend("twilio", BACKEND, API_BASE_URL=fake_provider.url, TIMEOUT=0.5):
        response = initiate(api)

    assert time.monotonic() - started < 2.5
    assert_call_left_unknown(response)
    assert len(fake_provider.requests) == 1


def test_a_refused_twilio_connection_leaves_the_call_unknown(api: Any, refused_url: str, twilio_number: Any) -> None:
    with use_backend("twilio", BACKEND, API_BASE_URL=refused_url, TIMEOUT=2):
        response = initiate(api)

    assert_call_left_unknown(response)


def test_a_dropped_connection_sends_the_create_request_to_twilio_exactly_once(
    api: Any, twilio: FakeProvider, twilio_number: Any
) -> None:
    twilio.on("POST", CALLS, mode="drop")

    response = initiate(api)

    assert_call_left_unknown(response)
    assert len(twilio.received("POST", CALLS)) == 1


def test_a_call_without_time_limit_sends_no_time_limit_to_twilio(twilio: FakeProvider) -> None:
    backend = TwilioBackend(provider="twilio", options={"API_BASE_URL": twilio.url, "TIMEOUT": 2})

    result = backend.dial(
        ProviderAccount(id=1, provider="twilio", credentials=CREDENTIALS), dial_request("twilio", time_limit=None)
    )

    assert (result.call_sid, result.status) == (CALL_SID, "queued")
    [request] = twilio.requests
    assert "TimeLimit" not in request.data
    assert request.form("Timeout") == "25"


def test_hangup_completes_the_twilio_call(twilio: FakeProvider) -> None:
    call_path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{CALL_SID}.json"
    twilio.on("POST", call_path, json={**CREATED, "status": "completed"})
    backend = TwilioBackend(provider="twilio", options={"API_BASE_URL": twilio.url, "TIMEOUT": 2})

    backend.hangup(ProviderAccount(id=1, provider="twilio", credentials=CREDENTIALS), CALL_SID)

    [request] = twilio.requests
    assert (request.method, request.path) == ("POST", call_path)
    assert request.headers["authorization"] == BASIC_AUTH
    assert request.data == {"Status": ["completed"]}


def test_a_failed_twilio_hangup_raises_a_telephony_error(twilio: FakeProvider) -> None:
    call_path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{CALL_SID}.json"
    twilio.on("POST", call_path, status=404, json={"code": 20404, "message": "Not Found", "status": 404})
    backend = TwilioBackend(provider="twilio", options={"API_BASE_URL": twilio.url, "TIMEOUT": 2})

    with pytest.raises(TelephonyError) as caught:
        backend.hangup(ProviderAccount(id=1, provider="twilio", credentials=CREDENTIALS), CALL_SID)

    assert (caught.value.kind, caught.value.code, caught.value.http_status) == (TelephonyError.REJECTED, "20404", 404)


def test_twilio_credentials_never_reach_logs_or_api_responses(
    api: Any, twilio: FakeProvider, twilio_number: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The SDK's own request lines are off by default (TWILIO_LOG_LEVEL): an operator who turns them on for a
    # diagnosis must not find secrets in them either.
    caplog.set_level(logging.DEBUG, logger="twilio.http_client")
    # Two calls within a second: lift the account's default rate limit, which this test is not about.
    type(twilio_number.telephony_account).objects.filter(pk=twilio_number.telephony_account_id).update(
        calls_per_second=0
    )

    ok = initiate(api)
    twilio.on("POST", CALLS, status=401, json={"code": 20003, "message": "Authenticate", "status": 401})
    refused = initiate(api)

    assert (ok.status_code, refused.status_code) == (200, 502)
    assert any(record.name.startswith("twilio") for record in caplog.records)  # the SDK did log, at DEBUG
    secrets = [AUTH_TOKEN, BASIC_AUTH.split()[1]]
    assert_nothing_contains([caplog.text, ok.content, refused.content], secrets)


def test_twilio_sdk_request_lines_stay_out_of_the_log_by_default(
    api: Any, twilio: FakeProvider, twilio_number: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    response = initiate(api)

    assert response.status_code == 200
    assert [r.name for r in caplog.records if r.name == "calls.services"] == ["calls.services"]  # our own line
    assert not [r for r in caplog.records if r.name.startswith("twilio")]


def test_one_twilio_client_serves_an_account_until_its_credentials_change(twilio: FakeProvider) -> None:
    backend = TwilioBackend(provider="twilio", options={"API_BASE_URL": twilio.url, "TIMEOUT": 2})
    account = ProviderAccount(id=7, provider="twilio", credentials=CREDENTIALS)
    clients = from_threads(lambda: backend._client(account))

    rotated = ProviderAccount(id=7, provider="twilio", credentials={**CREDENTIALS, "auth_token": "rotated-token"})
    backend.dial(rotated, dial_request("twilio"))

    assert len({id(client) for client in clients}) == 1
    assert backend._client(rotated) is not clients[0]
    assert backend._client(rotated) is backend._client(rotated)
    expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:rotated-token".encode()).decode()
    assert twilio.requests[-1].headers["authorization"] == expected


def test_twilio_edge_and_region_from_the_environment_do_not_redirect_calls(
    api: Any, twilio: FakeProvider, twilio_number: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")

    response = initiate(api)

    assert response.status_code == 200, response.content
    assert len(twilio.requests) == 1


def test_missing_twilio_credentials_are_refused_before_anything_is_sent(twilio: FakeProvider) -> None:
    backend = TwilioBackend(provider="twilio", options={"API_BASE_URL": twilio.url, "TIMEOUT": 2})

    with pytest.raises(TelephonyError) as caught:
        backend.dial(
            ProviderAccount(id=1, provider="twilio", credentials={"account_sid": ACCOUNT_SID}), dial_request("twilio")
        )

    assert caught.value.kind == TelephonyError.REJECTED
    assert "auth_token" in caught.value.message
    assert twilio.requests == []


def test_importing_the_twilio_backend_does_not_import_the_sdk() -> None:
    assert modules_loaded_by_importing("telephony.backends.twilio", ["twilio", "requests"]) == []
