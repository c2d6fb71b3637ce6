"""The sandbox plays answering machines and recordings like a carrier: +14155550195 is answered by a machine, and a
call that records gets a recording after its end; each mode ends as a real carrier's call would."""

from __future__ import annotations

import json
import time
import urllib.request
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from calls.models import Call
from calls.services import call_initiate, call_sandbox_play, call_terminate
from telephony.backends import get_backend, sandbox
from telephony.backends.sandbox import MAGIC_NUMBERS, SandboxBackend
from tests.factories import ApiKeyFactory, PhoneNumberFactory
from webhooks.models import Event
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db

MACHINE = "+14155550195"
PERSON = "+14155550199"
VOICEMAIL = "Hi {{ name }}, call us back."


@pytest.fixture(autouse=True)
def _empty_voicemails() -> Any:
    sandbox.voicemails.clear()
    yield
    sandbox.voicemails.clear()


def backend() -> SandboxBackend:
    found = get_backend("sandbox")
    assert isinstance(found, SandboxBackend)
    return found


def events(to_number: str, **options: Any) -> list[str]:
    return [
        f"{step.event}:{step.answered_by}" if step.answered_by else step.event
        for step in backend().script(to_number, **options)
    ]


# --- scripts ----------------------------------------------------------------------------------------------------


def test_the_machine_number_is_in_the_table_of_magic_numbers() -> None:
    assert MAGIC_NUMBERS[MACHINE] == "machine"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("off", ["initiated", "ringing", "answered", "completed"]),
        ("detect", ["initiated", "ringing", "answered", "amd:machine", "completed"]),
        ("hangup", ["initiated", "ringing", "answered", "amd:machine", "completed"]),
        ("leave_message", ["initiated", "ringing", "answered", "amd:machine", "beep", "completed"]),
    ],
)
def test_a_machine_answers_the_machine_number_and_reports_itself_only_to_calls_that_detect(
    mode: str, expected: list[str]
) -> None:
    assert events(MACHINE, machine_detection=mode) == expected


def test_a_person_answers_every_other_number(settings: Any) -> None:
    assert events(PERSON, machine_detection="hangup") == ["initiated", "ringing", "answered", "amd:human", "completed"]
    assert events("+14155550191", machine_detection="hangup") == ["initiated", "ringing", "busy"]


def test_an_answered_call_that_records_gets_its_recording_after_the_end() -> None:
    script = backend().script(PERSON, record=True)

    assert [step.event for step in script][-2:] == ["completed", "recording"]
    assert script[-1].duration == script[-2].duration
    assert [step.event for step in backend().script("+14155550193", record=True)] == ["initiated", "failed"]


@pytest.mark.parametrize("mode", ["off", "detect", "hangup", "leave_message"])
@pytest.mark.parametrize("to_number", [MACHINE, PERSON])
def test_a_call_with_detection_still_lasts_call_seconds_from_its_answer(
    settings: Any, mode: str, to_number: str
) -> None:
    script = backend().script(to_number, machine_detection=mode)
    after_answer = [step.after for step in script[3:]]

    if to_number == MACHINE and mode == "hangup":
        assert sum(after_answer) == script[-1].duration == 2  # hung up on at once
    elif to_number == MACHINE and mode == "leave_message":
        assert sum(after_answer) == script[-1].duration == 5  # a 3 s greeting, then the 2 s message
    else:
        assert sum(after_answer) == script[-1].duration == 5  # SANDBOX_CALL_SECONDS


# --- played against the live server ----------------------------------------------------------------------------


@pytest.fixture
def served(live_server: Any, settings: Any, transactional_db: Any) -> Any:
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


def place(to_number: str, **options: Any) -> Call:
    number = PhoneNumberFactory(phone_number="+14155550100")
    webhook_endpoint_create(organization=number.organization, url="https://hooks.example.com/burki")
    return call_initiate(
        organization=number.organization,
        from_number="+14155550100",
        to_number=to_number,
        variables={"name": "Ann"},
        sandbox_autoplay=False,
        **options,
    )


def play(call: Call) -> Call:
    step = 0
    while step < 20 and call_sandbox_play(call_id=call.pk, step=step) is not None:
        step += 1
    call_sandbox_play(call_id=call.pk, step=step)  # the last step says nothing more is due, and returns None
    call.refresh_from_db()
    return call


def types(call: Call) -> list[str]:
    return list(Event.objects.filter(subject=f"call:{call.pk}").order_by("sequence").values_list("type", flat=True))


def test_in_detect_mode_the_machine_is_reported_and_the_call_completes(served: Any) -> None:
    call = play(place(MACHINE, machine_detection="detect"))

    assert (call.status, call.answered_by, call.end_reason) == ("completed", "machine", "hangup")
    assert sandbox.hangups == []
    assert sandbox.voicemails == []
    assert types(call) == [
        "call.initiated",
        "call.ringing",
        "call.answered",
        "call.machine_detection.completed",
        "call.ended",
    ]


def test_in_hangup_mode_burki_hangs_up_on_the_machine_and_the_call_ends_as_voicemail(served: Any) -> None:
    call = play(place(MACHINE, machine_detection="hangup"))

    assert (call.status, call.answered_by, call.end_reason, call.duration) == ("completed", "machine", "voicemail", 2)
    assert sandbox.hangups == [call.call_sid]
    assert types(call).count("call.ended") == 1


def test_in_leave_message_mode_the_message_is_left_after_the_beep(served: Any) -> None:
    call = play(place(MACHINE, machine_detection="leave_message", voicemail_message=VOICEMAIL))

    assert (call.status, call.answered_by, call.end_reason) == ("completed", "machine", "voicemail-message-left")
    assert sandbox.voicemails == [(call.call_sid, "Hi Ann, call us back.")]
    assert sandbox.hangups == []


def test_a_person_on_the_line_keeps_the_call_whatever_the_mode(served: Any) -> None:
    call = play(place(PERSON, machine_detection="hangup"))

    assert (call.status, call.answered_by, call.end_reason) == ("completed", "human", "hangup")
    assert sandbox.hangups == []


def test_a_recorded_call_gets_its_recording_after_call_ended(served: Any) -> None:
    call = play(place(PERSON, record=True))

    assert call.recording_url == f"https://sandbox.burki.invalid/recordings/{call.call_sid}.mp3"
    assert call.recording_duration == call.duration == 5
    assert types(call)[-2:] == ["call.ended", "call.recording.ready"]


def test_a_call_hung_up_through_the_api_gets_no_recording(served: Any) -> None:
    call = place(PERSON, record=True)
    for step in range(3):
        call_sandbox_play(call_id=call.pk, step=step)
    call.refresh_from_db()
    call_terminate(call=call)

    assert [step.event for step in backend().script(PERSON, record=True)][3:] == ["completed", "recording"]
    assert call_sandbox_play(call_id=call.pk, step=3) is None
    assert call_sandbox_play(call_id=call.pk, step=4) is None

    call.refresh_from_db()
    assert (call.status, call.end_reason, call.recording_url) == ("completed", "terminated", "")


def test_place_test_call_simulate_plays_the_machine_and_the_recording(served: Any) -> None:
    PhoneNumberFactory(phone_number="+14155550100")
    out = StringIO()

    call_command(
        "place_test_call",
        "--from",
        "+14155550100",
        "--to",
        MACHINE,
        "--machine-detection",
        "leave_message",
        "--voicemail",
        "Call us back.",
        "--record",
        "--simulate",
        "--json",
        stdout=out,
    )

    result = json.loads(out.getvalue())
    assert [r["request"] for r in result["simulated"]] == [
        "initiated",
        "ringing",
        "answer",
        "answered",
        "amd",
        "beep",
        "completed",
        "recording",
    ]
    assert {r["http_status"] for r in result["simulated"]} <= {200, 204}
    assert (result["answered_by"], result["end_reason"]) == ("machine", "voicemail-message-left")
    assert result["recording_url"].startswith("https://sandbox.burki.invalid/recordings/")
    assert sandbox.voicemails == [(result["call_sid"], "Call us back.")]


# --- on a real worker (PostgreSQL and Redis) ---------------------------------------------------------------------


def initiate_over_http(base_url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 (the live server)
        f"{base_url}/calls/initiate",
        data=json.dumps({"from_phone_number": "+14155550100", **body}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return dict(json.load(response))


@pytest.mark.worker
def test_a_machine_and_a_recording_play_out_by_themselves_on_a_real_worker(
    celery_worker_process: Any, live_server: Any
) -> None:
    worker = celery_worker_process(env={"SANDBOX_CALL_SECONDS": "1"})
    number = PhoneNumberFactory(phone_number="+14155550100")
    key = ApiKeyFactory(organization=number.organization).raw_key

    machine = initiate_over_http(
        live_server.url,
        key,
        {"to_phone_number": MACHINE, "machine_detection": "leave_message", "voicemail_message": "Call us back."},
    )
    recorded = initiate_over_http(live_server.url, key, {"to_phone_number": PERSON, "record": True})

    deadline = time.monotonic() + 60
    while (
        Call.objects.filter(recording_url="").exclude(pk=machine["call_id"]).exists()
        or Call.objects.filter(pk=machine["call_id"], ended_at__isnull=True).exists()
    ):
        assert time.monotonic() < deadline, f"calls not over after 60s:\n{worker.log()[-3000:]}"
        time.sleep(0.2)
    left = Call.objects.get(pk=machine["call_id"])
    assert (left.status, left.answered_by, left.end_reason) == ("completed", "machine", "voicemail-message-left")
    assert sandbox.voicemails == [(left.call_sid, "Call us back.")]
    with_recording = Call.objects.get(pk=recorded["call_id"])
    assert (with_recording.status, with_recording.recording_duration) == ("completed", 1)
    assert with_recording.recording_url.endswith(f"{with_recording.call_sid}.mp3")
