"""SQL queries per request on the hot paths, pinned: initiate at most 10, the Twilio answer webhook at most 4, each
status callback at most 5.

Emitting a call event (call.initiated in initiate; call.ringing, .answered, .ended in a status callback) costs one
indexed query when the organization has no webhook endpoint (the pinned case): initiate went from 8 to 9 and a status
callback that moves the call from 4 to 5 with customer webhooks. The do-not-call check (calls.Suppression, one
indexed EXISTS) took initiate from 9 to 10.

How they are counted. `transaction=True`: no test transaction around the test, so every `transaction.atomic()`
runs as it does in production (BEGIN ... COMMIT), not as a SAVEPOINT inside the test's transaction. Django logs
BEGIN and COMMIT with the queries (psycopg sends each as a round trip of its own); the limits are on SQL statements,
so those are left out of the pinned count, and the total with them is pinned by `django_assert_max_num_queries`.
`make bench` reports the same two figures for the server under load.

The worst case is pinned: the API key's first use (its once-a-minute last_used_at write) and the Twilio account's
default rate limit (1 call per second, one more query).
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from twilio.request_validator import RequestValidator

from calls.models import Call, CallEvent
from tests.fakes.server import FakeProvider
from tests.fakes.support import FROM_NUMBER, TO_NUMBER, initiate, provider_number, use_backend

pytest_plugins = ["tests.fakes.fixtures"]
pytestmark = pytest.mark.django_db(transaction=True)

MAX_INITIATE_QUERIES = 10
MAX_WEBHOOK_QUERIES = 4
MAX_STATUS_QUERIES = 5
# BEGIN and COMMIT: initiate records the call in one transaction and the provider's answer in another; a status
# callback records its event in one; the answer webhook only reads.
INITIATE_TRANSACTIONS = 2
STATUS_TRANSACTIONS = 1

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-5eb6c7d8e9f0a1b2c3d4"
CALL_SID = "CA" + "5" * 32
CALLS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def statements(captured: CaptureQueriesContext) -> list[str]:
    """The SQL statements run, without transaction control."""
    return [q["sql"] for q in captured.captured_queries if not q["sql"].upper().startswith(TRANSACTION_CONTROL)]


@pytest.fixture
def twilio(fake_provider: FakeProvider) -> Iterator[FakeProvider]:
    fake_provider.on("POST", CALLS, status=201, json={"sid": CALL_SID, "account_sid": ACCOUNT_SID, "status": "queued"})
    with use_backend("twilio", "telephony.backends.twilio.TwilioBackend", API_BASE_URL=fake_provider.url, TIMEOUT=2):
        yield fake_provider


@pytest.fixture
def placed(api: Any, twilio: FakeProvider, organization: Any) -> Call:
    """A call placed through the API on a Twilio number, as the provider's webhooks find it."""
    provider_number(organization, provider="twilio", credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN})
    response = initiate(api)
    assert response.status_code == 200, response.content
    return Call.objects.get(pk=response.json()["call_id"])


def twilio_post(call: Call, kind: str, fields: dict[str, str]) -> Any:
    """POST `fields` to the call's webhook as Twilio does: form-encoded, signed over the URL and the fields."""
    path = f"/telephony/twilio/{kind}/{call.token}"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"http://testserver{path}", fields)
    return Client().post(
        path,
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


def twilio_fields(call_status: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": CALL_SID,
        "CallStatus": call_status,
        "Called": TO_NUMBER,
        "Caller": FROM_NUMBER,
        "Direction": "outbound-api",
        "From": FROM_NUMBER,
        "To": TO_NUMBER,
        **extra,
    }


def status_fields(call_status: str, sequence: int, **extra: str) -> dict[str, str]:
    timestamp = email.utils.formatdate(usegmt=True).replace("GMT", "+0000")
    return twilio_fields(
        call_status,
        CallbackSource="call-progress-events",
        SequenceNumber=str(sequence),
        Timestamp=timestamp,
        **extra,
    )


def test_initiate_runs_at_most_10_queries(
    api: Any, twilio: FakeProvider, organization: Any, django_assert_max_num_queries: Any
) -> None:
    provider_number(organization, provider="twilio", credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN})

    with django_assert_max_num_queries(MAX_INITIATE_QUERIES + 2 * INITIATE_TRANSACTIONS) as captured:
        response = initiate(api)

    assert response.status_code == 200, response.content
    assert len(twilio.requests) == 1
    assert len(statements(captured)) <= MAX_INITIATE_QUERIES, "\n".join(statements(captured))


def test_the_twilio_answer_webhook_runs_at_most_4_queries(placed: Call, django_assert_max_num_queries: Any) -> None:
    with django_assert_max_num_queries(MAX_WEBHOOK_QUERIES) as captured:
        response = twilio_post(placed, "answer", twilio_fields("in-progress"))

    assert response.status_code == 200, response.content
    assert b"<Response>" in response.content
    assert len(statements(captured)) <= MAX_WEBHOOK_QUERIES, "\n".join(statements(captured))


def test_each_twilio_status_callback_of_a_call_runs_at_most_5_queries(
    placed: Call, django_assert_max_num_queries: Any
) -> None:
    lifecycle = [
        status_fields("initiated", 0),
        status_fields("ringing", 1),
        status_fields("in-progress", 2),
        status_fields("completed", 3, CallDuration="42", Duration="1"),
    ]
    for fields in [*lifecycle, lifecycle[-1]]:  # the last one twice: a redelivery, recorded once
        with django_assert_max_num_queries(MAX_STATUS_QUERIES + 2 * STATUS_TRANSACTIONS) as captured:
            response = twilio_post(placed, "status", fields)

        assert response.status_code < 300, response.content
        assert len(statements(captured)) <= MAX_STATUS_QUERIES, (fields["CallStatus"], statements(captured))

    placed.refresh_from_db()
    assert (placed.status, placed.duration) == ("completed", 42)
    assert CallEvent.objects.filter(call=placed).count() == len(lifecycle)


def test_initiate_counts_live_calls_only_up_to_the_organization_limit(
    api: Any, twilio: FakeProvider, organization: Any
) -> None:
    # The count runs under the organization's lock: bounded by the limit, it costs the same at 10 or 10,000 live calls.
    provider_number(organization, provider="twilio", credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN})
    organization.max_concurrent_calls = 7
    organization.save(update_fields=["max_concurrent_calls"])

    with CaptureQueriesContext(connection) as captured:
        response = initiate(api)

    assert response.status_code == 200, response.content
    counts = [sql for sql in statements(captured) if "COUNT(" in sql.upper() and '"calls_call"' in sql]
    assert len(counts) == 1, counts
    assert counts[0].rstrip().endswith("LIMIT 7) subquery"), counts[0]
