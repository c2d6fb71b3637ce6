from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import override_settings

from calls.models import Call
from telephony.backends import sandbox
from telephony.backends.base import ProviderAccount, TelephonyBackend, TelephonyError
from tests.factories import AssistantFactory, CallFactory, OrganizationFactory, TelephonyAccountFactory

pytestmark = pytest.mark.django_db


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def at(call: Call, when: str) -> Call:
    Call.objects.filter(pk=call.pk).update(created_at=datetime.fromisoformat(when).replace(tzinfo=UTC))
    return call


# --- filters --------------------------------------------------------------------------------------------------


def test_calls_filter_by_status_assistant_customer_phone_and_sid(api: Any, organization: Any) -> None:
    assistant = AssistantFactory(organization=organization)
    a = CallFactory(organization=organization, status="completed", to_number="+14155550111", assistant=assistant)
    b = CallFactory(organization=organization, status="failed", to_number="+14155550122")
    CallFactory(organization=OrganizationFactory(), status="completed", to_number="+14155550111")

    assert ids(api.get("/api/v1/calls?status=completed")) == [a.pk]
    assert ids(api.get(f"/api/v1/calls?assistant_id={assistant.pk}")) == [a.pk]
    assert ids(api.get("/api/v1/calls", {"customer_phone": "+1 415 555 0122"})) == [b.pk]
    assert ids(api.get(f"/api/v1/calls?call_sid={b.call_sid}")) == [b.pk]
    assert api.get("/api/v1/calls?status=completed").json()["total"] == 1


def test_calls_filter_by_dates_inclusive_of_whole_days(api: Any, organization: Any) -> None:
    early = at(CallFactory(organization=organization), "2026-01-01T08:00:00")
    middle = at(CallFactory(organization=organization), "2026-01-02T23:59:00")
    late = at(CallFactory(organization=organization), "2026-01-03T00:00:01")

    assert ids(api.get("/api/v1/calls?date_from=2026-01-02")) == [late.pk, middle.pk]
    assert ids(api.get("/api/v1/calls?date_to=2026-01-02")) == [middle.pk, early.pk]
    assert ids(api.get("/api/v1/calls?date_from=2026-01-02&date_to=2026-01-02")) == [middle.pk]
    assert ids(api.get("/api/v1/calls", {"date_from": "2026-01-01T09:00:00Z", "date_to": "2026-01-03T00:00:00Z"})) == [
        middle.pk
    ]
    assert ids(api.get("/api/v1/calls?date_from=2027-01-01")) == []


def test_calls_filter_by_duration_as_the_burki_sdk_sends_it(api: Any, organization: Any) -> None:
    short = CallFactory(organization=organization, status="completed", duration=5)
    long = CallFactory(organization=organization, status="completed", duration=300)
    CallFactory(organization=organization, status="queued", duration=None)

    assert ids(api.get("/api/v1/calls?min_duration=60")) == [long.pk]
    assert ids(api.get("/api/v1/calls?max_duration=60")) == [short.pk]
    assert api.get("/api/v1/calls?min_duration=-1").status_code == 400


@pytest.mark.parametrize(
    "query",
    [
        "status=dialling",
        "assistant_id=abc",
        "assistant_id=0",
        "customer_phone=12345",
        "date_from=yesterday",
        "date_from=2026-13-01",
        "date_from=2026-01-02&date_to=2026-01-01",
    ],
)
def test_bad_filters_are_400_naming_the_field(api: Any, query: str) -> None:
    response = api.get(f"/api/v1/calls?{query}")

    assert response.status_code == 400
    assert response.json()["detail"] == "Invalid request."
    assert set(response.json()["errors"]) <= {"status", "assistant_id", "customer_phone", "date_from", "date_to"}


# --- the sid route and the id route ---------------------------------------------------------------------------


def test_a_call_is_found_by_its_provider_id_and_by_its_own_id(api: Any, organization: Any) -> None:
    call = CallFactory(organization=organization, call_sid="CA123")
    numeric_sid = CallFactory(organization=organization, call_sid=str(call.pk + 1000))

    by_sid = api.get("/api/v1/calls/sid/CA123")
    by_id = api.get(f"/api/v1/calls/{call.pk}")
    literal = api.get(f"/api/v1/calls/sid/{numeric_sid.call_sid}")

    assert by_sid.json()["id"] == by_id.json()["id"] == call.pk
    assert literal.json()["id"] == numeric_sid.pk
    assert api.get("/api/v1/calls/sid/CA-unknown").status_code == 404


def test_another_organizations_sid_is_404(api: Any) -> None:
    CallFactory(organization=OrganizationFactory(), call_sid="CAforeign")

    response = api.get("/api/v1/calls/sid/CAforeign")

    assert response.status_code == 404
    assert response.json() == {"detail": "Call not found."}


# --- terminate ------------------------------------------------------------------------------------------------


@pytest.fixture
def account(organization: Any) -> Any:
    return TelephonyAccountFactory(organization=organization)


@pytest.mark.parametrize(
    ("status", "final"),
    [
        ("queued", "canceled"),
        ("initiated", "canceled"),
        ("ringing", "canceled"),
        ("in-progress", "completed"),
        ("unknown", "canceled"),
    ],
)
def test_terminate_hangs_up_a_live_call_and_records_its_end(
    api: Any, organization: Any, account: Any, status: str, final: str
) -> None:
    call = CallFactory(organization=organization, telephony_account=account, status=status, call_sid="SBlive")

    response = api.post("/api/v1/calls/SBlive/terminate")

    assert response.status_code == 200
    assert response.json() == {
        "success": True, "message": "Call terminated", "call_id": call.pk, "call_sid": "SBlive", "status": final
    }  # fmt: skip
    assert sandbox.hangups == ["SBlive"]
    call.refresh_from_db()
    assert (call.status, call.end_reason) == (final, "terminated")
    assert call.ended_at is not None
    assert list(call.events.values_list("event_type", flat=True)) == ["terminated-by-api"]


@pytest.mark.parametrize("status", ["completed", "busy", "no-answer", "failed", "canceled"])
def test_terminating_a_call_that_is_over_is_400_and_hangs_up_nothing(
    api: Any, organization: Any, account: Any, status: str
) -> None:
    CallFactory(organization=organization, telephony_account=account, status=status, call_sid="SBdone")

    response = api.post("/api/v1/calls/SBdone/terminate")

    assert response.status_code == 400
    assert "already over" in response.json()["detail"]
    assert sandbox.hangups == []


def test_terminating_another_organizations_call_is_404(api: Any) -> None:
    CallFactory(organization=OrganizationFactory(), status="in-progress", call_sid="SBtheirs")

    assert api.post("/api/v1/calls/SBtheirs/terminate").status_code == 404
    assert api.post("/api/v1/calls/SBnobody/terminate").status_code == 404
    assert sandbox.hangups == []


class RefusingHangup(TelephonyBackend):
    def hangup(self, account: ProviderAccount, call_sid: str) -> None:
        raise TelephonyError("Call is not in-progress. Cannot redirect.", provider="sandbox", code="21220")


@override_settings(TELEPHONY_BACKENDS={"sandbox": {"BACKEND": f"{__name__}.RefusingHangup"}})
def test_a_provider_refusing_to_hang_up_is_a_502_with_its_reason(api: Any, organization: Any, account: Any) -> None:
    call = CallFactory(organization=organization, telephony_account=account, status="ringing", call_sid="SBx")

    response = api.post("/api/v1/calls/SBx/terminate")

    assert response.status_code == 502
    assert "21220" in response.json()["detail"]
    assert "Cannot redirect" in response.json()["detail"]
    call.refresh_from_db()
    assert call.status == "ringing"


# --- cancel ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["queued", "unknown"])
def test_cancel_records_a_call_the_provider_never_named_as_canceled_at_once(
    api: Any, organization: Any, account: Any, status: str
) -> None:
    # `unknown`: the dial timed out, so there is no provider id to hang up by (terminate cannot even find the call).
    call = CallFactory(organization=organization, telephony_account=account, status=status, call_sid=None)

    response = api.post(f"/api/v1/calls/{call.pk}/cancel")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "success": True, "message": "Call canceled", "call_id": call.pk, "call_sid": None, "status": "canceled"
    }  # fmt: skip
    assert sandbox.hangups == []
    call.refresh_from_db()
    assert (call.status, call.end_reason) == ("canceled", "canceled")
    assert call.ended_at is not None
    assert list(call.events.values_list("event_type", "status")) == [("canceled-by-api", "canceled")]


@pytest.mark.parametrize(
    ("status", "final"),
    [("initiated", "canceled"), ("ringing", "canceled"), ("in-progress", "completed"), ("unknown", "canceled")],
)
def test_cancel_hangs_up_a_call_the_provider_knows_through_the_provider(
    api: Any, organization: Any, account: Any, status: str, final: str
) -> None:
    call = CallFactory(organization=organization, telephony_account=account, status=status, call_sid="SBlive")

    response = api.post(f"/api/v1/calls/{call.pk}/cancel")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "success": True, "message": "Call canceled", "call_id": call.pk, "call_sid": "SBlive", "status": final
    }  # fmt: skip
    assert sandbox.hangups == ["SBlive"]
    call.refresh_from_db()
    assert (call.status, call.end_reason) == (final, "canceled")
    assert list(call.events.values_list("event_type", flat=True)) == ["canceled-by-api"]


@pytest.mark.parametrize("status", ["completed", "busy", "no-answer", "failed", "canceled"])
def test_cancelling_a_call_that_is_over_is_409_and_changes_nothing(
    api: Any, organization: Any, account: Any, status: str
) -> None:
    call = CallFactory(organization=organization, telephony_account=account, status=status, call_sid="SBdone")

    response = api.post(f"/api/v1/calls/{call.pk}/cancel")

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Call {call.pk} is already over (status {status}): there is nothing to cancel.",
        "call_id": call.pk,
        "status": status,
    }
    assert sandbox.hangups == []
    call.refresh_from_db()
    assert call.status == status
    assert not call.events.exists()


def test_terminate_still_answers_400_for_a_call_that_is_over_where_cancel_answers_409(
    api: Any, organization: Any, account: Any
) -> None:
    # Burki's published API (and its SDK, which reads 400 as a validation error) for terminate; 409 is cancel's own.
    call = CallFactory(organization=organization, telephony_account=account, status="completed", call_sid="SBover")

    assert api.post("/api/v1/calls/SBover/terminate").status_code == 400
    assert api.post(f"/api/v1/calls/{call.pk}/cancel").status_code == 409


def test_cancelling_another_organizations_call_or_an_unknown_id_is_404(api: Any) -> None:
    theirs = CallFactory(organization=OrganizationFactory(), status="queued", call_sid=None)

    for call_id in (theirs.pk, theirs.pk + 1000):
        response = api.post(f"/api/v1/calls/{call_id}/cancel")
        assert response.status_code == 404
        assert response.json() == {"detail": "Call not found."}
    theirs.refresh_from_db()
    assert theirs.status == "queued"


@override_settings(TELEPHONY_BACKENDS={"sandbox": {"BACKEND": f"{__name__}.RefusingHangup"}})
def test_a_provider_refusing_to_cancel_is_a_502_and_the_call_stays_live(
    api: Any, organization: Any, account: Any
) -> None:
    call = CallFactory(organization=organization, telephony_account=account, status="ringing", call_sid="SBx")

    response = api.post(f"/api/v1/calls/{call.pk}/cancel")

    assert response.status_code == 502
    assert "21220" in response.json()["detail"]
    call.refresh_from_db()
    assert call.status == "ringing"


class RateLimitedHangup(TelephonyBackend):
    def hangup(self, account: ProviderAccount, call_sid: str) -> None:
        raise TelephonyError("Too Many Requests", provider="sandbox", kind=TelephonyError.RATE_LIMITED, retry_after=3)


@override_settings(TELEPHONY_BACKENDS={"sandbox": {"BACKEND": f"{__name__}.RateLimitedHangup"}})
@pytest.mark.parametrize("route", ["terminate", "cancel"])
def test_a_provider_rate_limiting_a_hang_up_is_a_429_naming_the_provider_limit(
    api: Any, organization: Any, account: Any, route: str
) -> None:
    call = CallFactory(organization=organization, telephony_account=account, status="ringing", call_sid="SBbusy")
    path = "/api/v1/calls/SBbusy/terminate" if route == "terminate" else f"/api/v1/calls/{call.pk}/cancel"

    response = api.post(path)

    assert response.status_code == 429
    assert response["Retry-After"] == "3"
    assert response.json()["limit"] == "provider"
    assert "rate limiting" in response.json()["detail"]
    call.refresh_from_db()
    assert call.status == "ringing"
