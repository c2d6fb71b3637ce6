"""Delivering events: signed as Standard Webhooks says, retried on a schedule, in order per subject, never lost.

A real HTTP receiver on 127.0.0.1 (tests/fakes/server.py) stands for the customer's server; private destinations are
allowed for it, as `make run` allows them. Signatures are checked with the published `standardwebhooks` library.
"""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from burki.celery import app as celery_app
from tests.factories import OrganizationFactory
from tests.fakes.server import FakeProvider, RecordedRequest
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from webhooks.services import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    deliveries_sweep,
    delivery_attempt,
    delivery_redeliver,
    event_emit,
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)

pytest_plugins = ["tests.fakes.fixtures"]
pytestmark = pytest.mark.django_db
HOOK = "/hooks"


@pytest.fixture(autouse=True)
def _local_receivers(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = True
    settings.WEBHOOK_REQUIRE_HTTPS = False


@pytest.fixture
def receiver() -> Iterator[FakeProvider]:
    with FakeProvider(hang_seconds=3) as fake:
        fake.on("POST", HOOK, status=204)
        yield fake


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, float]]:
    """What would have gone to the broker: (delivery id, countdown) per message."""
    sent: list[tuple[int, float]] = []
    monkeypatch.setattr(services, "deliveries_queue", lambda ids, countdown=0: sent.extend((i, countdown) for i in ids))
    return sent


@pytest.fixture
def endpoint(organization: Any, receiver: FakeProvider) -> tuple[WebhookEndpoint, str]:
    return webhook_endpoint_create(organization=organization, url=receiver.url + HOOK)


def emit(organization: Any, *, subject: str = "call:1", type: str = "call.ended", **data: Any) -> Event:
    event = event_emit(organization_id=organization.pk, type=type, subject=subject, data=data or {"id": 1})
    assert event is not None
    return event


def deliver_all() -> list[DeliveryAttempt]:
    """Attempt every pending delivery once, oldest first (what workers do, one at a time)."""
    attempts = []
    for pk in Delivery.objects.filter(state="pending").order_by("pk").values_list("pk", flat=True):
        attempt = delivery_attempt(delivery_id=pk)
        if attempt is not None:
            attempts.append(attempt)
    return attempts


def make_due(delivery: Delivery) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def verify(secret: str, request: RecordedRequest) -> Any:
    return Webhook(secret).verify(request.body, request.headers)


# --- signing ----------------------------------------------------------------------------------------------------


def test_a_delivery_verifies_with_the_standardwebhooks_library(
    organization: Any, endpoint: tuple[WebhookEndpoint, str], receiver: FakeProvider
) -> None:
    _hook, secret = endpoint
    event = emit(organization, id=7, status="completed")

    [attempt] = deliver_all()

    [request] = receiver.received("POST", HOOK)
    body = verify(secret, request)
    assert body == {
        "id": event.uid,
        "type": "call.ended",
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "sequence": 1,
        "data": {"id": 7, "status": "completed"},
    }
    assert request.headers["webhook-id"] == event.uid
    assert request.headers["content-type"] == "application/json"
    assert (attempt.status_code, attempt.error) == (204, "")
    assert Delivery.objects.get().state == "succeeded"


def test_a_signature_made_with_another_secret_does_not_verify(
    organization: Any, endpoint: tuple[WebhookEndpoint, str], receiver: FakeProvider
) -> None:
    emit(organization)
    deliver_all()
    other_secret = webhook_endpoint_create(organization=organization, url="https://example.com/x")[1]

    with pytest.raises(WebhookVerificationError):
        verify(other_secret, receiver.received("POST", HOOK)[0])


def test_every_retry_is_signed_again_with_its_own_timestamp_and_the_same_id(
    organization: Any, endpoint: tuple[WebhookEndpoint, str], receiver: FakeProvider, queued: list[Any]
) -> None:
    _hook, secret = endpoint
    receiver.on("POST", HOOK, status=500)
    emit(organization)
    deliver_all()
    delivery = Delivery.objects.get()
    # The first attempt's headers, replayed an hour later, would fail the receiver's five-minute window.
    first = receiver.received("POST", HOOK)[0]
    stale = {**first.headers, "webhook-timestamp": str(int(first.headers["webhook-timestamp"]) - 3600)}
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(first.body, stale)

    receiver.on("POST", HOOK, status=200)
    make_due(delivery)
    deliver_all()

    first, second = receiver.received("POST", HOOK)
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert verify(secret, second)["id"] == first.headers["webhook-id"]


def test_during_a_rotation_both_secrets_verify_and_the_old_one_stops_after_24_hours(
    organization: Any, endpoint: tuple[WebhookEndpoint, str], receiver: FakeProvider
) -> None:
    hook, old_secret = endpoint
    hook, new_secret = webhook_endpoint_rotate_secret(endpoint=hook)
    assert new_secret != old_secret
    assert hook.previous_secret_expires_at is not None
    assert timedelta(hours=23, minutes=59) < hook.previous_secret_expires_at - timezone.now() <= timedelta(hours=24)

    emit(organization, subject="call:1")
    deliver_all()
    during = receiver.received("POST", HOOK)[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verify(old_secret, during)
    assert verify(new_secret, during)

    WebhookEndpoint.objects.filter(pk=hook.pk).update(previous_secret_expires_at=timezone.now() - timedelta(seconds=1))
    emit(organization, subject="call:2")
    deliver_all()
    after = receiver.received("POST", HOOK)[-1]
    assert verify(new_secret, after)
    with pytest.raises(WebhookVerificationError):
        verify(old_secret, after)


def test_secrets_are_encrypted_at_rest(endpoint: tuple[WebhookEndpoint, str]) -> None:
    hook, secret = endpoint
    assert secret.startswith("whsec_")

    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM webhooks_webhookendpoint WHERE id = %s", [hook.pk])
        stored = cursor.fetchone()[0]

    assert secret.removeprefix("whsec_") not in stored
    assert WebhookEndpoint.objects.get(pk=hook.pk).secrets == {"current": secret}
    assert secret not in repr(hook)


# --- who gets what ----------------------------------------------------------------------------------------------


def test_an_organization_without_endpoints_stores_nothing_and_pays_one_query(
    organization: Any, django_assert_num_queries: Any
) -> None:
    built: list[int] = []

    def payload() -> dict[str, Any]:
        built.append(1)
        return {}

    with django_assert_num_queries(1):
        event = event_emit(organization_id=organization.pk, type="call.ended", subject="call:1", data=payload)

    assert event is None
    assert built == []  # the payload is never even built
    assert Event.objects.count() == 0


def test_only_enabled_endpoints_subscribed_to_the_type_get_a_delivery(organization: Any) -> None:
    every = webhook_endpoint_create(organization=organization, url="https://a.example.com/")[0]
    ended_only = webhook_endpoint_create(
        organization=organization, url="https://b.example.com/", event_types=["call.ended"]
    )[0]
    webhook_endpoint_create(organization=organization, url="https://c.example.com/", event_types=["call.ringing"])
    webhook_endpoint_create(organization=organization, url="https://d.example.com/", enabled=False)
    webhook_endpoint_create(organization=OrganizationFactory(), url="https://e.example.com/")

    emit(organization, type="call.ended")

    assert set(Delivery.objects.values_list("endpoint_id", flat=True)) == {every.pk, ended_only.pk}


def test_sequence_numbers_count_up_per_subject(organization: Any, endpoint: Any) -> None:
    events = [
        emit(organization, subject="call:1", type="call.initiated"),
        emit(organization, subject="call:2", type="call.initiated"),
        emit(organization, subject="call:1", type="call.ringing"),
        emit(organization, subject="call:1", type="call.ended"),
    ]

    assert [e.sequence for e in events] == [1, 1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_emitting_outside_a_transaction_is_a_programming_error(organization: Any) -> None:
    with pytest.raises(RuntimeError, match="inside the transaction"):
        event_emit(organization_id=organization.pk, type="call.ended", subject="call:1", data={})


def test_an_unregistered_event_type_is_refused(organization: Any) -> None:
    with pytest.raises(ValueError, match="Unregistered"):
        event_emit(organization_id=organization.pk, type="call.teleported", subject="call:1", data={})


def test_deliveries_are_queued_only_when_the_transaction_commits(
    organization: Any, endpoint: Any, queued: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        emit(organization)
        assert queued == []

    for callback in callbacks:
        callback()
    assert queued == [(Delivery.objects.get().pk, 0)]


def test_a_rolled_back_change_leaves_no_event(organization: Any, endpoint: Any) -> None:
    def change_that_fails() -> None:
        with transaction.atomic():
            emit(organization)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        change_that_fails()

    assert (Event.objects.count(), Delivery.objects.count()) == (0, 0)


# --- retries, failures, disabling -------------------------------------------------------------------------------


def test_a_failed_attempt_is_retried_on_the_schedule_short_delays_by_countdown(
    organization: Any, endpoint: Any, receiver: FakeProvider, queued: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    receiver.on("POST", HOOK, status=503, json={"error": "busy"})
    emit(organization)
    delivery = Delivery.objects.get()
    queued.clear()

    with django_capture_on_commit_callbacks(execute=True):
        [attempt] = deliver_all()

    delivery.refresh_from_db()
    assert (attempt.status_code, attempt.response_body) == (503, '{"error": "busy"}')
    assert delivery.state == "pending"
    assert delivery.attempt_count == 1
    assert delivery.next_attempt_at is not None
    assert timedelta(seconds=4) < delivery.next_attempt_at - attempt.started_at <= timedelta(seconds=6)
    assert queued == [(delivery.pk, 5.0)]

    # Not due yet: a duplicate message (or an early one) changes nothing.
    assert delivery_attempt(delivery_id=delivery.pk) is None

    make_due(delivery)
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        deliver_all()
    delivery.refresh_from_db()
    # Five minutes is too long for a countdown on the broker: the sweep queues it when it is due.
    assert timedelta(seconds=299) < delivery.next_attempt_at - timezone.now() <= timedelta(seconds=300)
    assert delivery.queued_at is None
    assert queued == []


def test_the_schedule_runs_about_a_day_then_the_delivery_has_failed(
    organization: Any, endpoint: Any, receiver: FakeProvider, queued: list[Any]
) -> None:
    assert RETRY_DELAYS == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert timedelta(hours=24) < timedelta(seconds=sum(RETRY_DELAYS)) < timedelta(hours=30)
    receiver.on("POST", HOOK, status=500)
    emit(organization)
    delivery = Delivery.objects.get()

    for _ in range(MAX_ATTEMPTS):
        make_due(delivery)
        assert delivery_attempt(delivery_id=delivery.pk) is not None

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempt_count, delivery.next_attempt_at) == ("failed", 8, None)
    assert delivery.attempts.count() == 8
    assert len(receiver.received("POST", HOOK)) == 8
    make_due(delivery)
    assert delivery_attempt(delivery_id=delivery.pk) is None


def test_410_gone_disables_the_endpoint_with_the_reason_and_abandons_what_waits(
    organization: Any, endpoint: tuple[WebhookEndpoint, str], receiver: FakeProvider, queued: list[Any]
) -> None:
    hook, _ = endpoint
    receiver.on("POST", HOOK, status=410)
    emit(organization, subject="call:1")
    emit(organization, subject="call:1", type="call.ended")

    deliver_all()

    hook.refresh_from_db()
    assert hook.enabled is False
    assert "410 Gone" in hook.disabled_reason
    assert hook.disabled_at is not None
    assert sorted(Delivery.objects.values_list("sequence", "state")) == [(1, "failed"), (2, "abandoned")]
    assert len(receiver.received("POST", HOOK)) == 1
    # Disabled: new events are not even recorded for it.
    assert event_emit(organization_id=organization.pk, type="call.ended", subject="call:3", data={}) is None


def test_an_endpoint_failing_for_five_days_is_disabled_and_says_why(
    organization: Any, endpoint: tuple[WebhookEndpoint, str], receiver: FakeProvider, queued: list[Any]
) -> None:
    hook, _ = endpoint
    receiver.on("POST", HOOK, status=502)
    emit(organization)
    deliver_all()
    hook.refresh_from_db()
    assert hook.failing_since is not None
    assert hook.enabled

    WebhookEndpoint.objects.filter(pk=hook.pk).update(failing_since=timezone.now() - timedelta(days=5, minutes=1))
    emit(organization, subject="call:2")
    deliver_all()

    hook.refresh_from_db()
    assert hook.enabled is False
    assert "(5 days)" in hook.disabled_reason
    assert "HTTP 502" in hook.disabled_reason
    assert set(Delivery.objects.values_list("state", flat=True)) == {"abandoned"}


def test_a_success_clears_the_failure_clock_and_brings_waiting_retries_forward(
    organization: Any, endpoint: tuple[WebhookEndpoint, str], receiver: FakeProvider, queued: list[Any]
) -> None:
    hook, _ = endpoint
    receiver.on("POST", HOOK, status=500)
    emit(organization, subject="call:1")
    deliver_all()
    waiting = Delivery.objects.get()
    Delivery.objects.filter(pk=waiting.pk).update(next_attempt_at=timezone.now() + timedelta(hours=2))

    receiver.on("POST", HOOK, status=200)
    emit(organization, subject="call:2")
    deliver_all()

    hook.refresh_from_db()
    waiting.refresh_from_db()
    assert hook.failing_since is None
    assert waiting.next_attempt_at is not None
    assert waiting.next_attempt_at <= timezone.now()
    assert waiting.queued_at is None  # for the sweep (queued right away too)
    assert deliveries_sweep() == 1


def test_redirects_are_not_followed(
    organization: Any, endpoint: Any, receiver: FakeProvider, queued: list[Any]
) -> None:
    receiver.on("POST", HOOK, status=307, headers={"Location": receiver.url + "/elsewhere"})
    emit(organization)

    [attempt] = deliver_all()

    assert (attempt.status_code, attempt.error) == (307, "Redirects are not followed.")
    assert Delivery.objects.get().state == "pending"
    assert [r.path for r in receiver.requests] == [HOOK]


def test_a_slow_receiver_times_out_and_the_attempt_says_so(
    organization: Any, endpoint: Any, receiver: FakeProvider, queued: list[Any], settings: Any
) -> None:
    settings.WEBHOOK_DELIVERY_TIMEOUT = 0.5
    receiver.on("POST", HOOK, mode="hang")
    emit(organization)

    [attempt] = deliver_all()

    assert attempt.status_code is None
    assert attempt.error == "Timed out after 0.5 s."
    assert 400 <= attempt.latency_ms < 2000


def test_a_receiver_that_is_down_is_a_failed_attempt_not_a_crash(
    organization: Any, refused_url: str, queued: list[Any]
) -> None:
    webhook_endpoint_create(organization=organization, url=refused_url + HOOK)
    emit(organization)

    [attempt] = deliver_all()

    assert (attempt.status_code, attempt.error) == (None, "Connection refused.")
    assert Delivery.objects.get().state == "pending"


def test_only_the_start_of_a_large_response_is_read_and_kept(
    organization: Any, endpoint: Any, receiver: FakeProvider, queued: list[Any]
) -> None:
    receiver.on("POST", HOOK, status=200, json={"junk": "x" * 100_000})
    emit(organization)

    [attempt] = deliver_all()

    assert attempt.status_code == 200
    assert len(attempt.response_body) == 1000


# --- order and the sweep ----------------------------------------------------------------------------------------


def test_a_later_event_of_the_same_subject_waits_for_the_earlier_one(
    organization: Any, endpoint: Any, receiver: FakeProvider, queued: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    receiver.on("POST", HOOK, status=500)
    first = emit(organization, subject="call:1", type="call.initiated")
    second = emit(organization, subject="call:1", type="call.ended")
    other = emit(organization, subject="call:2", type="call.ended")
    d1, d2, d3 = (Delivery.objects.get(event=e) for e in (first, second, other))

    assert delivery_attempt(delivery_id=d2.pk) is None  # call:1's first event is still pending
    assert delivery_attempt(delivery_id=d1.pk) is not None  # fails, retried in 5 s
    assert delivery_attempt(delivery_id=d2.pk) is None  # still waiting behind it
    assert delivery_attempt(delivery_id=d3.pk) is not None  # another call is not held up

    receiver.on("POST", HOOK, status=200)
    make_due(d1)
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_attempt(delivery_id=d1.pk) is not None

    assert queued == [(d2.pk, 0)]  # the success queues the next one of its subject
    assert delivery_attempt(delivery_id=d2.pk) is not None
    sent = [json.loads(r.body)["id"] for r in receiver.received("POST", HOOK)]
    assert sent == [first.uid, other.uid, first.uid, second.uid]
    assert Delivery.objects.get(pk=d2.pk).state == "succeeded"


def test_a_delivery_that_failed_for_good_lets_the_next_one_go(
    organization: Any, endpoint: Any, receiver: FakeProvider, queued: list[Any]
) -> None:
    receiver.on("POST", HOOK, status=500)
    first = emit(organization, subject="call:1", type="call.initiated")
    second = emit(organization, subject="call:1", type="call.ended")
    d1 = Delivery.objects.get(event=first)
    Delivery.objects.filter(pk=d1.pk).update(attempt_count=MAX_ATTEMPTS - 1)

    delivery_attempt(delivery_id=d1.pk)

    assert Delivery.objects.get(pk=d1.pk).state == "failed"
    assert delivery_attempt(delivery_id=Delivery.objects.get(event=second).pk) is not None


def test_a_leased_delivery_is_not_attempted_twice(organization: Any, endpoint: Any, receiver: FakeProvider) -> None:
    emit(organization)
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(locked_until=timezone.now() + timedelta(seconds=30))

    assert delivery_attempt(delivery_id=delivery.pk) is None
    assert receiver.requests == []


def test_the_sweep_queues_again_what_a_lost_message_left_behind(
    organization: Any, endpoint: Any, queued: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    emit(organization, subject="call:1", type="call.initiated")
    emit(organization, subject="call:1", type="call.ended")
    first, _second = Delivery.objects.order_by("sequence")
    queued.clear()

    # Just queued on commit: the message is presumably on its way.
    assert deliveries_sweep() == 0

    # A minute later it has not run: the broker lost it. Only the first of the call goes (the second waits for it).
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep(now=timezone.now() + timedelta(seconds=61)) == 1
    assert queued == [(first.pk, 0)]
    # Queued again just now: the next sweep leaves it alone.
    assert deliveries_sweep(now=timezone.now() + timedelta(seconds=62)) == 0


def test_the_sweep_picks_up_a_delivery_whose_worker_died_mid_attempt(
    organization: Any, endpoint: Any, queued: list[Any]
) -> None:
    emit(organization)
    later = timezone.now() + timedelta(minutes=2)
    Delivery.objects.update(locked_until=timezone.now() + timedelta(seconds=50), attempt_count=1)

    assert deliveries_sweep(now=later - timedelta(minutes=1, seconds=30)) == 0  # the lease still runs
    assert deliveries_sweep(now=later) == 1


# --- redelivery -------------------------------------------------------------------------------------------------


def test_redelivering_a_finished_delivery_sends_the_event_again_as_a_new_delivery(
    organization: Any, endpoint: tuple[WebhookEndpoint, str], receiver: FakeProvider, queued: list[Any]
) -> None:
    _hook, secret = endpoint
    emit(organization)
    deliver_all()
    done = Delivery.objects.get()

    again = delivery_redeliver(delivery=done)
    deliver_all()

    assert again.pk != done.pk
    assert Delivery.objects.get(pk=again.pk).state == "succeeded"
    first, second = receiver.received("POST", HOOK)
    assert verify(secret, second)["id"] == verify(secret, first)["id"]


def test_redelivering_a_waiting_delivery_makes_it_due_now(
    organization: Any, endpoint: Any, receiver: FakeProvider, queued: list[Any]
) -> None:
    receiver.on("POST", HOOK, status=500)
    emit(organization)
    deliver_all()
    waiting = Delivery.objects.get()
    receiver.on("POST", HOOK, status=200)

    again = delivery_redeliver(delivery=waiting)

    assert again.pk == waiting.pk
    assert delivery_attempt(delivery_id=waiting.pk) is not None
    assert Delivery.objects.get().state == "succeeded"


def test_a_disabled_endpoint_cannot_redeliver_until_enabled_again(
    organization: Any, endpoint: tuple[WebhookEndpoint, str], receiver: FakeProvider, queued: list[Any]
) -> None:
    hook, _ = endpoint
    receiver.on("POST", HOOK, status=410)
    emit(organization)
    deliver_all()
    hook.refresh_from_db()

    from burki.errors import Conflict

    with pytest.raises(Conflict):
        delivery_redeliver(delivery=Delivery.objects.get())

    webhook_endpoint_update(endpoint=hook, enabled=True)
    hook.refresh_from_db()
    assert (hook.enabled, hook.disabled_reason, hook.disabled_at, hook.failing_since) == (True, "", None, None)
    assert delivery_redeliver(delivery=Delivery.objects.get()).state == "pending"


def test_deliveries_run_through_the_celery_task(
    organization: Any,
    endpoint: tuple[WebhookEndpoint, str],
    receiver: FakeProvider,
    django_capture_on_commit_callbacks: Any,
) -> None:
    _hook, secret = endpoint

    # Eager tasks: the queued message runs inline, through the same task a worker runs.
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            emit(organization, id=3)
    finally:
        celery_app.conf.task_always_eager = False

    assert verify(secret, receiver.received("POST", HOOK)[0])["data"] == {"id": 3}
    assert Delivery.objects.get().state == "succeeded"


# --- two workers at once (PostgreSQL: row locks) ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_next_event_checked_while_the_one_before_is_being_recorded_is_queued_by_it(
    organization: Any, endpoint: tuple[WebhookEndpoint, str], receiver: FakeProvider, monkeypatch: Any, queued: Any
) -> None:
    # Two workers: A records the first event's success; B, at that very moment, finds the first still pending and
    # leaves the second. Nobody may be left waiting for the sweep (a lost wake-up), and nobody may deadlock.
    if connection.vendor != "postgresql":
        pytest.skip("concurrency needs a database with row locks (run on PostgreSQL)")
    with transaction.atomic():
        first = emit(organization, subject="call:1", type="call.initiated")
    d1 = Delivery.objects.get(event=first).pk
    recording, release = threading.Event(), threading.Event()
    original = services._endpoint_follow_up

    def follow_up_slowly(*args: Any) -> Any:
        recording.set()  # inside A's transaction, after its UPDATE: not committed yet
        release.wait(5)
        return original(*args)

    monkeypatch.setattr(services, "_endpoint_follow_up", follow_up_slowly)
    outcomes: dict[str, Any] = {}

    def worker(name: str, delivery_id: int) -> None:
        try:
            outcomes[name] = delivery_attempt(delivery_id=delivery_id)
        except BaseException as exc:
            outcomes[name] = exc
        finally:
            connection.close()

    a = threading.Thread(target=worker, args=("A", d1))
    a.start()
    assert recording.wait(5)
    # The call's next event is committed only now, after A (inside its transaction) could have looked for it.
    with transaction.atomic():
        second = emit(organization, subject="call:1", type="call.ended")
    d2 = Delivery.objects.get(event=second).pk
    queued.clear()
    b = threading.Thread(target=worker, args=("B", d2))
    b.start()
    b.join(5)
    release.set()
    a.join(10)

    assert outcomes["B"] is None  # the first was still pending when B looked
    assert isinstance(outcomes["A"], DeliveryAttempt)
    assert queued == [(d2, 0)]  # A, once committed, queued the second
    monkeypatch.setattr(services, "_endpoint_follow_up", original)
    assert delivery_attempt(delivery_id=d2) is not None
    assert [json.loads(r.body)["sequence"] for r in receiver.received("POST", HOOK)] == [1, 2]


def test_the_readme_receiver_verifies_real_deliveries(organization: Any, tmp_path: Any, queued: list[Any]) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    snippet = readme.split("# receiver.py:", 1)[1].split("```", 1)[0]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = tmp_path / "receiver.py"
    script.write_text("# receiver.py:" + snippet.replace("9000", str(port)))
    _, secret = webhook_endpoint_create(organization=organization, url=f"http://127.0.0.1:{port}/")
    env = {**os.environ, "WEBHOOK_SECRET": secret, "PYTHONUNBUFFERED": "1"}
    receiver = subprocess.Popen(  # noqa: S603 (our interpreter, the README's code)
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        emit(organization, subject="call:7", id=7, status="completed")
        for _ in range(50):  # until it listens
            if (attempt := deliver_all()) and attempt[0].status_code == 204:
                break
            Delivery.objects.update(next_attempt_at=timezone.now())
            time.sleep(0.1)
        webhook_endpoint_rotate_secret(endpoint=WebhookEndpoint.objects.get())  # both signatures: still verifies
        emit(organization, subject="call:7", type="call.ended", id=7, status="completed")
        deliver_all()
        Delivery.objects.update(state="pending", next_attempt_at=timezone.now())  # the same events again
        deliver_all()
    finally:
        receiver.terminate()
        output, _ = receiver.communicate(timeout=10)

    assert set(Delivery.objects.values_list("attempts__status_code", flat=True)) >= {204}
    assert output.splitlines() == ["1 call.ended call 7 completed", "2 call.ended call 7 completed"]


# --- where it sits ----------------------------------------------------------------------------------------------


def test_the_webhooks_app_imports_no_app_of_ours_but_burki() -> None:
    app = Path(__file__).resolve().parents[1] / "webhooks"
    imported = set()
    for path in app.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)

    assert imported.isdisjoint({"calls", "assistants", "telephony", "campaigns"}), imported


def test_beat_sweeps_for_due_deliveries_every_few_seconds() -> None:
    from django.conf import settings as django_settings

    [entry] = [e for e in django_settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "webhooks.sweep"]

    assert entry["schedule"] == django_settings.WEBHOOK_SWEEP_INTERVAL == 10
    celery_app.loader.import_default_modules()  # what a worker does at start
    assert "webhooks.sweep" in celery_app.tasks
