"""Machine detection, recording and the per-call limits reach each carrier: the real SDKs against the fake carriers,
asserting what arrived on the wire; and the commands that hang up on a machine or leave the voicemail message."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from calls.models import Call
from telephony.backends.base import ProviderAccount
from telephony.backends.telnyx import TelnyxBackend
from telephony.backends.twilio import TwilioBackend
from telephony.backends.vonage import VonageBackend
from tests.fakes.keys import RsaKeyPair
from tests.fakes.server import FakeProvider
from tests.fakes.support import FROM_NUMBER, TO_NUMBER, callback_url, provider_number, use_backend

pytest_plugins = ["tests.fakes.fixtures"]

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_CREDENTIALS = {"account_sid": TWILIO_SID, "auth_token": "twilio-auth-token-5eb6c7d8e9f0a1b2c3d4"}
TWILIO_CALLS = f"/2010-04-01/Accounts/{TWILIO_SID}/Calls.json"
TWILIO_CALL_SID = "CA" + "5" * 32
TELNYX_CREDENTIALS = {"api_key": "KEY0190_telnyx", "connection_id": "1684641123236054244"}
CALL_CONTROL_ID = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"
VONAGE_UUID = "63f61863-4a51-4f6b-86e1-46edebcf9356"

# Every option at once, each away from its default.
OPTIONS = {"record": True, "max_duration_seconds": 900, "ring_timeout_seconds": 45}


def initiate(api: Any, **options: Any) -> Any:
    body = {"from_phone_number": FROM_NUMBER, "to_phone_number": TO_NUMBER, **options}
    response = api.post("/calls/initiate", body, format="json")
    assert response.status_code == 200, response.content
    return response


# --- Twilio -----------------------------------------------------------------------------------------------------


@pytest.fixture
def twilio(fake_provider: FakeProvider, organization: Any) -> Iterator[FakeProvider]:
    fake_provider.on("POST", TWILIO_CALLS, status=201, json={"sid": TWILIO_CALL_SID, "status": "queued"})
    provider_number(organization, provider="twilio", credentials=TWILIO_CREDENTIALS)
    with use_backend("twilio", "telephony.backends.twilio.TwilioBackend", API_BASE_URL=fake_provider.url, TIMEOUT=2):
        yield fake_provider


def test_twilio_gets_async_amd_that_waits_for_the_beep_recording_and_the_calls_own_limits(
    api: Any, twilio: FakeProvider
) -> None:
    initiate(api, machine_detection="leave_message", voicemail_message="Call us back.", **OPTIONS)

    call = Call.objects.get()
    status_url = callback_url("twilio", "status", call.token)
    [request] = twilio.requests
    sent = {name: values for name, values in request.data.items() if name not in ("To", "From", "Url", "Method")}
    assert sent == {
        "StatusCallback": [status_url],
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "StatusCallbackMethod": ["POST"],
        "Timeout": ["45"],
        "TimeLimit": ["900"],
        "MachineDetection": ["DetectMessageEnd"],
        "AsyncAmd": ["true"],
        "AsyncAmdStatusCallback": [status_url],
        "AsyncAmdStatusCallbackMethod": ["POST"],
        "Record": ["true"],
        "RecordingChannels": ["dual"],
        "RecordingStatusCallback": [status_url],
        "RecordingStatusCallbackEvent": ["completed"],
        "RecordingStatusCallbackMethod": ["POST"],
    }


@pytest.mark.parametrize("mode", ["detect", "hangup"])
def test_twilio_detects_without_waiting_for_the_beep_when_no_message_is_left(
    api: Any, twilio: FakeProvider, mode: str
) -> None:
    initiate(api, machine_detection=mode)

    [request] = twilio.requests
    assert request.form("MachineDetection") == "Enable"
    assert request.form("AsyncAmd") == "true"
    assert "Record" not in request.data


def test_twilio_gets_no_detection_or_recording_when_the_call_asks_for_none(api: Any, twilio: FakeProvider) -> None:
    initiate(api)

    [request] = twilio.requests
    assert not {"MachineDetection", "AsyncAmd", "AsyncAmdStatusCallback", "Record"} & set(request.data)


def test_twilio_leaves_the_message_by_giving_the_live_call_new_twiml() -> None:
    with FakeProvider() as twilio:
        twilio.on(
            "POST", f"/2010-04-01/Accounts/{TWILIO_SID}/Calls/{TWILIO_CALL_SID}.json", json={"sid": TWILIO_CALL_SID}
        )
        backend = TwilioBackend(provider="twilio", options={"API_BASE_URL": twilio.url, "TIMEOUT": 2})

        backend.leave_message(
            ProviderAccount(id=1, provider="twilio", credentials=TWILIO_CREDENTIALS),
            TWILIO_CALL_SID,
            text="Hi <Ann> & co, call us back.",
            streaming=True,
        )

    [request] = twilio.requests
    assert request.form("Twiml") == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hi &lt;Ann&gt; &amp; co, call us back.</Say>'
        "<Hangup /></Response>"
    )


# --- Telnyx -----------------------------------------------------------------------------------------------------


@pytest.fixture
def telnyx(fake_provider: FakeProvider, organization: Any) -> Iterator[FakeProvider]:
    fake_provider.on("POST", "/v2/calls", json={"data": {"call_control_id": CALL_CONTROL_ID}})
    provider_number(organization, provider="telnyx", credentials=TELNYX_CREDENTIALS)
    backend = "telephony.backends.telnyx.TelnyxBackend"
    with use_backend("telnyx", backend, API_BASE_URL=f"{fake_provider.url}/v2", TIMEOUT=2):
        yield fake_provider


def test_telnyx_gets_greeting_end_detection_recording_and_the_calls_own_limits(api: Any, telnyx: FakeProvider) -> None:
    initiate(api, machine_detection="leave_message", voicemail_message="Call us back.", **OPTIONS)

    call = Call.objects.get()
    [request] = telnyx.requests
    assert request.data == {
        "connection_id": TELNYX_CREDENTIALS["connection_id"],
        "to": TO_NUMBER,
        "from": FROM_NUMBER,
        "webhook_url": callback_url("telnyx", "status", call.token),
        "client_state": base64.b64encode(call.token.encode()).decode(),
        "command_id": f"burki-call-{call.pk}",
        "timeout_secs": 45,
        "time_limit_secs": 900,
        "answering_machine_detection": "greeting_end",
        "record": "record-from-answer",
        "record_format": "mp3",
        "record_channels": "dual",
    }


@pytest.mark.parametrize(("mode", "expected"), [("detect", "detect"), ("hangup", "detect"), ("off", None)])
def test_telnyx_detection_per_mode(api: Any, telnyx: FakeProvider, mode: str, expected: str | None) -> None:
    initiate(api, machine_detection=mode)

    [request] = telnyx.requests
    assert request.data.get("answering_machine_detection") == expected
    assert "record" not in request.data


def test_telnyx_leaves_the_message_by_stopping_the_stream_then_speaking() -> None:
    with FakeProvider() as telnyx:
        for action in ("streaming_stop", "speak"):
            telnyx.on("POST", f"/v2/calls/{CALL_CONTROL_ID}/actions/{action}", json={"data": {"result": "ok"}})
        backend = TelnyxBackend(provider="telnyx", options={"API_BASE_URL": f"{telnyx.url}/v2", "TIMEOUT": 2})

        backend.leave_message(
            ProviderAccount(id=1, provider="telnyx", credentials=TELNYX_CREDENTIALS),
            CALL_CONTROL_ID,
            text="Call us back.",
            streaming=True,
        )

    stop, speak = telnyx.requests
    assert (stop.path, stop.data) == (
        f"/v2/calls/{CALL_CONTROL_ID}/actions/streaming_stop",
        {"command_id": f"{CALL_CONTROL_ID}:stream-stop"},
    )
    assert speak.path == f"/v2/calls/{CALL_CONTROL_ID}/actions/speak"
    assert speak.data == {
        "payload": "Call us back.",
        "voice": "female",
        "language": "en-US",
        "command_id": f"{CALL_CONTROL_ID}:voicemail",
    }


# --- Vonage -----------------------------------------------------------------------------------------------------


@pytest.fixture
def vonage(fake_tls_provider: FakeProvider, organization: Any, rsa_keys: RsaKeyPair) -> Iterator[FakeProvider]:
    created = {"uuid": VONAGE_UUID, "status": "started", "direction": "outbound", "conversation_uuid": "CON-f972836a"}
    fake_tls_provider.on("POST", "/v1/calls", status=201, json=created)
    credentials = {"application_id": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab", "private_key": rsa_keys.private_pem}
    provider_number(organization, provider="vonage", credentials=credentials)
    with use_backend("vonage", "telephony.backends.vonage.VonageBackend", API_HOST=fake_tls_provider.host, TIMEOUT=2):
        yield fake_tls_provider


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("detect", {"behavior": "continue", "mode": "detect"}),
        ("hangup", {"behavior": "hangup", "mode": "detect"}),
        ("leave_message", {"behavior": "continue", "mode": "detect_beep", "beep_timeout": 45}),
    ],
)
def test_vonage_gets_advanced_machine_detection_and_the_calls_own_timers(
    api: Any, vonage: FakeProvider, mode: str, expected: dict[str, Any]
) -> None:
    initiate(api, machine_detection=mode, voicemail_message="Call us back.", **OPTIONS)

    [request] = vonage.requests
    assert request.data["advanced_machine_detection"] == expected
    assert (request.data["ringing_timer"], request.data["length_timer"]) == (45, 900)
    # Vonage records from the answer NCCO (see the webhook tests), never on the create request.
    assert "record" not in request.data


def test_vonage_gets_no_machine_detection_when_the_call_asks_for_none(api: Any, vonage: FakeProvider) -> None:
    initiate(api)

    [request] = vonage.requests
    assert "advanced_machine_detection" not in request.data
    assert "machine_detection" not in request.data


def test_vonage_leaves_the_message_by_transferring_the_call_to_a_talk_ncco(
    fake_tls_provider: FakeProvider, rsa_keys: RsaKeyPair
) -> None:
    fake_tls_provider.on("PUT", f"/v1/calls/{VONAGE_UUID}", status=204)
    backend = VonageBackend(provider="vonage", options={"API_HOST": fake_tls_provider.host, "TIMEOUT": 2})
    credentials = {"application_id": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab", "private_key": rsa_keys.private_pem}

    backend.leave_message(
        ProviderAccount(id=1, provider="vonage", credentials=credentials),
        VONAGE_UUID,
        text="Call us back.",
        streaming=True,
    )

    [request] = fake_tls_provider.requests
    assert (request.method, request.path) == ("PUT", f"/v1/calls/{VONAGE_UUID}")
    assert request.data == {
        "action": "transfer",
        "destination": {"type": "ncco", "ncco": [{"text": "Call us back.", "action": "talk"}]},
    }
