"""Each carrier's detection and recording events, signed and shaped as the carrier sends them, through our webhooks onto
the call: answered_by, the end reason of a call a machine ended, the recording, the customer events (each once), and
what Burki then asks the carrier (hang up, leave the message) on the fake carrier's wire.

Payload shapes: Twilio's AMD and recording status callbacks from its API reference (form fields); Telnyx's from the
telnyx SDK's webhook event models (CallMachineDetectionEnded, CallMachineGreetingEnded, CallMachinePremium*,
CallRecordingSaved); Vonage's from its webhook reference (human/machine events name the call `call_uuid`; a record
event names no call, only its conversation). The Vonage `sub_state` values (beep_start, beep_timeout) are from its
SDKs' documentation of advanced machine detection.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.test import Client, override_settings
from twilio.request_validator import RequestValidator

from calls.models import Call, CallEvent
from tests.fakes.server import FakeProvider
from tests.fakes.support import callback_url
from tests.fakes.webhooks import (
    STREAM_URL,
    assert_refused_and_unchanged,
    context,
    post_json,
    provider_call,
    webhook_path,
    webhook_url,
)
from webhooks.models import Event
from webhooks.services import webhook_endpoint_create

pytest_plugins = ["tests.fakes.fixtures"]
pytestmark = pytest.mark.django_db

VOICEMAIL = "Hi Ann, it's Burki: call us back."


@pytest.fixture(autouse=True)
def endpoint(organization: Any) -> Any:
    return webhook_endpoint_create(organization=organization, url="https://hooks.example.com/burki")[0]


def emitted(call: Call) -> list[tuple[str, str, str]]:
    """(type, answered_by, end_reason) of every customer event about `call`, in order."""
    events = Event.objects.filter(subject=f"call:{call.pk}").order_by("sequence")
    return [(e.type, e.data["answered_by"], e.data["end_reason"]) for e in events]


def outcome(call: Call) -> tuple[str, str, str]:
    call.refresh_from_db()
    return call.status, call.answered_by, call.end_reason


def live(organization: Any, provider: str, credentials: dict[str, str], call_sid: str, **fields: Any) -> Call:
    """An answered call of `provider` placed with `fields` (machine_detection, voicemail_message, record, ...)."""
    values = {"status": "in-progress", "voicemail_message": VOICEMAIL, **fields}
    return provider_call(organization, provider=provider, credentials=credentials, call_sid=call_sid, **values)


# === Twilio =====================================================================================================

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token-5eb6c7d8e9f0a1b2c3d4"
TWILIO = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN}
CALL_SID = "CA" + "7" * 32
TWILIO_CALL = f"/2010-04-01/Accounts/{TWILIO_SID}/Calls/{CALL_SID}.json"
RECORDING_SID = "RE" + "3" * 32
RECORDING_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Recordings/{RECORDING_SID}"


@pytest.fixture
def twilio(fake_provider: FakeProvider) -> Iterator[FakeProvider]:
    """A fake Twilio that takes call updates (hang-ups, new TwiML), with the twilio backend pointed at it."""
    fake_provider.on("POST", TWILIO_CALL, json={"sid": CALL_SID, "status": "in-progress"})
    with override_settings(
        TELEPHONY_BACKENDS={
            "twilio": {
                "BACKEND": "telephony.backends.twilio.TwilioBackend",
                "OPTIONS": {"API_BASE_URL": fake_provider.url, "TIMEOUT": 2},
            }
        }
    ):
        yield fake_provider


def twilio_post(call: Call, fields: dict[str, str], *, token: str = TWILIO_TOKEN) -> Any:
    signature = RequestValidator(token).compute_signature(webhook_url(call, "status"), fields)
    return Client().post(
        webhook_path(call, "status"),
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


def twilio_amd(call: Call, answered_by: str) -> Any:
    """Twilio's asynchronous AMD callback (AsyncAmdStatusCallback), as it posts it."""
    fields = {
        "AccountSid": TWILIO_SID,
        "CallSid": CALL_SID,
        "AnsweredBy": answered_by,
        "MachineDetectionDuration": "2710",
    }
    return twilio_post(call, fields)


def twilio_status(call: Call, call_status: str, sequence: int = 3) -> Any:
    fields = {
        "AccountSid": TWILIO_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": CALL_SID,
        "CallStatus": call_status,
        "CallDuration": "9",
        "Direction": "outbound-api",
        "From": call.from_number,
        "To": call.to_number,
        "SequenceNumber": str(sequence),
    }
    return twilio_post(call, fields)


def twilio_recording(call: Call, recording_status: str = "completed") -> Any:
    """Twilio's recording status callback, as it posts it."""
    fields = {
        "AccountSid": TWILIO_SID,
        "CallSid": CALL_SID,
        "RecordingSid": RECORDING_SID,
        "RecordingUrl": RECORDING_URL,
        "RecordingStatus": recording_status,
        "RecordingDuration": "9",
        "RecordingChannels": "2",
        "RecordingStartTime": "Tue, 14 Jan 2025 10:00:05 +0000",
        "RecordingSource": "OutboundAPI",
        "ErrorCode": "0",
    }
    return twilio_post(call, fields)


@pytest.mark.parametrize(
    ("answered_by", "expected"),
    [
        ("human", "human"),
        ("machine_start", "machine"),
        ("machine_end_beep", "machine"),
        ("machine_end_silence", "machine"),
        ("machine_end_other", "machine"),
        ("fax", "fax"),
        ("unknown", "unknown"),
        ("something_new", "unknown"),
    ],
)
def test_each_twilio_answered_by_is_normalized_and_kept_as_an_event(
    organization: Any, answered_by: str, expected: str
) -> None:
    call = live(organization, "twilio", TWILIO, CALL_SID, machine_detection="detect")

    response = twilio_amd(call, answered_by)

    assert response.status_code == 200, response.content
    assert outcome(call) == ("in-progress", expected, "")
    [kept] = CallEvent.objects.filter(call=call)
    assert (kept.event_type, kept.status, kept.key) == ("amd", "", f"amd:{answered_by}")
    assert kept.payload["AnsweredBy"] == answered_by
    assert emitted(call) == [("call.machine_detection.completed", expected, "")]


def test_an_amd_callback_not_signed_by_the_calls_account_is_403_and_changes_nothing(organization: Any) -> None:
    call = live(organization, "twilio", TWILIO, CALL_SID, machine_detection="hangup")
    fields = {"AccountSid": TWILIO_SID, "CallSid": CALL_SID, "AnsweredBy": "machine_start"}

    response = twilio_post(call, fields, token="another-accounts-token")

    assert_refused_and_unchanged(response, call)
    assert Call.objects.get(pk=call.pk).answered_by == ""


def test_in_detect_mode_a_machine_is_reported_and_the_call_goes_on(organization: Any, twilio: FakeProvider) -> None:
    call = live(organization, "twilio", TWILIO, CALL_SID, machine_detection="detect")

    twilio_amd(call, "machine_start")
    twilio_status(call, "completed")

    assert twilio.requests == []
    assert outcome(call) == ("completed", "machine", "completed")


def test_in_hangup_mode_twilio_is_told_to_hang_up_and_the_call_ends_as_voicemail_once(
    organization: Any, twilio: FakeProvider
) -> None:
    call = live(organization, "twilio", TWILIO, CALL_SID, machine_detection="hangup")

    twilio_amd(call, "machine_start")
    twilio_amd(call, "machine_start")  # Twilio retrying its callback: one event, one hang-up

    [hangup] = twilio.requests
    assert (hangup.method, hangup.path, hangup.data) == ("POST", TWILIO_CALL, {"Status": ["completed"]})
    assert twilio_status(call, "completed").status_code == 200
    assert twilio_status(call, "completed", sequence=4).status_code == 200
    assert outcome(call) == ("completed", "machine", "voicemail")
    assert emitted(call) == [
        ("call.machine_detection.completed", "machine", ""),
        ("call.ended", "machine", "voicemail"),
    ]


@pytest.mark.parametrize("answered_by", ["human", "unknown"])
def test_in_hangup_mode_a_person_or_an_unsure_result_keeps_the_call(
    organization: Any, twilio: FakeProvider, answered_by: str
) -> None:
    call = live(organization, "twilio", TWILIO, CALL_SID, machine_detection="hangup")

    twilio_amd(call, answered_by)
    twilio_status(call, "completed")

    assert twilio.requests == []
    assert outcome(call) == ("completed", answered_by, "completed")


def test_in_hangup_mode_a_fax_is_hung_up_on_and_ends_as_fax(organization: Any, twilio: FakeProvider) -> None:
    call = live(organization, "twilio", TWILIO, CALL_SID, machine_detection="hangup")

    twilio_amd(call, "fax")
    twilio_status(call, "completed")

    assert [r.data for r in twilio.requests] == [{"Status": ["completed"]}]
    assert outcome(call) == ("completed", "fax", "fax")


def test_in_leave_message_mode_the_end_of_the_greeting_gets_the_message_then_the_call_ends_message_left(
    organization: Any, twilio: FakeProvider
) -> None:
    call = live(organization, "twilio", TWILIO, CALL_SID, machine_detection="leave_message")

    twilio_amd(call, "machine_end_beep")

    [update] = twilio.requests
    twiml = ET.fromstring(update.form("Twiml"))  # noqa: S314 (what our own backend sent, in a test)
    assert [(element.tag, element.text) for element in twiml] == [("Say", VOICEMAIL), ("Hangup", None)]
    twilio_status(call, "completed")
    assert outcome(call) == ("completed", "machine", "voicemail-message-left")
    assert emitted(call)[-1] == ("call.ended", "machine", "voicemail-message-left")


def test_a_message_twilio_refused_to_take_is_not_reported_as_left(
    organization: Any, fake_provider: FakeProvider
) -> None:
    fake_provider.on("POST", TWILIO_CALL, status=404, json={"code": 20404, "message": "Not found", "status": 404})
    call = live(organization, "twilio", TWILIO, CALL_SID, machine_detection="leave_message")

    with override_settings(
        TELEPHONY_BACKENDS={
            "twilio": {
                "BACKEND": "telephony.backends.twilio.TwilioBackend",
                "OPTIONS": {"API_BASE_URL": fake_provider.url, "TIMEOUT": 2},
            }
        }
    ):
        assert twilio_amd(call, "machine_end_silence").status_code == 200
        twilio_status(call, "completed")

    assert outcome(call) == ("completed", "machine", "voicemail")


def test_a_call_hung_up_through_the_api_keeps_terminated_as_its_end_reason(
    organization: Any, twilio: FakeProvider, api: Any
) -> None:
    call = live(organization, "twilio", TWILIO, CALL_SID, machine_detection="leave_message")
    twilio_amd(call, "machine_start")  # DetectMessageEnd would not say this; a machine, no greeting end yet

    assert api.post(f"/api/v1/calls/{CALL_SID}/terminate").status_code == 200

    assert outcome(call) == ("completed", "machine", "terminated")


def test_detection_reported_after_the_end_changes_nothing(organization: Any, twilio: FakeProvider) -> None:
    call = live(organization, "twilio", TWILIO, CALL_SID, machine_detection="hangup")
    twilio_status(call, "completed")

    assert twilio_amd(call, "machine_start").status_code == 200

    assert twilio.requests == []
    assert outcome(call) == ("completed", "", "completed")
    assert [e[0] for e in emitted(call)] == ["call.ended"]
    assert CallEvent.objects.filter(call=call, event_type="amd").exists()  # kept all the same


def test_a_twilio_recording_is_put_on_the_call_and_announced_once(organization: Any, api: Any) -> None:
    call = live(organization, "twilio", TWILIO, CALL_SID, record=True, status="completed", end_reason="completed")

    assert twilio_recording(call).status_code == 200
    assert twilio_recording(call).status_code == 200  # redelivered

    call.refresh_from_db()
    assert (call.recording_url, call.recording_duration) == (RECORDING_URL, 9)
    [ready] = Event.objects.filter(subject=f"call:{call.pk}", type="call.recording.ready")
    assert (ready.data["recording_url"], ready.data["recording_duration"]) == (RECORDING_URL, 9)
    shown = api.get(f"/api/v1/calls/{call.pk}").json()
    assert (shown["recording_url"], shown["recording_duration"]) == (RECORDING_URL, 9)


@pytest.mark.parametrize("recording_status", ["absent", "failed"])
def test_a_recording_that_never_became_ready_is_kept_without_a_url(organization: Any, recording_status: str) -> None:
    call = live(organization, "twilio", TWILIO, CALL_SID, record=True, status="completed")

    assert twilio_recording(call, recording_status).status_code == 200

    assert Call.objects.get(pk=call.pk).recording_url == ""
    assert CallEvent.objects.get(call=call).event_type == f"recording-{recording_status}"
    assert not Event.objects.filter(type="call.recording.ready").exists()


# === Telnyx =====================================================================================================

TELNYX_KEY = Ed25519PrivateKey.generate()
CALL_CONTROL_ID = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"
TELNYX = {
    "api_key": "KEY0190_telnyx",
    "connection_id": "1684641123236054244",
    "public_key": base64.b64encode(TELNYX_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode(),
}
TELNYX_RECORDING = "https://s3.amazonaws.com/telephony-recorder-prod/8bd0bdbc/2025-01-14/call.mp3?X-Amz-Signature=ab"
TELNYX_PUBLIC_RECORDING = "https://recordings.telnyx.example/8bd0bdbc.mp3"


@pytest.fixture
def telnyx(fake_provider: FakeProvider) -> Iterator[FakeProvider]:
    for action in ("speak", "hangup", "streaming_stop"):
        fake_provider.on("POST", f"/v2/calls/{CALL_CONTROL_ID}/actions/{action}", json={"data": {"result": "ok"}})
    with override_settings(
        TELEPHONY_BACKENDS={
            "telnyx": {
                "BACKEND": "telephony.backends.telnyx.TelnyxBackend",
                "OPTIONS": {"API_BASE_URL": f"{fake_provider.url}/v2", "TIMEOUT": 2},
            }
        }
    ):
        yield fake_provider


def telnyx_post(call: Call, event_type: str, *, without: tuple[str, ...] = (), **payload: Any) -> Any:
    """A Call Control event as Telnyx signs and posts it; `without` leaves out fields its kind does not carry."""
    body: dict[str, Any] = {
        "data": {
            "record_type": "event",
            "event_type": event_type,
            "id": str(uuid.uuid4()),
            "occurred_at": "2025-01-14T10:00:05.000000Z",
            "payload": {
                "call_control_id": CALL_CONTROL_ID,
                "call_leg_id": "2dc6fc34-f9e0-11ea-b68e-02420a0f7768",
                "call_session_id": "2dc1b3c8-f9e0-11ea-bc5a-02420a0f7768",
                "client_state": base64.b64encode(call.token.encode()).decode(),
                "connection_id": TELNYX["connection_id"],
                "from": call.from_number,
                "to": call.to_number,
                **payload,
            },
        },
        "meta": {"attempt": 1, "delivered_to": webhook_url(call, "status")},
    }
    for name in without:
        del body["data"]["payload"][name]
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()))
    signature = base64.b64encode(TELNYX_KEY.sign(f"{stamp}|".encode() + raw)).decode()
    return post_json(call, "status", raw, HTTP_TELNYX_SIGNATURE_ED25519=signature, HTTP_TELNYX_TIMESTAMP=stamp)


# call.recording.saved names its call by client_state, call_leg_id and call_session_id (the SDK's model has no
# call_control_id), and has no from or to.
RECORDING_SAVED_LACKS = ("call_control_id", "from", "to")


def telnyx_commands(fake: FakeProvider) -> list[tuple[str, dict[str, Any]]]:
    return [(r.path.rsplit("/", 1)[1], r.data) for r in fake.requests]


@pytest.mark.parametrize(
    ("event_type", "result", "expected"),
    [
        ("call.machine.detection.ended", "human", "human"),
        ("call.machine.detection.ended", "machine", "machine"),
        ("call.machine.detection.ended", "not_sure", "unknown"),
        ("call.machine.premium.detection.ended", "human_residence", "human"),
        ("call.machine.premium.detection.ended", "human_business", "human"),
        ("call.machine.premium.detection.ended", "machine", "machine"),
        ("call.machine.premium.detection.ended", "silence", "unknown"),
        ("call.machine.premium.detection.ended", "fax_detected", "fax"),
    ],
)
def test_each_telnyx_detection_result_is_normalized(
    organization: Any, event_type: str, result: str, expected: str
) -> None:
    call = live(organization, "telnyx", TELNYX, CALL_CONTROL_ID, machine_detection="detect")

    assert telnyx_post(call, event_type, result=result).status_code == 204

    assert outcome(call) == ("in-progress", expected, "")
    kept = CallEvent.objects.get(call=call)
    assert (kept.event_type, kept.payload["data"]["payload"]["result"]) == (event_type, result)


def test_a_telnyx_detection_event_signed_for_another_call_is_403(organization: Any) -> None:
    call = live(organization, "telnyx", TELNYX, CALL_CONTROL_ID, machine_detection="hangup")
    other = live(organization, "telnyx", TELNYX, "v3:another-call", machine_detection="hangup")
    body = {
        "data": {
            "event_type": "call.machine.detection.ended",
            "id": "ev-1",
            "payload": {
                "call_control_id": CALL_CONTROL_ID,
                "client_state": base64.b64encode(other.token.encode()).decode(),
                "result": "machine",
            },
        }
    }
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()))
    signature = base64.b64encode(TELNYX_KEY.sign(f"{stamp}|".encode() + raw)).decode()

    response = post_json(call, "status", raw, HTTP_TELNYX_SIGNATURE_ED25519=signature, HTTP_TELNYX_TIMESTAMP=stamp)

    assert_refused_and_unchanged(response, call)


def test_in_hangup_mode_telnyx_is_told_to_hang_up_and_the_call_ends_as_voicemail(
    organization: Any, telnyx: FakeProvider
) -> None:
    call = live(organization, "telnyx", TELNYX, CALL_CONTROL_ID, machine_detection="hangup")

    telnyx_post(call, "call.machine.detection.ended", result="machine")
    telnyx_post(call, "call.hangup", hangup_cause="normal_clearing", hangup_source="caller")

    assert telnyx_commands(telnyx) == [("hangup", {})]
    assert outcome(call) == ("completed", "machine", "voicemail")
    assert emitted(call) == [
        ("call.machine_detection.completed", "machine", ""),
        ("call.ended", "machine", "voicemail"),
    ]


@override_settings(MEDIA_STREAM_URL=STREAM_URL)
def test_in_leave_message_mode_telnyx_stops_the_stream_speaks_the_message_then_hangs_up(
    organization: Any, telnyx: FakeProvider
) -> None:
    call = live(organization, "telnyx", TELNYX, CALL_CONTROL_ID, machine_detection="leave_message")

    telnyx_post(call, "call.machine.detection.ended", result="machine")
    telnyx_post(call, "call.machine.greeting.ended", result="beep_detected")
    telnyx_post(call, "call.speak.ended", status="completed")
    telnyx_post(call, "call.hangup", hangup_cause="normal_clearing")

    assert [name for name, _ in telnyx_commands(telnyx)] == ["streaming_stop", "speak", "hangup"]
    assert telnyx_commands(telnyx)[1][1]["payload"] == VOICEMAIL
    assert outcome(call) == ("completed", "machine", "voicemail-message-left")


@pytest.mark.parametrize(
    ("event_type", "result"),
    [
        ("call.machine.greeting.ended", "ended"),
        ("call.machine.greeting.ended", "not_sure"),
        ("call.machine.premium.greeting.ended", "beep_detected"),
        ("call.machine.premium.greeting.ended", "no_beep_detected"),
    ],
)
def test_any_end_of_the_greeting_is_the_moment_to_leave_the_message(
    organization: Any, telnyx: FakeProvider, event_type: str, result: str
) -> None:
    call = live(organization, "telnyx", TELNYX, CALL_CONTROL_ID, machine_detection="leave_message")

    telnyx_post(call, event_type, result=result)  # no detection.ended first: the greeting says it was a machine

    assert [name for name, _ in telnyx_commands(telnyx)] == ["speak"]
    assert Call.objects.get(pk=call.pk).answered_by == "machine"


def test_without_a_media_stream_a_call_that_may_hang_up_on_machines_speaks_only_to_a_person(
    organization: Any, telnyx: FakeProvider
) -> None:
    call = live(organization, "telnyx", TELNYX, CALL_CONTROL_ID, machine_detection="hangup", status="initiated")

    telnyx_post(call, "call.answered")
    assert telnyx.requests == []  # not yet: it may be a machine
    telnyx_post(call, "call.machine.detection.ended", result="human")
    telnyx_post(call, "call.speak.ended", status="completed")

    assert [name for name, _ in telnyx_commands(telnyx)] == ["speak", "hangup"]
    assert telnyx_commands(telnyx)[0][1]["payload"] == call.welcome_message


@override_settings(MEDIA_STREAM_URL=STREAM_URL)
def test_a_speak_ended_of_the_voice_engine_does_not_hang_up(organization: Any, telnyx: FakeProvider) -> None:
    call = live(organization, "telnyx", TELNYX, CALL_CONTROL_ID, machine_detection="detect")

    telnyx_post(call, "call.speak.ended", status="completed")

    assert telnyx.requests == []


def test_a_telnyx_recording_prefers_its_lasting_public_url(organization: Any) -> None:
    call = live(organization, "telnyx", TELNYX, CALL_CONTROL_ID, record=True, status="completed")

    telnyx_post(
        call,
        "call.recording.saved",
        without=RECORDING_SAVED_LACKS,
        channels="dual",
        recording_started_at="2025-01-14T10:00:05.000000Z",
        recording_ended_at="2025-01-14T10:00:47.400000Z",
        recording_urls={"mp3": TELNYX_RECORDING, "wav": None},
        public_recording_urls={"mp3": TELNYX_PUBLIC_RECORDING, "wav": None},
    )

    call.refresh_from_db()
    assert (call.recording_url, call.recording_duration) == (TELNYX_PUBLIC_RECORDING, 42)
    assert [e[0] for e in emitted(call)] == ["call.recording.ready"]


def test_a_telnyx_recording_without_public_urls_has_its_ten_minute_url(organization: Any) -> None:
    call = live(organization, "telnyx", TELNYX, CALL_CONTROL_ID, record=True, status="completed")

    telnyx_post(
        call,
        "call.recording.saved",
        without=RECORDING_SAVED_LACKS,
        recording_started_at="2025-01-14T10:00:05Z",
        recording_ended_at="2025-01-14T10:00:15Z",
        recording_urls={"wav": TELNYX_RECORDING},
    )

    assert Call.objects.get(pk=call.pk).recording_url == TELNYX_RECORDING


def test_a_recording_url_that_is_not_https_is_not_taken(organization: Any) -> None:
    call = live(organization, "telnyx", TELNYX, CALL_CONTROL_ID, record=True, status="completed")

    telnyx_post(
        call, "call.recording.saved", without=RECORDING_SAVED_LACKS, recording_urls={"mp3": "javascript:alert(1)//.mp3"}
    )

    assert Call.objects.get(pk=call.pk).recording_url == ""
    assert emitted(call) == []


# === Vonage =====================================================================================================

VONAGE_SECRET = "vonage-signature-secret-9f8e7d6c5b4a3f2e1d0c"
VONAGE_UUID = "63f61863-4a51-4f6b-86e1-46edebcf9356"
CONVERSATION = "CON-f972836a-550f-45fa-956c-12a2ab5b7d22"


@pytest.fixture
def vonage_credentials(rsa_keys: Any) -> dict[str, str]:
    return {
        "application_id": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
        "private_key": rsa_keys.private_pem,
        "signature_secret": VONAGE_SECRET,
    }


@pytest.fixture
def vonage(fake_tls_provider: FakeProvider) -> Iterator[FakeProvider]:
    fake_tls_provider.on("PUT", f"/v1/calls/{VONAGE_UUID}", status=204)
    with override_settings(
        TELEPHONY_BACKENDS={
            "vonage": {
                "BACKEND": "telephony.backends.vonage.VonageBackend",
                "OPTIONS": {"API_HOST": fake_tls_provider.host, "TIMEOUT": 2},
            }
        }
    ):
        yield fake_tls_provider


def vonage_post(call: Call, body: dict[str, Any], kind: str = "status") -> Any:
    raw = json.dumps(body).encode()
    claims = {
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(raw).hexdigest(),
        "application_id": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
    }
    token = jwt.encode(claims, VONAGE_SECRET, algorithm="HS256")
    return post_json(call, kind, raw, HTTP_AUTHORIZATION=f"Bearer {token}")


def vonage_detection(call: Call, status: str, sub_state: str | None = None) -> Any:
    body: dict[str, Any] = {
        "call_uuid": VONAGE_UUID,
        "from": "14155550100",
        "to": "14155550199",
        "status": status,
        "conversation_uuid": CONVERSATION,
        "timestamp": "2025-01-14T10:00:07.000Z",
    }
    if sub_state:
        body["sub_state"] = sub_state
    return vonage_post(call, body)


def vonage_completed(call: Call) -> Any:
    return vonage_post(
        call,
        {
            "uuid": VONAGE_UUID,
            "conversation_uuid": CONVERSATION,
            "status": "completed",
            "direction": "outbound",
            "duration": "12",
            "timestamp": "2025-01-14T10:00:17.000Z",
        },
    )


@pytest.mark.parametrize(("status", "expected"), [("human", "human"), ("machine", "machine")])
def test_a_vonage_detection_event_naming_its_call_call_uuid_is_understood(
    organization: Any, vonage_credentials: dict[str, str], status: str, expected: str
) -> None:
    call = live(organization, "vonage", vonage_credentials, VONAGE_UUID, machine_detection="detect")

    assert vonage_detection(call, status).status_code == 204

    assert outcome(call) == ("in-progress", expected, "")
    assert CallEvent.objects.get(call=call).event_type == status


def test_a_vonage_detection_event_naming_another_call_is_kept_but_not_applied(
    organization: Any, vonage_credentials: dict[str, str]
) -> None:
    call = live(organization, "vonage", vonage_credentials, VONAGE_UUID, machine_detection="hangup")
    body = {"call_uuid": "another-leg", "status": "machine", "timestamp": "2025-01-14T10:00:07.000Z"}

    assert vonage_post(call, body).status_code == 204

    assert outcome(call) == ("in-progress", "", "")


def test_in_hangup_mode_vonage_hangs_up_by_itself_and_the_call_ends_as_voicemail(
    organization: Any, vonage_credentials: dict[str, str], vonage: FakeProvider
) -> None:
    call = live(organization, "vonage", vonage_credentials, VONAGE_UUID, machine_detection="hangup")

    vonage_detection(call, "machine")
    vonage_completed(call)

    assert vonage.requests == []  # advanced_machine_detection's behavior "hangup" did it
    assert outcome(call) == ("completed", "machine", "voicemail")


@pytest.mark.parametrize("sub_state", ["beep_start", "beep_timeout"])
def test_in_leave_message_mode_vonage_transfers_the_call_to_the_message_once_the_greeting_is_over(
    organization: Any, vonage_credentials: dict[str, str], vonage: FakeProvider, sub_state: str
) -> None:
    call = live(organization, "vonage", vonage_credentials, VONAGE_UUID, machine_detection="leave_message")

    vonage_detection(call, "machine")
    assert vonage.requests == []  # not before the beep
    vonage_detection(call, "machine", sub_state)
    vonage_completed(call)

    [transfer] = vonage.requests
    assert transfer.data == {
        "action": "transfer",
        "destination": {"type": "ncco", "ncco": [{"text": VOICEMAIL, "action": "talk"}]},
    }
    assert outcome(call) == ("completed", "machine", "voicemail-message-left")
    assert [kept.event_type for kept in CallEvent.objects.filter(call=call)] == [
        "machine",
        f"machine:{sub_state}",
        "completed",
    ]


def test_a_vonage_record_event_puts_the_recording_on_the_call(
    organization: Any, vonage_credentials: dict[str, str]
) -> None:
    call = live(organization, "vonage", vonage_credentials, VONAGE_UUID, record=True, status="completed")
    body = {
        "start_time": "2025-01-14T10:00:05Z",
        "recording_url": "https://api.nexmo.com/v1/files/bbbbbbbb-aaaa-4ccc-8ddd-0123456789ab",
        "size": 12222,
        "recording_uuid": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
        "end_time": "2025-01-14T10:00:17Z",
        "conversation_uuid": CONVERSATION,
        "timestamp": "2025-01-14T10:00:18.000Z",
    }

    assert vonage_post(call, body).status_code == 204
    assert vonage_post(call, body).status_code == 204  # redelivered

    call.refresh_from_db()
    assert (call.recording_url, call.recording_duration) == (body["recording_url"], 12)
    assert [e[0] for e in emitted(call)] == ["call.recording.ready"]
    assert CallEvent.objects.get(call=call).key == "record:aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab"


def test_a_vonage_call_that_records_has_a_record_action_before_its_connect(
    organization: Any, vonage_credentials: dict[str, str]
) -> None:
    call = live(organization, "vonage", vonage_credentials, VONAGE_UUID, record=True, status="ringing")
    answer = {"uuid": VONAGE_UUID, "conversation_uuid": CONVERSATION, "from": "14155550100", "to": "14155550199"}

    with override_settings(MEDIA_STREAM_URL=STREAM_URL):
        response = vonage_post(call, answer, kind="answer")

    assert response.status_code == 200, response.content
    record, connect = response.json()
    assert record == {
        "action": "record",
        "format": "mp3",
        "split": "conversation",
        "channels": 2,
        "eventUrl": [callback_url("vonage", "status", call.token)],
        "eventMethod": "POST",
    }
    assert connect["action"] == "connect"


# === every carrier: what the voice engine learns ==================================================================


def test_the_stream_parameters_carry_answered_by_once_known(organization: Any) -> None:
    from calls.streams import stream_parameters

    call = live(organization, "twilio", TWILIO, CALL_SID, machine_detection="detect")
    assert "answered_by" not in stream_parameters(call)

    twilio_amd(call, "human")

    call.refresh_from_db()
    assert stream_parameters(call)["answered_by"] == "human"


def test_the_context_tells_the_engine_the_mode_and_who_answered_but_not_the_recording(organization: Any) -> None:
    from calls.streams import stream_token_issue

    call = live(organization, "twilio", TWILIO, CALL_SID, machine_detection="detect", record=True)
    twilio_amd(call, "machine_start")
    Call.objects.filter(pk=call.pk).update(recording_url=RECORDING_URL)

    body = context(call, stream_token_issue(call)).json()

    assert (body["machine_detection"], body["answered_by"]) == ("detect", "machine")
    assert "recording_url" not in json.dumps(body)
    assert RECORDING_URL not in json.dumps(body)


def test_an_answer_for_a_machine_in_hangup_mode_connects_nothing(organization: Any) -> None:
    call = live(organization, "twilio", TWILIO, CALL_SID, machine_detection="hangup", status="ringing")
    twilio_amd(call, "machine_start")
    fields = {"AccountSid": TWILIO_SID, "CallSid": CALL_SID, "CallStatus": "in-progress"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(webhook_url(call, "answer"), fields)

    with override_settings(MEDIA_STREAM_URL=STREAM_URL):
        response = Client().post(
            webhook_path(call, "answer"),
            data=urlencode(fields),
            content_type="application/x-www-form-urlencoded",
            HTTP_X_TWILIO_SIGNATURE=signature,
        )

    assert response.status_code == 200
    assert b"<Hangup />" in response.content
    assert b"Stream" not in response.content
