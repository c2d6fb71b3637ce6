"""The Vonage backend: the real vonage SDK over real HTTPS against a fake Vonage on 127.0.0.1."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from django.conf import settings

from calls.models import Call
from telephony.backends.base import ProviderAccount, TelephonyError
from telephony.backends.vonage import VonageBackend
from tests.fakes.keys import RsaKeyPair
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

BACKEND = "telephony.backends.vonage.VonageBackend"
APPLICATION_ID = "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab"
SIGNATURE_SECRET = "vonage-signature-secret-9f8e7d6c5b4a"
CALL_UUID = "63f61863-4a51-4f6b-86e1-46edebcf9356"
CREATED = {
    "uuid": CALL_UUID,
    "status": "started",
    "direction": "outbound",
    "conversation_uuid": "CON-f972836a-550f-45fa-956c-12a2ab5b7d22",
}


@pytest.fixture
def credentials(rsa_keys: RsaKeyPair) -> dict[str, str]:
    return {"application_id": APPLICATION_ID, "private_key": rsa_keys.private_pem, "signature_secret": SIGNATURE_SECRET}


@pytest.fixture
def vonage(fake_tls_provider: FakeProvider) -> Iterator[FakeProvider]:
    """A fake Vonage (HTTPS, trusted for the test) that creates calls, with the vonage backend pointed at it."""
    fake_tls_provider.on("POST", "/v1/calls", status=201, json=CREATED)
    with use_backend("vonage", BACKEND, API_HOST=fake_tls_provider.host, TIMEOUT=2):
        yield fake_tls_provider


@pytest.fixture
def vonage_number(organization: Any, credentials: dict[str, str]) -> Any:
    return provider_number(organization, provider="vonage", credentials=credentials)


@pytest.fixture
def account(credentials: dict[str, str]) -> ProviderAccount:
    return ProviderAccount(id=1, provider="vonage", credentials=credentials)


def backend_for(fake: FakeProvider, timeout: float = 2) -> VonageBackend:
    return VonageBackend(provider="vonage", options={"API_HOST": fake.host, "TIMEOUT": timeout})


def bearer_claims(authorization: str, public_pem: str) -> dict[str, Any]:
    scheme, token = authorization.split(" ", 1)
    assert scheme == "Bearer"
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims: dict[str, Any] = jwt.decode(token, public_pem, algorithms=["RS256"])  # fails unless the key signed it
    return claims


def test_initiate_creates_one_vonage_call_with_the_parameters_of_a_production_dialer(
    api: Any, vonage: FakeProvider, vonage_number: Any, rsa_keys: RsaKeyPair
) -> None:
    response = initiate(api)

    assert response.status_code == 200, response.content
    assert response.json()["call_sid"] == CALL_UUID
    call = Call.objects.get()
    assert (call.call_sid, call.status, call.provider) == (CALL_UUID, "queued", "vonage")
    [request] = vonage.requests
    assert (request.method, request.path) == ("POST", "/v1/calls")
    claims = bearer_claims(request.headers["authorization"], rsa_keys.public_pem)
    assert claims["application_id"] == APPLICATION_ID
    assert claims["exp"] > time.time()
    assert request.data == {
        "to": [{"type": "phone", "number": TO_NUMBER.lstrip("+")}],
        "from": {"type": "phone", "number": FROM_NUMBER.lstrip("+")},
        "answer_url": [callback_url("vonage", "answer", call.token)],
        "answer_method": "POST",
        "event_url": [callback_url("vonage", "status", call.token)],
        "event_method": "POST",
        "ringing_timer": settings.TELEPHONY_RING_TIMEOUT,
        "length_timer": vonage_number.assistant.max_call_length,
    }
    for url in (*request.data["answer_url"], *request.data["event_url"]):
        assert "4155550" not in url


def test_vonage_timers_are_kept_within_the_sdk_bounds(vonage: FakeProvider, account: ProviderAccount) -> None:
    backend = backend_for(vonage)

    backend.dial(account, dial_request("vonage", ring_timeout=300, time_limit=None))

    [request] = vonage.requests
    assert request.data["ringing_timer"] == 120
    assert "length_timer" not in request.data


@pytest.mark.parametrize(
    ("status", "body", "code", "message"),
    [
        (
            400,
            {
                "type": "https://developer.nexmo.com/api-errors/voice#validation",
                "title": "Bad Request",
                "detail": "The to number is not a valid phone number.",
            },
            "validation",
            "Bad Request: The to number is not a valid phone number.",
        ),
        (
            401,
            {
                "type": "https://developer.nexmo.com/api-errors#unauthorized",
                "title": "Unauthorized",
                "detail": "You did not provide correct credentials.",
            },
            "unauthorized",
            "Unauthorized: You did not provide correct credentials.",
        ),
    ],
)
def test_a_vonage_refusal_fails_the_call_and_answers_502_naming_the_vonage_error(
    api: Any,
    vonage: FakeProvider,
    vonage_number: Any,
    status: int,
    body: dict[str, str],
    code: str,
    message: str,
) -> None:
    vonage.on("POST", "/v1/calls", status=status, json=body)

    response = initiate(api)

    assert response.status_code == 502
    payload = response.json()
    assert code in payload["detail"]
    assert message in payload["detail"]
    assert payload["provider_code"] == code
    call = Call.objects.get()
    assert (call.status, call.end_reason) == ("failed", "provider-rejected")
    assert code in call.error_message
    assert len(vonage.requests) == 1


def test_a_vonage_server_error_is_a_refusal_with_its_http_status_not_an_unknown_outcome(
    vonage: FakeProvider, account: ProviderAccount
) -> None:
    vonage.on("POST", "/v1/calls", status=503, json={"title": "Service Unavailable", "detail": "Try again later."})

    with pytest.raises(TelephonyError) as caught:
        backend_for(vonage).dial(account, dial_request("vonage"))

    assert caught.value.kind == TelephonyError.REJECTED
    assert (caught.value.code, caught.value.http_status) == ("Service Unavailable", 503)
    assert len(vonage.requests) == 1


@pytest.mark.parametrize(("retry_after_header", "expected"), [({"Retry-After": "2"}, "2"), ({}, "1")])
def test_vonage_rate_limiting_answers_429_with_retry_after(
    api: Any,
    vonage: FakeProvider,
    vonage_number: Any,
    retry_after_header: dict[str, str],
    expected: str,
) -> None:
    vonage.on(
        "POST",
        "/v1/calls",
        status=429,
        json={"type": "https://developer.nexmo.com/api-errors#throttled", "title": "Too Many Requests"},
        headers=retry_after_header,
    )

    response = initiate(api)

    assert response.status_code == 429
    assert response["Retry-After"] == expected
    assert response.json()["provider_code"] == "throttled"
    assert Call.objects.get().end_reason == "provider-rate-limited"


def test_a_vonage_request_that_hangs_times_out_and_leaves_the_call_unknown(
    api: Any, fake_tls_provider: FakeProvider, vonage_number: Any
) -> None:
    fake_tls_provider.on("POST", "/v1/calls", mode="hang")

    started = time.monotonic()
    # Vonage's SDK takes whole seconds: 0.5 is rounded up to 1, not refused by its validation.
    with use_backend("vonage", BACKEND, API_HOST=fake_tls_provider.host, TIMEOUT=0.5):
        response = initiate(api)

    assert 0.9 < time.monotonic() - started < 3
    assert_call_left_unknown(response)
    assert len(fake_tls_provider.requests) == 1


def test_a_refused_vonage_connection_leaves_the_call_unknown(
    api: Any, refused_url: str, vonage_number: Any, fake_tls_provider: FakeProvider
) -> None:
    with use_backend("vonage", BACKEND, API_HOST=refused_url.removeprefix("http://"), TIMEOUT=2):
        response = initiate(api)

    assert_call_left_unknown(response)


def test_a_dropped_connection_sends_the_create_request_to_vonage_exactly_once(
    api: Any, vonage: FakeProvider, vonage_number: Any
) -> None:
    vonage.on("POST", "/v1/calls", mode="drop")

    response = initiate(api)

    assert_call_left_unknown(response)
    assert len(vonage.received("POST", "/v1/calls")) == 1


def test_a_vonage_answer_without_uuid_leaves_the_call_unknown(
    api: Any, vonage: FakeProvider, vonage_number: Any
) -> None:
    vonage.on("POST", "/v1/calls", status=201, json={"status": "started"})

    response = initiate(api)

    assert_call_left_unknown(response)


def test_hangup_sends_the_vonage_hangup_action(
    vonage: FakeProvider, account: ProviderAccount, rsa_keys: RsaKeyPair
) -> None:
    vonage.on("PUT", f"/v1/calls/{CALL_UUID}", status=204)

    backend_for(vonage).hangup(account, CALL_UUID)

    [request] = vonage.requests
    assert (request.method, request.path) == ("PUT", f"/v1/calls/{CALL_UUID}")
    assert request.data == {"action": "hangup"}
    assert bearer_claims(request.headers["authorization"], rsa_keys.public_pem)["application_id"] == APPLICATION_ID


def test_a_failed_vonage_hangup_raises_a_telephony_error(vonage: FakeProvider, account: ProviderAccount) -> None:
    vonage.on(
        "PUT",
        f"/v1/calls/{CALL_UUID}",
        status=404,
        json={"type": "https://developer.nexmo.com/api-errors#not-found", "title": "Not Found", "detail": "No call."},
    )

    with pytest.raises(TelephonyError) as caught:
        backend_for(vonage).hangup(account, CALL_UUID)

    assert (caught.value.kind, caught.value.code, caught.value.http_status) == (
        TelephonyError.REJECTED,
        "not-found",
        404,
    )


def test_vonage_secrets_never_reach_logs_or_api_responses(
    api: Any,
    vonage: FakeProvider,
    vonage_number: Any,
    rsa_keys: RsaKeyPair,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    # Two calls: the SDK logs its header dict before each request, holding the JWT of the one before.
    first = initiate(api)
    vonage.on("POST", "/v1/calls", status=201, json={**CREATED, "uuid": "0b8e3c1e-1111-4222-8333-444455556666"})
    second = initiate(api)
    vonage.on(
        "POST",
        "/v1/calls",
        status=400,
        json={"title": "Bad Request", "detail": "Invalid", "invalid_parameters": [{"reason": "raw-body-only-field"}]},
    )
    refused = initiate(api)

    assert [r.status_code for r in (first, second, refused)] == [200, 200, 502]
    jwts = [request.headers["authorization"].split(" ", 1)[1] for request in vonage.requests]
    assert len(set(jwts)) == 3
    private_key_body = rsa_keys.private_pem.splitlines()[1:-1]
    secrets = [*jwts, *private_key_body, SIGNATURE_SECRET]
    assert_nothing_contains([caplog.text, first.content, second.content, refused.content], secrets)
    assert "Bearer [redacted]" in caplog.text  # the leak was there to stop, and was stopped
    assert "content: [omitted]" in caplog.text
    assert "raw-body-only-field" not in caplog.text  # the SDK's WARNING dumps whole bodies; ours keeps title/detail


@pytest.mark.parametrize(
    "private_key",
    ["/etc/ssl/private/vonage.key", "not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"],
)
def test_a_vonage_private_key_that_is_not_a_pem_key_is_refused_without_reading_files_or_calling(
    vonage: FakeProvider, private_key: str
) -> None:
    account = ProviderAccount(
        id=1, provider="vonage", credentials={"application_id": APPLICATION_ID, "private_key": private_key}
    )

    with pytest.raises(TelephonyError) as caught:
        backend_for(vonage).dial(account, dial_request("vonage"))

    assert caught.value.kind == TelephonyError.REJECTED
    assert private_key not in str(caught.value)
    assert vonage.requests == []


def test_one_vonage_client_serves_an_account_until_its_credentials_change(
    vonage: FakeProvider, account: ProviderAccount, rsa_keys: RsaKeyPair
) -> None:
    backend = backend_for(vonage)
    clients = from_threads(lambda: backend._client(account))

    rotated_id = "ffffffff-bbbb-4ccc-8ddd-0123456789ab"
    rotated = ProviderAccount(
        id=1, provider="vonage", credentials={**account.credentials, "application_id": rotated_id}
    )
    backend.dial(rotated, dial_request("vonage"))

    assert len({id(client) for client in clients}) == 1
    assert backend._client(rotated) is not clients[0]
    assert bearer_claims(vonage.requests[-1].headers["authorization"], rsa_keys.public_pem)["application_id"] == (
        rotated_id
    )


def test_importing_the_vonage_backend_does_not_import_the_sdk() -> None:
    assert modules_loaded_by_importing("telephony.backends.vonage", ["vonage", "vonage_voice", "requests"]) == []
