"""Call events for customers' webhooks: emitted by every route a call takes, call.ended exactly once per call.

Each test records what an endpoint would be sent (the Event rows, in order); delivery itself is tested in
test_webhooks_delivery.py.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from calls.lifecycle import call_event_record, calls_expire_stale
from calls.models import Call
from calls.services import call_initiate
from telephony.backends.base import DialResult, ProviderEvent, TelephonyError
from telephony.backends.sandbox import SandboxBackend
from tests.factories import CallFactory, OrganizationFactory
from tests.test_webhooks_sandbox import event as sandbox_event
from tests.test_webhooks_sandbox import post_signed
from webhooks.models import Delivery, Event
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db

TO = "+14155550199"


@pytest.fixture(autouse=True)
def endpoint(organization: Any) -> Any:
    return webhook_endpoint_create(organization=organization, url="https://hooks.example.com/burki")[0]


def initiate(api: Any, **body: Any) -> Any:
    return api.post(
        "/calls/initiate", {"from_phone_number": "+14155550100", "to_phone_number": TO, **body}, format="json"
    )


def placed(api: Any) -> Call:
    response = initiate(api)
    assert response.status_code == 200, response.content
    return Call.objects.select_related("telephony_account").get(pk=response.json()["call_id"])


def emitted(call: Call) -> list[tuple[int, str, str]]:
    """(sequence, type, the call's status in the payload) of every event about `call`, in order."""
    return [
        (e.sequence, e.type, e.data["status"])
        for e in Event.objects.filter(subject=f"call:{call.pk}").order_by("sequence")
    ]


def provider_event(call: Call, status: str, key: str | None = None) -> None:
    call_event_record(call=call, event=ProviderEvent(event_type=status, key=key or status, status=status))


def test_a_whole_lifecycle_emits_initiated_ringing_answered_ended_in_order(api: Any, number: Any) -> None:
    call = placed(api)
    for name in ("initiated", "ringing", "answered", "completed"):
        assert sandbox_event(call, name).status_code == 204

    assert emitted(call) == [
        (1, "call.initiated", "queued"),
        (2, "call.ringing", "ringing"),
        (3, "call.answered", "in-progress"),
        (4, "call.ended", "completed"),
    ]


def test_the_payload_is_the_call_as_the_calls_api_shows_it(api: Any, number: Any) -> None:
    call = placed(api)
    for name in ("ringing", "answered"):
        sandbox_event(call, name)
    sandbox_event(call, "completed", duration=42)

    ended = Event.objects.get(subject=f"call:{call.pk}", type="call.ended")

    assert ended.data == api.get(f"/api/v1/calls/{call.pk}").json()
    assert ended.data["duration"] == 42
    assert ended.envelope()["data"] == ended.data


def test_the_payload_carries_the_calls_metadata(organization: Any, number: Any) -> None:
    call = call_initiate(organization=organization, from_number="+14155550100", to_number=TO, metadata={"crm": "42"})

    assert Event.objects.get(subject=f"call:{call.pk}").data["metadata"] == {"crm": "42"}


def test_duplicate_and_late_events_emit_nothing_more(api: Any, number: Any) -> None:
    call = placed(api)
    for name in ("ringing", "answered", "completed", "completed", "answered", "ringing", "busy"):
        sandbox_event(call, name)

    assert [t for _, t, _ in emitted(call)] == ["call.initiated", "call.ringing", "call.answered", "call.ended"]


def test_a_call_reported_only_at_its_end_emits_initiated_and_ended(api: Any, number: Any) -> None:
    call = placed(api)
    sandbox_event(call, "no-answer")

    assert emitted(call) == [(1, "call.initiated", "queued"), (2, "call.ended", "no-answer")]


@override_settings(
    TELEPHONY_BACKENDS={
        "sandbox": {"BACKEND": "telephony.backends.sandbox.SandboxBackend", "OPTIONS": {"REFUSE_PREFIXES": ["+1415"]}}
    }
)
def test_a_failed_dial_ends_the_call_once(api: Any, number: Any) -> None:
    response = initiate(api)
    assert response.status_code == 502
    call = Call.objects.get()

    assert emitted(call) == [(1, "call.initiated", "queued"), (2, "call.ended", "failed")]
    assert Event.objects.get(type="call.ended").data["end_reason"] == "provider-rejected"
    # Nothing left for the expiry to end again, however late it runs.
    assert calls_expire_stale(now=timezone.now() + timedelta(days=1)) == 0
    assert len(emitted(call)) == 2


def test_a_dial_that_timed_out_ends_once_when_expired(api: Any, number: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(self: Any, account: Any, request: Any) -> Any:
        raise TelephonyError("timed out", provider="sandbox", kind=TelephonyError.UNAVAILABLE)

    monkeypatch.setattr(SandboxBackend, "dial", unavailable)
    assert initiate(api).status_code == 504
    call = Call.objects.get()
    assert emitted(call) == [(1, "call.initiated", "queued")]  # `unknown` is no end

    later = timezone.now() + timedelta(hours=5)
    assert calls_expire_stale(now=later) == 1
    assert calls_expire_stale(now=later) == 0

    assert emitted(call) == [(1, "call.initiated", "queued"), (2, "call.ended", "failed")]
    assert Event.objects.get(type="call.ended").data["end_reason"] == "stale"


def test_expiry_ends_each_stale_call_once_from_the_command(organization: Any) -> None:
    stuck = CallFactory(organization=organization, status="queued")
    ringing = CallFactory(organization=organization, status="ringing")
    Call.objects.update(created_at=timezone.now() - timedelta(hours=5))

    call_command("expire_stale_calls", stdout=StringIO())
    call_command("expire_stale_calls", stdout=StringIO())

    assert emitted(stuck) == [(1, "call.ended", "failed")]
    assert emitted(ringing) == [(1, "call.ended", "failed")]


def test_an_api_hang_up_ends_the_call_once_and_the_providers_own_end_adds_nothing(api: Any, number: Any) -> None:
    call = placed(api)
    sandbox_event(call, "answered")

    assert api.post(f"/api/v1/calls/{call.call_sid}/terminate").status_code == 200
    sandbox_event(call, "completed")

    assert emitted(call) == [
        (1, "call.initiated", "queued"),
        (2, "call.answered", "in-progress"),
        (3, "call.ended", "completed"),
    ]
    assert Event.objects.get(type="call.ended").data["end_reason"] == "terminated"


def test_an_end_reported_before_the_dial_returns_is_not_undone_by_it(
    api: Any, number: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The provider's webhook can beat its own API response: the call must not go back to `queued` (and end twice).
    def fast_failure(self: Any, account: Any, request: Any) -> DialResult:
        call = Call.objects.get(pk=request.call_id)
        call_event_record(
            call=call, event=ProviderEvent(event_type="failed", key="f", status="failed", call_sid="SBfast")
        )
        return DialResult(call_sid="SBfast", status="queued")

    monkeypatch.setattr(SandboxBackend, "dial", fast_failure)
    assert initiate(api).status_code == 200
    call = Call.objects.get()

    assert (call.status, call.call_sid) == ("failed", "SBfast")
    assert calls_expire_stale(now=timezone.now() + timedelta(days=1)) == 0
    assert [t for _, t, _ in emitted(call)] == ["call.initiated", "call.ended"]


def test_an_organization_without_endpoints_gets_no_events(api: Any, number: Any, endpoint: Any) -> None:
    endpoint.delete()
    call = placed(api)
    sandbox_event(call, "completed")

    assert Event.objects.count() == 0


def test_an_endpoint_gets_deliveries_only_for_the_types_it_chose(
    api: Any, number: Any, organization: Any, endpoint: Any
) -> None:
    ended_only = webhook_endpoint_create(
        organization=organization, url="https://other.example.com/", event_types=["call.ended"]
    )[0]
    call = placed(api)
    for name in ("ringing", "answered", "completed"):
        sandbox_event(call, name)

    assert Delivery.objects.filter(endpoint=endpoint).count() == 4
    assert list(Delivery.objects.filter(endpoint=ended_only).values_list("event__type", flat=True)) == ["call.ended"]


def test_events_of_one_organization_never_reach_another(api: Any, number: Any) -> None:
    other = OrganizationFactory()
    theirs = webhook_endpoint_create(organization=other, url="https://theirs.example.com/")[0]
    placed(api)

    assert not Delivery.objects.filter(endpoint=theirs).exists()
    assert set(Event.objects.values_list("organization_id", flat=True)) == {number.organization_id}


def test_every_call_of_a_busy_organization_has_its_own_sequence(api: Any, number: Any) -> None:
    first, second = placed(api), placed(api)
    provider_event(first, "ringing")
    provider_event(second, "completed")
    provider_event(first, "completed")

    assert [s for s, _, _ in emitted(first)] == [1, 2, 3]
    assert [s for s, _, _ in emitted(second)] == [1, 2]


def test_a_call_canceled_before_the_provider_named_it_ends_once_and_its_late_events_change_nothing(
    api: Any, number: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def timing_out(self: Any, account: Any, request: Any) -> DialResult:
        raise TelephonyError("timed out", provider="sandbox", kind=TelephonyError.UNAVAILABLE)

    with monkeypatch.context() as patched:
        patched.setattr(SandboxBackend, "dial", timing_out)
        assert initiate(api).status_code == 504
    call = Call.objects.select_related("telephony_account").get()
    assert (call.status, call.call_sid) == ("unknown", None)

    assert api.post(f"/api/v1/calls/{call.pk}/cancel").status_code == 200
    # The provider did place it after all: its answer is hung up, and its events are kept without moving the call.
    call.call_sid = "SBlate"
    answer = post_signed(call, "answer", {"call_sid": "SBlate"})
    for name in ("ringing", "answered", "completed"):
        assert sandbox_event(call, name).status_code == 204

    assert answer.json() == {"actions": [{"hangup": {}}]}
    call.refresh_from_db()
    assert (call.status, call.end_reason) == ("canceled", "canceled")
    assert call.events.count() == 4
    assert emitted(call) == [(1, "call.initiated", "queued"), (2, "call.ended", "canceled")]
    assert api.post(f"/api/v1/calls/{call.pk}/cancel").status_code == 409
