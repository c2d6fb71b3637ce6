"""calls.placement.call_insert_within_limits: the organization lock, the live-call count, the rate window and the
INSERT in one round trip on PostgreSQL, or nothing written (the ORM path then decides); on SQLite, always nothing."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calls.models import Call, Suppression
from calls.placement import call_insert_within_limits, supports_single_statement_insert
from telephony.status import CallStatus
from tests.factories import CallFactory, OrganizationFactory, PhoneNumberFactory
from webhooks.models import WebhookEndpoint

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the ORM path runs on this database")


def new_call(number: Any, **fields: Any) -> Call:
    return Call(
        organization=number.organization,
        assistant=number.assistant,
        phone_number=number,
        telephony_account=number.telephony_account,
        from_number=number.phone_number,
        to_number="+14155550199",
        provider=number.telephony_account.provider,
        status=CallStatus.QUEUED,
        welcome_message="Hello Ada.",
        variables={"name": "Ada"},
        metadata={"crm": {"id": 7}},
        **fields,
    )


@pytest.fixture
def number(db: Any) -> Any:
    organization = OrganizationFactory(max_concurrent_calls=2)
    return PhoneNumberFactory(organization=organization, telephony_account__calls_per_second=0)


def place(number: Any, call: Call | None = None) -> tuple[bool, Call]:
    call = call or new_call(number)
    placed = call_insert_within_limits(call=call, organization=number.organization, account=number.telephony_account)
    return placed, call


@pytest.mark.django_db
def test_on_other_databases_nothing_is_written(number: Any) -> None:
    if supports_single_statement_insert():
        pytest.skip("PostgreSQL places calls in one statement")
    assert place(number)[0] is False
    assert Call.objects.count() == 0


@postgres_only
@pytest.mark.django_db
def test_a_call_within_the_limits_is_recorded_in_one_round_trip_with_every_field(number: Any) -> None:
    with CaptureQueriesContext(connection) as captured:
        placed, call = place(number)

    assert placed is True
    # One query string (lock, then INSERT): inside the test's transaction, a savepoint around it.
    statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1, statements
    assert "FOR UPDATE" in statements[0]
    stored = Call.objects.get(pk=call.pk)
    assert stored.token == call.token
    assert (stored.organization_id, stored.phone_number_id, stored.assistant_id) == (
        number.organization_id,
        number.pk,
        number.assistant_id,
    )
    assert (stored.status, stored.welcome_message, stored.variables, stored.metadata) == (
        "queued",
        "Hello Ada.",
        {"name": "Ada"},
        {"crm": {"id": 7}},
    )
    assert stored.created_at is not None
    assert stored.created_at == call.created_at


@postgres_only
@pytest.mark.django_db
def test_at_the_live_call_limit_nothing_is_written(number: Any) -> None:
    CallFactory.create_batch(2, organization=number.organization, status=CallStatus.RINGING)

    assert place(number)[0] is False
    assert Call.objects.count() == 2


@postgres_only
@pytest.mark.django_db
def test_ended_calls_do_not_count_against_the_limit(number: Any) -> None:
    CallFactory.create_batch(3, organization=number.organization, status=CallStatus.COMPLETED)
    CallFactory(status=CallStatus.RINGING)  # another organization's

    assert place(number)[0] is True


@postgres_only
@pytest.mark.django_db
def test_a_full_rate_window_writes_nothing_and_an_empty_one_does(number: Any) -> None:
    account = number.telephony_account
    account.calls_per_second = 1
    account.save()
    Call.objects.filter(pk=CallFactory(organization=number.organization, telephony_account=account).pk).update(
        created_at=timezone.now() - timedelta(seconds=5), status=CallStatus.COMPLETED
    )
    assert place(number)[0] is True

    assert place(number)[0] is False  # the call just placed is in the last second
    assert Call.objects.count() == 2


@postgres_only
@pytest.mark.django_db
@pytest.mark.parametrize(("event_types", "placed"), [([], False), (["call.initiated"], False), (["call.ended"], True)])
def test_an_endpoint_wanting_call_initiated_leaves_the_call_to_the_orm_path(
    number: Any, event_types: list[str], placed: bool
) -> None:
    WebhookEndpoint.objects.create(
        organization=number.organization, url="https://hooks.example.com/burki", event_types=event_types
    )

    assert place(number)[0] is placed


@postgres_only
@pytest.mark.django_db
def test_a_destination_on_the_do_not_call_list_writes_nothing(number: Any) -> None:
    Suppression.objects.create(organization=OrganizationFactory(), phone_number="+14155550199")  # another's
    assert place(number)[0] is True

    Suppression.objects.create(organization=number.organization, phone_number="+14155550199")

    assert place(number)[0] is False
    assert Call.objects.count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_placement_waiting_for_the_lock_counts_the_call_committed_by_its_holder() -> None:
    number = PhoneNumberFactory(
        organization=OrganizationFactory(max_concurrent_calls=1), telephony_account__calls_per_second=0
    )
    outcome: dict[str, Any] = {}

    def second() -> None:
        try:
            outcome["placed"] = place(number)[0]
        finally:
            connections.close_all()

    with transaction.atomic():
        # The ORM path's lock and INSERT, held open while the other placement starts.
        list(type(number.organization).objects.select_for_update().filter(pk=number.organization_id))
        new_call(number).save()
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        assert "placed" not in outcome  # waiting for the lock
    thread.join(timeout=30)

    assert outcome["placed"] is False
    assert Call.objects.count() == 1


@pytest.mark.django_db
def test_the_do_not_call_list_answers_before_a_later_refusal_on_every_database(api: Any, organization: Any) -> None:
    # PostgreSQL checks the list in the placement statement, after the assistant: the answer must not change.
    number = PhoneNumberFactory(organization=organization, phone_number="+14155550100")
    type(number.assistant).objects.filter(pk=number.assistant_id).update(is_active=False)
    Suppression.objects.create(organization=organization, phone_number="+14155550123")

    response = api.post(
        "/calls/initiate", {"from_phone_number": "+14155550100", "to_phone_number": "+14155550123"}, format="json"
    )

    assert response.status_code == 403, response.content
    assert response.json()["limit"] == "suppressed"
    assert not Call.objects.exists()
