"""A sandbox call plays its lifecycle by itself: queued on commit, one signed webhook per step, on the worker."""

from __future__ import annotations

import copy
import json
import logging
import time
import urllib.request
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from calls.models import Call
from calls.policy import destination_refusal
from calls.services import SandboxPlaybackError, call_initiate, call_sandbox_play, call_terminate
from calls.tasks import sandbox_play
from telephony.backends import get_backend
from telephony.backends.sandbox import MAGIC_NUMBERS, SandboxBackend
from telephony.numbers import normalize_e164
from tests.factories import ApiKeyFactory, OrganizationFactory, PhoneNumberFactory

pytestmark = pytest.mark.django_db

DEFAULT_DESTINATION = "+14155550199"  # the demo's (seed_demo, README)


def sandbox() -> SandboxBackend:
    backend = get_backend("sandbox")
    assert isinstance(backend, SandboxBackend)
    return backend


def sandbox_options(settings: Any, **options: Any) -> None:
    backends = copy.deepcopy(settings.TELEPHONY_BACKENDS)
    backends["sandbox"]["OPTIONS"].update(options)
    settings.TELEPHONY_BACKENDS = backends


def place(to_number: str = DEFAULT_DESTINATION, **kwargs: Any) -> Call:
    number = PhoneNumberFactory(phone_number="+14155550100")
    return call_initiate(organization=number.organization, from_number="+14155550100", to_number=to_number, **kwargs)


def statuses(call: Call) -> list[str]:
    return list(call.events.order_by("received_at", "id").values_list("status", flat=True))


# --- scripts ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to_number", "events"),
    [
        (DEFAULT_DESTINATION, ["initiated", "ringing", "answered", "completed"]),
        ("+14155550191", ["initiated", "ringing", "busy"]),
        ("+14155550192", ["initiated", "ringing", "no-answer"]),
        ("+14155550193", ["initiated", "failed"]),
        ("+14155550194", ["initiated", "ringing", "answered", "completed"]),
    ],
)
def test_each_destination_plays_the_outcome_of_the_table(to_number: str, events: list[str]) -> None:
    assert [step.event for step in sandbox().script(to_number)] == events


def test_an_answered_call_lasts_call_seconds_and_the_long_call_ten_minutes(settings: Any) -> None:
    sandbox_options(settings, CALL_SECONDS=3)

    default, long = sandbox().script(DEFAULT_DESTINATION), sandbox().script("+14155550194")

    assert [step.after for step in default] == [0, 1, 1, 3]
    assert (default[-1].duration, long[-1].after, long[-1].duration) == (3, 600, 600)


def test_the_magic_numbers_are_valid_destinations_the_default_policy_allows() -> None:
    organization = OrganizationFactory()

    for number in MAGIC_NUMBERS:
        assert normalize_e164(number) == number
        assert destination_refusal(organization=organization, to_number=number) is None


# --- queued once the call is committed --------------------------------------------------------------------------


def test_an_initiate_queues_the_first_step_once_the_call_is_committed(
    api: Any, number: Any, task_queue: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(
            "/calls/initiate",
            {"from_phone_number": "+14155550100", "to_phone_number": DEFAULT_DESTINATION},
            format="json",
        )
    assert response.status_code == 200
    assert task_queue.take() == []  # not before the commit: a worker would not find the call

    for callback in callbacks:
        callback()

    [queued] = task_queue.take()
    assert (queued.name, queued.args) == ("calls.sandbox_play", (response.json()["call_id"], 0))


def test_a_call_placed_from_the_command_is_queued_too(task_queue: Any, django_capture_on_commit_callbacks: Any) -> None:
    PhoneNumberFactory(phone_number="+14155550100")

    with django_capture_on_commit_callbacks(execute=True):
        call_command("place_test_call", "--from", "+14155550100", "--to", "+14155550191", stdout=StringIO())

    [queued] = task_queue.take()
    assert queued.args == (Call.objects.get().pk, 0)


def test_a_call_placed_from_the_admin_is_queued_too(
    admin_client: Any, number: Any, task_queue: Any, django_capture_on_commit_callbacks: Any
) -> None:
    form = {"to_number": "+14155550192", "assistant": "", "welcome_message": "", "agenda": "", "variables": ""}

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:calls_call_place_test_call", args=[number.pk]), form)

    assert response.status_code == 302
    [queued] = task_queue.take()
    assert queued.args == (Call.objects.get(to_number="+14155550192").pk, 0)


def test_with_autoplay_off_a_call_stays_queued(
    settings: Any, task_queue: Any, django_capture_on_commit_callbacks: Any
) -> None:
    sandbox_options(settings, AUTOPLAY=False)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        call = place()

    assert (callbacks, task_queue.take(), call.status) == ([], [], "queued")


def test_a_refused_dial_queues_nothing(settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    sandbox_options(settings, REFUSE_PREFIXES=["+1415555019"])

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(Exception, match="refuses"):
        place()

    assert callbacks == []
    assert Call.objects.get().status == "failed"


# --- playing, step by step, against the live server ------------------------------------------------------------


@pytest.fixture
def served(live_server: Any, settings: Any, transactional_db: Any) -> Any:
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


def test_each_step_posts_its_webhook_and_says_when_the_next_is_due(served: Any, task_queue: Any) -> None:
    call = place()
    [queued] = task_queue.take()  # autocommit: queued at once

    waits = [call_sandbox_play(call_id=call.pk, step=step) for step in range(4)]

    assert queued.args == (call.pk, 0)
    assert waits == [1, 1, 5, None]
    call.refresh_from_db()
    assert (call.status, call.duration, call.end_reason) == ("completed", 5, "hangup")
    assert statuses(call) == ["initiated", "ringing", "in-progress", "completed"]


def test_a_busy_number_ends_busy(served: Any) -> None:
    call = place("+14155550191", sandbox_autoplay=False)

    waits = [call_sandbox_play(call_id=call.pk, step=step) for step in range(3)]

    assert waits == [1, 1, None]
    call.refresh_from_db()
    assert (call.status, call.end_reason, call.duration) == ("busy", "busy", 0)
    assert statuses(call) == ["initiated", "ringing", "busy"]


def test_a_step_played_twice_changes_nothing_the_second_time(served: Any) -> None:
    call = place(sandbox_autoplay=False)
    call_sandbox_play(call_id=call.pk, step=0)

    assert call_sandbox_play(call_id=call.pk, step=1) == call_sandbox_play(call_id=call.pk, step=1) == 1

    assert statuses(call) == ["initiated", "ringing"]


def test_a_call_hung_up_through_the_api_plays_no_further_step(served: Any) -> None:
    call = place(sandbox_autoplay=False)
    call_sandbox_play(call_id=call.pk, step=0)
    call_terminate(call=call)

    assert call_sandbox_play(call_id=call.pk, step=1) is None

    call.refresh_from_db()
    assert call.status == "canceled"
    assert [e.event_type for e in call.events.order_by("id")] == ["initiated", "terminated-by-api"]


def test_a_step_past_the_script_or_of_an_unknown_call_does_nothing(served: Any) -> None:
    call = place(sandbox_autoplay=False)

    assert call_sandbox_play(call_id=call.pk, step=9) is None
    assert call_sandbox_play(call_id=call.pk + 1000, step=0) is None
    assert statuses(call) == []


def test_webhooks_that_refuse_a_step_stop_the_script_with_an_error_logged(
    served: Any, settings: Any, caplog: Any
) -> None:
    call = place(sandbox_autoplay=False)
    settings.PUBLIC_BASE_URL = served.url + "/elsewhere"  # the worker's idea of the server differs from the server

    with caplog.at_level(logging.ERROR, logger="calls.services"):
        assert call_sandbox_play(call_id=call.pk, step=0) is None

    assert "refused step initiated (initiated got HTTP 404)" in caplog.text
    assert call.token not in caplog.text
    assert statuses(call) == []


def test_unreachable_webhooks_are_an_error_worth_retrying(served: Any, settings: Any) -> None:
    call = place(sandbox_autoplay=False)
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"  # nothing listens on the discard port

    with pytest.raises(SandboxPlaybackError, match="unreachable"):
        call_sandbox_play(call_id=call.pk, step=0)
    assert SandboxPlaybackError in sandbox_play.autoretry_for  # the task retries it with backoff


def test_the_task_plays_one_step_then_queues_the_next_after_its_delay(served: Any, task_queue: Any) -> None:
    call = place(sandbox_autoplay=False)

    sandbox_play.apply((call.pk, 0))

    [queued] = task_queue.take()
    assert (queued.name, queued.args) == ("calls.sandbox_play", (call.pk, 1))
    assert queued.eta is not None
    assert timezone.now() < queued.eta <= timezone.now() + timedelta(seconds=1)
    assert statuses(call) == ["initiated"]
    sandbox_play.apply((call.pk, 3))  # the last step queues nothing
    assert task_queue.take() == []


def test_place_test_call_simulate_plays_the_script_itself_and_queues_nothing(served: Any, task_queue: Any) -> None:
    PhoneNumberFactory(phone_number="+14155550100")
    out = StringIO()

    call_command(
        "place_test_call", "--from", "+14155550100", "--to", "+14155550191", "--simulate", "--json", stdout=out
    )

    result = json.loads(out.getvalue())
    assert [r["request"] for r in result["simulated"]] == ["initiated", "ringing", "busy"]
    assert result["status"] == "busy"
    assert task_queue.take() == []


# --- on a real worker (PostgreSQL and Redis) ---------------------------------------------------------------------


def initiate_over_http(base_url: str, key: str, to_number: str) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 (the live server)
        f"{base_url}/calls/initiate",
        data=json.dumps({"from_phone_number": "+14155550100", "to_phone_number": to_number}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return dict(json.load(response))


@pytest.mark.worker
def test_sandbox_calls_placed_through_the_api_reach_their_end_on_a_real_worker(
    celery_worker_process: Any, live_server: Any
) -> None:
    worker = celery_worker_process(env={"SANDBOX_CALL_SECONDS": "1"})
    number = PhoneNumberFactory(phone_number="+14155550100")
    key = ApiKeyFactory(organization=number.organization).raw_key

    answered = initiate_over_http(live_server.url, key, DEFAULT_DESTINATION)
    busy = initiate_over_http(live_server.url, key, "+14155550191")

    assert answered["status"] == busy["status"] == "queued"
    deadline = time.monotonic() + 60
    while Call.objects.filter(status__in=["queued", "initiated", "ringing", "in-progress"]).exists():
        assert time.monotonic() < deadline, f"calls still live after 60s:\n{worker.log()[-3000:]}"
        time.sleep(0.2)
    completed, ended_busy = Call.objects.get(pk=answered["call_id"]), Call.objects.get(pk=busy["call_id"])
    assert (completed.status, completed.duration, completed.end_reason) == ("completed", 1, "hangup")
    assert statuses(completed) == ["initiated", "ringing", "in-progress", "completed"]
    assert (ended_busy.status, ended_busy.end_reason) == ("busy", "busy")
    assert statuses(ended_busy) == ["initiated", "ringing", "busy"]
    assert worker.log().count("calls.sandbox_play") >= 7
