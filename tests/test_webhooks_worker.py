"""Call events through real Celery workers and Redis to a receiver on 127.0.0.1, verified with `standardwebhooks`.

PostgreSQL and Redis only (tests/fakes/worker.py); the Redis database is TEST_REDIS_DB (else 10), flushed first.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from burki.celery import app as celery_app
from calls.models import Call
from calls.services import call_initiate
from tests.fakes.receiver import WebhookReceiver
from tests.test_webhooks_sandbox import event as sandbox_event
from webhooks.models import Delivery, DeliveryAttempt
from webhooks.services import deliveries_sweep, webhook_endpoint_create

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The worker's own settings (read from its environment): the receiver is on this machine.
WORKER_ENV = {"WEBHOOK_ALLOW_PRIVATE_DESTINATIONS": "1", "WEBHOOK_REQUIRE_HTTPS": "0"}
LIFECYCLE = ("ringing", "answered", "completed")
TYPES = ["call.initiated", "call.ringing", "call.answered", "call.ended"]


@pytest.fixture(autouse=True)
def _local_receivers(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = True
    settings.WEBHOOK_REQUIRE_HTTPS = False


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            states = list(Delivery.objects.order_by("pk").values_list("pk", "sequence", "state", "attempt_count"))
            attempts = list(DeliveryAttempt.objects.order_by("pk").values_list("delivery_id", "status_code", "error"))
            pytest.fail(f"{what}: not within {timeout:.0f} s\ndeliveries {states}\nattempts {attempts}")
        time.sleep(0.1)


def verified(secret: str, receiver: WebhookReceiver) -> list[dict[str, Any]]:
    """Every body the receiver got, in arrival order, each verified as a customer verifies it."""
    return [Webhook(secret).verify(r.body, r.headers) for r in receiver.snapshot()]


def by_call(bodies: list[dict[str, Any]]) -> dict[int, list[tuple[int, str]]]:
    calls: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for body in bodies:
        calls[body["data"]["id"]].append((body["sequence"], body["type"]))
    return dict(calls)


def place(organization: Any) -> Call:
    return call_initiate(organization=organization, from_number="+14155550100", to_number="+14155550199")


def test_a_real_worker_delivers_a_calls_events_signed_and_in_order(
    celery_worker_process: Any, api: Any, number: Any, organization: Any
) -> None:
    with WebhookReceiver() as receiver:
        _, secret = webhook_endpoint_create(organization=organization, url=receiver.url)
        worker = celery_worker_process(concurrency=2, env=WORKER_ENV)

        response = api.post(
            "/calls/initiate",
            {"from_phone_number": "+14155550100", "to_phone_number": "+14155550199"},
            format="json",
        )
        assert response.status_code == 200, response.content
        call = Call.objects.select_related("telephony_account").get(pk=response.json()["call_id"])
        for name in LIFECYCLE:
            assert sandbox_event(call, name).status_code == 204

        wait_until(lambda: len(receiver.snapshot()) >= 4, timeout=60, what="four deliveries")
        time.sleep(0.5)  # nothing more may come

        bodies = verified(secret, receiver)
        assert [(b["sequence"], b["type"]) for b in bodies] == list(enumerate(TYPES, start=1))
        assert bodies[-1]["data"]["status"] == "completed"
        assert [r.headers["webhook-id"] for r in receiver.snapshot()] == [b["id"] for b in bodies]
        assert set(Delivery.objects.values_list("state", "attempt_count")) == {("succeeded", 1)}
        assert secret not in worker.log()


def test_two_workers_keep_each_calls_events_in_sequence_order(
    celery_worker_process: Any, number: Any, organization: Any
) -> None:
    # A slow receiver and two worker processes: each call's next event is queued while the one before is in flight.
    with WebhookReceiver(delay=0.02) as receiver:
        _, secret = webhook_endpoint_create(organization=organization, url=receiver.url)
        celery_worker_process(env=WORKER_ENV)
        celery_worker_process(env=WORKER_ENV)
        organization.max_concurrent_calls = 100
        organization.save()

        calls = [place(organization) for _ in range(12)]
        for name in LIFECYCLE:
            for call in calls:
                sandbox_event(Call.objects.select_related("telephony_account").get(pk=call.pk), name)

        wait_until(lambda: len(receiver.snapshot()) >= 4 * len(calls), timeout=60, what="every delivery")

        received = by_call(verified(secret, receiver))
        assert received == {call.pk: list(enumerate(TYPES, start=1)) for call in calls}


def test_after_a_receiver_outage_every_event_arrives_in_order(
    celery_worker_process: Any, number: Any, organization: Any
) -> None:
    receiver = WebhookReceiver().start()
    receiver.stop()  # down, on a port we know
    try:
        endpoint, secret = webhook_endpoint_create(organization=organization, url=receiver.url)
        celery_worker_process(concurrency=2, env=WORKER_ENV)
        during = place(organization)
        for name in LIFECYCLE:
            sandbox_event(Call.objects.select_related("telephony_account").get(pk=during.pk), name)
        # The first event fails at once and again 5 s later; its next try is 5 minutes away, and the others of
        # the call wait behind it.
        wait_until(
            lambda: Delivery.objects.filter(sequence=1, attempt_count=2, state="pending").exists(),
            timeout=60,
            what="two failed attempts",
        )
        first = Delivery.objects.get(sequence=1)
        assert first.next_attempt_at is not None
        assert first.next_attempt_at - timezone.now() > timedelta(minutes=4)
        endpoint.refresh_from_db()
        assert endpoint.failing_since is not None

        receiver.start()  # back, same port
        after = place(organization)  # its delivery succeeds, and the endpoint's waiting retries are due at once

        wait_until(lambda: len(receiver.snapshot()) >= 5, timeout=60, what="every delivery after the outage")
        received = by_call(verified(secret, receiver))
        assert received == {during.pk: list(enumerate(TYPES, start=1)), after.pk: [(1, "call.initiated")]}
        assert Delivery.objects.exclude(state="succeeded").count() == 0
    finally:
        receiver.stop()


def test_messages_lost_with_the_broker_are_found_by_the_sweep(
    celery_worker_process: Any, number: Any, organization: Any
) -> None:
    with WebhookReceiver() as receiver:
        _, secret = webhook_endpoint_create(organization=organization, url=receiver.url)
        celery_worker_process(env=WORKER_ENV).stop()  # configures this test's broker, then nobody consumes
        call = place(organization)
        sandbox_event(Call.objects.select_related("telephony_account").get(pk=call.pk), "completed")
        # The broker restarts without its messages.
        redis.Redis.from_url(celery_app.conf.broker_url).flushdb()
        celery_worker_process(env=WORKER_ENV)
        time.sleep(2)
        assert receiver.snapshot() == []

        # What beat's sweep finds a minute later: due deliveries whose message never ran.
        assert deliveries_sweep(now=timezone.now() + timedelta(seconds=61)) == 1  # the second waits for the first

        wait_until(lambda: len(receiver.snapshot()) >= 2, timeout=60, what="both deliveries")
        assert [(b["sequence"], b["type"]) for b in verified(secret, receiver)] == [
            (1, "call.initiated"),
            (2, "call.ended"),
        ]
