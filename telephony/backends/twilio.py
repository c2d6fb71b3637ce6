"""Twilio Programmable Voice through the official SDK (twilio-python)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from telephony.backends.base import (
    MAX_OWNED_NUMBERS,
    AnswerInstructions,
    ClientCache,
    DialRequest,
    DialResult,
    OwnedNumber,
    ProviderAccount,
    ProviderEvent,
    Recording,
    TelephonyBackend,
    TelephonyError,
    WebhookKind,
    WebhookRequest,
    WebhookResponse,
    provider_refusal,
    provider_unexpected,
    provider_unreachable,
    required_credentials,
)
from telephony.detection import AnsweredBy, MachineDetection

if TYPE_CHECKING:
    from twilio.rest import Client

CREDENTIAL_KEYS = ("account_sid", "auth_token")
STATUS_CALLBACK_EVENTS = ["initiated", "ringing", "answered", "completed"]
DEFAULT_TIMEOUT = 5.0
SIGNATURE_HEADER = "x-twilio-signature"
# Twilio's CallStatus values are our normalized statuses, one for one.
STATUSES = frozenset(
    {"queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled"}
)
ENDED = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# Our machine_detection mode -> Twilio's MachineDetection: DetectMessageEnd waits for the greeting's end (a beep,
# silence, or anything else) before it reports machine_end_*, the moment to leave a message.
MACHINE_DETECTION: dict[str, str] = {
    MachineDetection.DETECT: "Enable",
    MachineDetection.HANGUP: "Enable",
    MachineDetection.LEAVE_MESSAGE: "DetectMessageEnd",
}
# AnsweredBy -> normalized; the machine_end_* values also say that the greeting is over.
ANSWERED_BY = {
    "human": AnsweredBy.HUMAN,
    "machine_start": AnsweredBy.MACHINE,
    "machine_end_beep": AnsweredBy.MACHINE,
    "machine_end_silence": AnsweredBy.MACHINE,
    "machine_end_other": AnsweredBy.MACHINE,
    "fax": AnsweredBy.FAX,
    "unknown": AnsweredBy.UNKNOWN,
}
# Characters XML 1.0 cannot carry at all, even escaped: in a welcome message they would make Twilio reject the
# whole TwiML document (and the call would end with "an application error has occurred").
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _environment_read_once(http_client: Any, url: str) -> None:
    """Read the environment's proxy and CA bundle settings (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE) for the API's
    host once, when the client is built, rather than on every request: requests walks the whole of os.environ for
    them each time (over a millisecond of CPU per call placed). The environment does not change while we run."""
    session = http_client.session
    if session is None:
        return
    found = session.merge_environment_settings(url, {}, None, None, None)
    session.trust_env = False
    http_client.proxy = dict(found["proxies"])
    session.verify = found["verify"]


class TwilioBackend(TelephonyBackend):
    """Options: API_BASE_URL (empty for https://api.twilio.com), TIMEOUT (seconds per request, default 5)."""

    provider = "twilio"

    def __init__(self, *, provider: str, options: Mapping[str, Any]) -> None:
        super().__init__(provider=provider, options=options)
        self.timeout = float(self.options.get("TIMEOUT") or DEFAULT_TIMEOUT)
        self.base_url = str(self.options.get("API_BASE_URL") or "").rstrip("/")
        self._clients: ClientCache[Client] = ClientCache()
        # TwilioRestException carries no response headers; a response hook keeps the last ones per thread so a
        # 429 can still honour Retry-After.
        self._last_response = threading.local()

    def dial(self, account: ProviderAccount, request: DialRequest) -> DialResult:
        client = self._client(account)
        params: dict[str, Any] = {
            "to": request.to_number,
            "from_": request.from_number,
            "url": request.answer_url,
            "method": "POST",
            "status_callback": request.status_url,
            "status_callback_event": STATUS_CALLBACK_EVENTS,
            "status_callback_method": "POST",
            "timeout": request.ring_timeout,
        }
        if request.time_limit is not None:
            params["time_limit"] = request.time_limit
        if request.machine_detection in MACHINE_DETECTION:
            params["machine_detection"] = MACHINE_DETECTION[request.machine_detection]
            # Asynchronous: the call is connected (and streams) at once, and the outcome comes to the status URL
            # later, instead of the callee hearing seconds of silence while Twilio listens.
            params["async_amd"] = "true"
            params["async_amd_status_callback"] = request.status_url
            params["async_amd_status_callback_method"] = "POST"
        if request.record:
            params["record"] = True
            params["recording_channels"] = "dual"
            params["recording_status_callback"] = request.status_url
            params["recording_status_callback_event"] = ["completed"]
            params["recording_status_callback_method"] = "POST"
        try:
            call = client.calls.create(**params)
        except Exception as exc:
            raise self._error(exc, "dial") from exc
        if not call.sid:
            # Twilio said yes without an id: the call may be ringing, and only its status callbacks can tell.
            raise TelephonyError(
                "Twilio accepted the call but returned no call sid.",
                provider=self.alias,
                kind=TelephonyError.UNAVAILABLE,
            )
        return DialResult(call_sid=call.sid, status="queued")

    def hangup(self, account: ProviderAccount, call_sid: str) -> None:
        client = self._client(account)
        try:
            client.calls(call_sid).update(status="completed")
        except Exception as exc:
            raise self._error(exc, "hangup") from exc

    def leave_message(self, account: ProviderAccount, call_sid: str, *, text: str, streaming: bool) -> None:
        from twilio.twiml.voice_response import VoiceResponse

        # New TwiML for the live call: it ends the <Connect><Stream> (if any), says the message, then hangs up.
        response = VoiceResponse()
        response.say(_xml_safe(text))
        response.hangup()
        client = self._client(account)
        try:
            client.calls(call_sid).update(twiml=response.to_xml())
        except Exception as exc:
            raise self._error(exc, "voicemail message") from exc

    def owned_numbers(self, account: ProviderAccount, *, number: str | None = None) -> list[OwnedNumber]:
        client = self._client(account)
        filters = {"phone_number": number} if number else {}
        try:
            # The SDK follows next_page_uri itself, up to `limit` records.
            records = client.incoming_phone_numbers.list(**filters, limit=MAX_OWNED_NUMBERS)
        except Exception as exc:
            raise self._error(exc, "phone number listing") from exc
        owned = [
            OwnedNumber(
                number=str(record.phone_number), provider_id=record.sid or "", friendly_name=record.friendly_name or ""
            )
            for record in records
            if record.phone_number
        ]
        # Twilio's PhoneNumber filter also matches partial numbers ("+1415" finds every +1 415 number).
        return [item for item in owned if item.number == number] if number else owned

    # --- webhooks ---

    def verify_webhook(self, account: ProviderAccount, request: WebhookRequest) -> bool:
        signature = request.headers.get(SIGNATURE_HEADER, "")
        auth_token = str(account.credentials.get("auth_token") or "").strip()
        if not signature or not auth_token:
            return False
        from twilio.request_validator import RequestValidator

        # Twilio signs the URL it called plus the POST fields; a GET's query is part of that URL already.
        params = dict(request.params) if request.method == "POST" else {}
        # No algorithm argument: the signature is the account's (HMAC-SHA1 with the auth token). A request signed
        # with a webhook SharedKey (X-Twilio-Webhooks-Signature-Settings) uses a secret we do not hold, and fails.
        return bool(RequestValidator(auth_token).validate(request.url, params, signature))

    def signed_for(self, request: WebhookRequest, *, kind: WebhookKind, call_token: str, call_sid: str | None) -> bool:
        # The signature covers the URL (the call's token, answer or status) and every field, so a request verifies
        # only where Twilio sent it. An answer must still name the call we placed: the stream token it gets is
        # this call's, and nothing else should ever be answered with it.
        if kind != "answer" or call_sid is None:
            return True
        return request.params.get("CallSid") == call_sid

    def parse_event(self, request: WebhookRequest) -> ProviderEvent | None:
        """A call status callback, or (to the same URL, which Twilio's signature covers) the asynchronous AMD
        callback or a recording status callback, which carry no CallStatus."""
        params = dict(request.params)
        if "AnsweredBy" in params and "CallStatus" not in params:
            return self._detection_event(params)
        if "RecordingSid" in params and "CallStatus" not in params:
            return self._recording_event(params)
        call_status = params.get("CallStatus", "")
        if not call_status:
            raise ValueError("expected a Twilio status callback (no CallStatus)")
        status = call_status if call_status in STATUSES else None
        sequence = params.get("SequenceNumber", "")
        return ProviderEvent(
            event_type=call_status,
            key=f"{call_status}:{sequence}" if sequence else call_status,
            status=status,
            call_sid=params.get("CallSid") or None,
            end_reason=call_status if status in ENDED else "",
            duration=_whole_seconds(params.get("CallDuration")),
            payload=params,
        )

    def _detection_event(self, params: dict[str, str]) -> ProviderEvent:
        # AccountSid, CallSid, AnsweredBy, MachineDetectionDuration (milliseconds).
        answered_by = params["AnsweredBy"]
        return ProviderEvent(
            event_type="amd",
            key=f"amd:{answered_by}",  # Twilio reports once per call; a retry of that request is a duplicate
            status=None,
            call_sid=params.get("CallSid") or None,
            # A value Twilio adds later is not taken for a person.
            answered_by=ANSWERED_BY.get(answered_by, AnsweredBy.UNKNOWN),
            greeting_ended=answered_by.startswith("machine_end_"),
            payload=params,
        )

    def _recording_event(self, params: dict[str, str]) -> ProviderEvent:
        # AccountSid, CallSid, RecordingSid, RecordingUrl, RecordingStatus, RecordingDuration, RecordingChannels,
        # RecordingStartTime, RecordingSource, ErrorCode. Only "completed" was asked for; "absent" and "failed" are
        # kept without a recording.
        recording_status = params.get("RecordingStatus", "")
        url = params.get("RecordingUrl", "")
        ready = recording_status == "completed" and bool(url)
        return ProviderEvent(
            event_type=f"recording-{recording_status or 'unknown'}",
            key=f"recording:{params['RecordingSid']}:{recording_status}",
            status=None,
            call_sid=params.get("CallSid") or None,
            recording=Recording(url=url, duration=_whole_seconds(params.get("RecordingDuration"))) if ready else None,
            payload=params,
        )

    def answer(self, instructions: AnswerInstructions) -> WebhookResponse:
        from twilio.twiml.voice_response import VoiceResponse

        response = VoiceResponse()
        if instructions.stream_url:
            stream = response.connect().stream(url=instructions.stream_url)
            for name, value in instructions.parameters.items():
                stream.parameter(name=name, value=_xml_safe(value))
        else:
            response.say(_xml_safe(instructions.say))
            response.hangup()
        return WebhookResponse(content=response.to_xml().encode(), content_type="application/xml")

    def answer_hangup(self) -> WebhookResponse:
        from twilio.twiml.voice_response import VoiceResponse

        response = VoiceResponse()
        response.hangup()
        return WebhookResponse(content=response.to_xml().encode(), content_type="application/xml")

    def acknowledge(self) -> WebhookResponse:
        # Twilio ignores what a status callback answers; an empty TwiML document keeps its debugger quiet.
        from twilio.twiml.voice_response import VoiceResponse

        return WebhookResponse(content=VoiceResponse().to_xml().encode(), content_type="application/xml")

    def _client(self, account: ProviderAccount) -> Client:
        credentials = required_credentials(self.alias, account, CREDENTIAL_KEYS, label="Twilio")
        return self._clients.get(account.id, credentials, lambda: self._build_client(credentials))

    def _build_client(self, credentials: Mapping[str, str]) -> Client:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        try:
            http_client = TwilioHttpClient(
                timeout=self.timeout,
                # Zero retries: a create request re-sent after a dropped connection is a second call to a person.
                max_retries=0,
                request_hooks={"response": [self._remember_response]},
            )
            client = Client(
                credentials["account_sid"],
                credentials["auth_token"],
                http_client=http_client,
                # An empty mapping is falsy and the SDK would fall back to os.environ, where TWILIO_EDGE or
                # TWILIO_REGION would rewrite every host (the API_BASE_URL override included).
                environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""},
            )
            if self.base_url:
                client.api.base_url = self.base_url
            _environment_read_once(http_client, self.base_url or "https://api.twilio.com")
        except Exception as exc:
            # Nothing was sent: a client that cannot be built is a configuration problem, not an outage.
            raise TelephonyError(
                f"Could not set up the Twilio client ({type(exc).__name__}).",
                provider=self.alias,
                kind=TelephonyError.REJECTED,
            ) from exc
        return client

    def _remember_response(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self._last_response.headers = response.headers
        return response

    def _error(self, exc: Exception, action: str) -> TelephonyError:
        import requests
        from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException

        headers: Mapping[str, str] = getattr(self._last_response, "headers", None) or {}
        self._last_response.headers = None
        if isinstance(exc, TwilioRestException | TwilioServiceException):
            status = int(exc.status)
            code = str(exc.code) if exc.code is not None else None
            if isinstance(exc, TwilioServiceException):
                message = f"{exc.title}: {exc.detail}" if exc.detail else str(exc.title)
            else:
                message = str(exc.msg)
            return provider_refusal(
                self.alias, message=message, code=code, http_status=status, retry_after=headers.get("Retry-After")
            )
        page = exc.args[1] if type(exc) is TwilioException and len(exc.args) == 2 else None
        if page is not None and isinstance(getattr(page, "status_code", None), int):
            # A list page Twilio answered with an error: the SDK raises a bare TwilioException("Unable to fetch page",
            # response) rather than a TwilioRestException.
            code, message = _page_error(page.text, page.status_code)
            return provider_refusal(
                self.alias,
                message=message,
                code=code,
                http_status=page.status_code,
                retry_after=(page.headers or {}).get("Retry-After") or headers.get("Retry-After"),
            )
        if isinstance(exc, requests.Timeout):
            return provider_unreachable(self.alias, label="Twilio", action=action, timeout=self.timeout)
        if isinstance(exc, requests.ConnectionError):
            return provider_unreachable(self.alias, label="Twilio", action=action)
        return provider_unexpected(self.alias, label="Twilio", action=action, exc=exc)


def _page_error(text: str, status: int) -> tuple[str | None, str]:
    """Twilio's error body ({"code": 20003, "message": "Authenticate", ...}) as a code and a message."""
    try:
        body = json.loads(text)
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        code = body.get("code")
        return (str(code) if code is not None else None), str(body["message"])
    return None, f"HTTP {status}"


def _whole_seconds(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() else None


def _xml_safe(text: str) -> str:
    """The text without the characters XML cannot carry; the TwiML builder escapes everything else."""
    return _NOT_XML.sub("", text)
