"""What the provider webhook tests share: a placed call of a provider's account, and what they assert about it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.test import Client

from calls.models import Call, CallEvent
from calls.streams import stream_token_matches
from tests.factories import CallFactory, ConversationFlowFactory, TelephonyAccountFactory

STREAM_URL = "wss://voice.example.com/stream"
# Everything an XML or JSON builder must escape, and a newline.
WELCOME = "Hi Ann <b> & \"Bob\" 'Bo' ]]>\nbye"
AGENDA = 'Discuss <renewal> & "terms"'
SIGNATURE_REFUSED = {"detail": "Invalid webhook signature."}


def provider_call(
    organization: Any, *, provider: str, credentials: Mapping[str, str], flow: bool = False, **fields: Any
) -> Call:
    """A call placed through an account of `provider` in `organization`, with texts that need escaping."""
    account = TelephonyAccountFactory(organization=organization, provider=provider, credentials=dict(credentials))
    values: dict[str, Any] = {"welcome_message": WELCOME, "agenda": AGENDA, **fields}
    if flow:
        values["flow"] = ConversationFlowFactory(organization=organization)
    call: Call = CallFactory(organization=organization, provider=provider, telephony_account=account, **values)
    return call


def webhook_path(call: Call, kind: str) -> str:
    return f"/telephony/{call.provider}/{kind}/{call.token}"


def webhook_url(call: Call, kind: str) -> str:
    """The absolute URL Django rebuilds for a test client's request: what URL-covering signatures sign."""
    return f"http://testserver{webhook_path(call, kind)}"


def post_json(call: Call, kind: str, body: bytes, **headers: str) -> Any:
    return Client().post(webhook_path(call, kind), data=body, content_type="application/json", **headers)


def assert_refused_and_unchanged(response: Any, call: Call) -> None:
    """403 with the one refusal body, no event kept, and the call as `call` (loaded before the request) has it."""
    fields = ("status", "call_sid", "answered_at", "ended_at", "end_reason", "duration", "updated_at")
    assert response.status_code == 403, response.content
    assert response.json() == SIGNATURE_REFUSED
    assert not CallEvent.objects.filter(call=call).exists()
    assert Call.objects.values(*fields).get(pk=call.pk) == {field: getattr(call, field) for field in fields}


def assert_stream_parameters(parameters: Mapping[str, str], call: Call) -> None:
    """Exactly what the voice engine needs for this call, the texts unaltered and a stream token that is its own."""
    expected = {"call_id", "assistant_id", "welcome_message", "agenda", "stream_token"}
    assert set(parameters) == (expected | {"flow_id"} if call.flow_id else expected)
    assert parameters["call_id"] == str(call.pk)
    assert parameters["assistant_id"] == str(call.assistant_id)
    assert parameters["welcome_message"] == call.welcome_message == WELCOME
    assert parameters["agenda"] == call.agenda == AGENDA
    if call.flow_id:
        assert parameters["flow_id"] == str(call.flow_id)
    assert stream_token_matches(parameters["stream_token"], call)


def context(call: Call, stream_token: str) -> Any:
    """The voice engine's request for the call's context, with `stream_token`."""
    return Client().get(f"/api/v1/calls/{call.pk}/context", HTTP_AUTHORIZATION=f"Bearer {stream_token}")


def assert_context_refused_because_over(response: Any, call: Call) -> None:
    assert response.status_code == 409, response.content
    assert response.json() == {"detail": f"Call {call.pk} is over (status {Call.objects.get(pk=call.pk).status})."}


def outcome(call: Call) -> dict[str, Any]:
    """What the lifecycle has recorded of the call, as the database holds it now."""
    return dict(Call.objects.values("status", "answered_at", "ended_at", "end_reason", "duration").get(pk=call.pk))


def recorded(call: Call) -> list[tuple[str, str]]:
    """(event_type, normalized status) of every event kept for the call, in order."""
    return list(CallEvent.objects.filter(call=call).values_list("event_type", "status"))
