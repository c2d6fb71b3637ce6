"""Safe to retry, safe under load, safe from abuse: idempotency, limits and the destination policy."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from burki.models import IdempotencyRecord
from calls.models import Call
from telephony.backends import sandbox
from tests.factories import ApiKeyFactory, CallFactory, OrganizationFactory, PhoneNumberFactory

pytestmark = pytest.mark.django_db

BODY = {"from_phone_number": "+14155550100", "to_phone_number": "+14155550199"}


def initiate(
    api: Any, body: dict[str, Any] | None = None, key: str | None = None, path: str = "/calls/initiate"
) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api.post(path, body or BODY, format="json", **headers)


# --- idempotency ----------------------------------------------------------------------------------------------


def test_a_repeat_with_the_same_key_and_body_replays_the_first_response_and_dials_nothing(
    api: Any, number: Any
) -> None:
    first = initiate(api, key="order-1042")
    again = initiate(api, key="order-1042", path="/api/v1/calls/initiate")

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert len(sandbox.outbox) == 1
    assert Call.objects.count() == 1


def test_the_same_key_with_another_body_is_422(api: Any, number: Any) -> None:
    initiate(api, key="k1")

    response = initiate(api, {**BODY, "to_phone_number": "+14155550198"}, key="k1")

    assert response.status_code == 422
    assert "different request" in response.json()["detail"]
    assert len(sandbox.outbox) == 1


def test_a_repeat_while_the_first_is_in_flight_is_409_with_retry_after(
    api: Any, number: Any, organization: Any
) -> None:
    from burki.idempotency import request_fingerprint

    IdempotencyRecord.objects.create(
        organization=organization,
        key="busy",
        fingerprint=request_fingerprint(operation="calls.initiate", body=BODY),
        expires_at=timezone.now() + timedelta(hours=1),
    )

    response = initiate(api, key="busy")

    assert response.status_code == 409
    assert response["Retry-After"] == "1"
    assert sandbox.outbox == []


def test_invalid_input_releases_the_key_so_the_fixed_request_can_use_it(api: Any, number: Any) -> None:
    bad = initiate(api, {**BODY, "to_phone_number": "nope"}, key="fix-me")
    good = initiate(api, key="fix-me")

    assert bad.status_code == 400
    assert good.status_code == 200
    assert len(sandbox.outbox) == 1


@override_settings(
    TELEPHONY_BACKENDS={
        "sandbox": {"BACKEND": "telephony.backends.sandbox.SandboxBackend", "OPTIONS": {"REFUSE_PREFIXES": ["+1"]}}
    }
)
def test_a_provider_refusal_is_stored_too_so_a_retry_does_not_dial_again(api: Any, number: Any) -> None:
    first = initiate(api, key="refused")
    again = initiate(api, key="refused")

    assert first.status_code == again.status_code == 502
    assert again.json()["call_id"] == first.json()["call_id"]
    assert Call.objects.count() == 1


def test_keys_are_scoped_to_the_organization(api: Any, number: Any, client_for: Any) -> None:
    other = OrganizationFactory()
    PhoneNumberFactory(organization=other, phone_number="+14155550101")
    theirs = client_for(ApiKeyFactory(organization=other).raw_key)

    mine = initiate(api, key="shared")
    their = initiate(theirs, {**BODY, "from_phone_number": "+14155550101"}, key="shared")

    assert (mine.status_code, their.status_code) == (200, 200)
    assert mine.json()["call_id"] != their.json()["call_id"]
    assert len(sandbox.outbox) == 2


def test_an_expired_key_is_processed_afresh(api: Any, number: Any) -> None:
    first = initiate(api, key="old")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    second = initiate(api, key="old")

    assert second.status_code == 200
    assert second.json()["call_id"] != first.json()["call_id"]


def test_purge_idempotency_keys_deletes_only_expired_ones(api: Any, number: Any) -> None:
    from io import StringIO

    from django.core.management import call_command

    initiate(api, key="keep")
    initiate(api, {**BODY, "to_phone_number": "+14155550198"}, key="drop")
    IdempotencyRecord.objects.filter(key="drop").update(expires_at=timezone.now() - timedelta(seconds=1))
    out = StringIO()

    call_command("purge_idempotency_keys", stdout=out)

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["keep"]
    assert "1" in out.getvalue()


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "tab\there", "émoji-🙂"])
def test_a_malformed_idempotency_key_is_400(api: Any, number: Any, key: str) -> None:
    response = initiate(api, key=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    assert sandbox.outbox == []


# --- concurrency, for real: threads with their own database connections -------------------------------------


def concurrently(count: int, request: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = request(index)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrency needs a database with row locks (run on PostgreSQL)"
)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_requests_with_one_key_dial_once(number: Any, api_key: Any) -> None:
    def request(_: int) -> Any:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.raw_key}")
        return initiate(client, key="burst")

    responses = concurrently(20, request)

    assert len(sandbox.outbox) == 1
    assert Call.objects.count() == 1
    assert {r.status_code for r in responses} <= {200, 409}
    assert sum(r.status_code == 200 for r in responses) >= 1
    assert {r.json()["call_id"] for r in responses if r.status_code == 200} == {Call.objects.get().pk}


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_concurrent_call_limit_holds_under_simultaneous_requests(number: Any, api_key: Any) -> None:
    number.organization.max_concurrent_calls = 3
    number.organization.save()

    def request(index: int) -> Any:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.raw_key}")
        return initiate(client, {**BODY, "to_phone_number": f"+1415555{200 + index:04d}"})

    responses = concurrently(10, request)

    assert sorted(r.status_code for r in responses) == [200] * 3 + [429] * 7
    assert Call.objects.count() == 3
    assert len(sandbox.outbox) == 3
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["limit"] == "max_concurrent_calls"
    assert refused["Retry-After"].isdigit()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_calls_per_second_limit_holds_under_simultaneous_requests(number: Any, api_key: Any) -> None:
    account = number.telephony_account
    account.calls_per_second = 2
    account.save()

    def request(index: int) -> Any:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.raw_key}")
        return initiate(client, {**BODY, "to_phone_number": f"+1415555{300 + index:04d}"})

    responses = concurrently(6, request)

    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) <= 2
    assert codes.count(200) + codes.count(429) == 6
    assert Call.objects.count() == codes.count(200)


# --- limits ---------------------------------------------------------------------------------------------------


def test_over_the_concurrent_limit_is_429_naming_the_limit_and_records_nothing(api: Any, number: Any) -> None:
    number.organization.max_concurrent_calls = 2
    number.organization.save()
    CallFactory.create_batch(2, organization=number.organization, status="in-progress")

    response = initiate(api)

    assert response.status_code == 429
    assert response["Retry-After"] == "5"
    assert "Concurrent call limit" in response.json()["detail"]
    assert Call.objects.count() == 2
    assert sandbox.outbox == []


@override_settings(BURKI_MAX_CONCURRENT_CALLS=1)
def test_the_server_default_applies_when_the_organization_sets_no_limit(api: Any, number: Any) -> None:
    assert initiate(api).status_code == 200
    assert initiate(api, {**BODY, "to_phone_number": "+14155550198"}).status_code == 429


@override_settings(
    BURKI_MAX_CONCURRENT_CALLS=1,
    TELEPHONY_BACKENDS={
        "sandbox": {
            "BACKEND": "telephony.backends.sandbox.SandboxBackend",
            "OPTIONS": {"REFUSE_PREFIXES": ["+14155550199"]},
        }
    },
)
def test_a_failed_dial_does_not_hold_a_slot(api: Any, number: Any) -> None:
    assert initiate(api).status_code == 502
    assert initiate(api, {**BODY, "to_phone_number": "+14155550198"}).status_code == 200


@override_settings(BURKI_MAX_CONCURRENT_CALLS=1)
def test_a_call_that_never_reported_its_end_does_not_hold_its_slot_forever(api: Any, number: Any) -> None:
    lost = CallFactory(organization=number.organization, status="in-progress")
    Call.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(hours=5))

    assert initiate(api).status_code == 200
    lost.refresh_from_db()
    assert (lost.status, lost.end_reason) == ("failed", "stale")


def test_over_the_accounts_calls_per_second_is_429_with_retry_after(api: Any, number: Any) -> None:
    number.telephony_account.calls_per_second = 2
    number.telephony_account.save()

    codes = [initiate(api, {**BODY, "to_phone_number": f"+141555502{i:02d}"}).status_code for i in range(3)]
    refused = initiate(api, {**BODY, "to_phone_number": "+14155550250"})

    assert codes == [200, 200, 429]
    assert refused.status_code == 429
    assert refused.json()["limit"] == "calls_per_second"
    assert refused["Retry-After"] == "1"
    assert Call.objects.count() == 2


@pytest.mark.parametrize(("provider", "default"), [("twilio", 1), ("vonage", 3), ("telnyx", 30), ("sandbox", 0)])
def test_accounts_default_to_their_providers_published_rate(provider: str, default: int) -> None:
    from tests.factories import TelephonyAccountFactory

    assert TelephonyAccountFactory.build(provider=provider).effective_calls_per_second == default


def test_calls_per_second_is_settable_over_the_accounts_api(api: Any, organization: Any) -> None:
    from tests.factories import TelephonyAccountFactory

    account = TelephonyAccountFactory(organization=organization, provider="sandbox")

    response = api.patch(f"/api/v1/telephony/accounts/{account.pk}", {"calls_per_second": 5}, format="json")

    assert response.status_code == 200
    assert response.json()["calls_per_second"] == 5
    account.refresh_from_db()
    assert account.calls_per_second == 5


# --- destination policy ---------------------------------------------------------------------------------------


def test_a_destination_outside_the_allowed_countries_is_403_and_logged_masked(
    api: Any, number: Any, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING)
    number.organization.allowed_destination_countries = ["US", "CA"]
    number.organization.save()

    response = initiate(api, {**BODY, "to_phone_number": "+44 20 7183 8750"})

    assert response.status_code == 403
    assert "GB" in response.json()["detail"]
    assert "allowed countries" in response.json()["detail"]
    assert sandbox.outbox == []
    assert Call.objects.count() == 0
    assert "…8750" in caplog.text
    assert "2071838750" not in caplog.text


@pytest.mark.parametrize(
    ("destination", "kind"),
    [("+19005550100", "premium-rate"), ("+33810123456", "shared-cost"), ("+447012345678", "personal")],
)
def test_premium_and_other_fraud_prone_numbers_are_blocked_by_default(
    api: Any, number: Any, destination: str, kind: str
) -> None:
    response = initiate(api, {**BODY, "to_phone_number": destination})

    assert response.status_code == 403
    assert kind in response.json()["detail"]
    assert sandbox.outbox == []


def test_an_organization_can_lift_the_premium_block(api: Any, number: Any) -> None:
    number.organization.block_premium_destinations = False
    number.organization.save()

    assert initiate(api, {**BODY, "to_phone_number": "+19005550100"}).status_code == 200


# --- validate -------------------------------------------------------------------------------------------------


def test_validate_says_what_initiate_would_do_and_does_nothing(api: Any, number: Any) -> None:
    response = api.post(
        "/api/v1/calls/validate",
        {**BODY, "welcome_message": "Hi {{name}}", "variables": {"name": "Ann"}},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True
    assert body["welcome_message"] == "Hi Ann"
    assert (body["assistant_id"], body["flow_id"], body["telephony_provider"]) == (number.assistant_id, None, "sandbox")
    assert Call.objects.count() == 0
    assert sandbox.outbox == []


def test_validate_runs_the_policy_the_templates_and_the_limits(api: Any, number: Any) -> None:
    number.organization.max_concurrent_calls = 1
    number.organization.save()

    premium = api.post("/api/v1/calls/validate", {**BODY, "to_phone_number": "+19005550100"}, format="json")
    missing = api.post("/api/v1/calls/validate", {**BODY, "welcome_message": "Hi {{name}}"}, format="json")
    CallFactory(organization=number.organization, status="ringing")
    full = api.post("/api/v1/calls/validate", BODY, format="json")

    assert (premium.status_code, missing.status_code, full.status_code) == (403, 400, 429)
    assert Call.objects.count() == 1
