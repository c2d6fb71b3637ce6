"""POST /calls/initiate, rule by rule (shared/seed/outbound-call-endpoint.txt and the compatibility contract)."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from calls.models import Call
from telephony.backends import sandbox
from telephony.backends.base import DialRequest, DialResult, ProviderAccount, TelephonyBackend, TelephonyError
from tests.factories import (
    AssistantFactory,
    ConversationFlowFactory,
    OrganizationFactory,
    PhoneNumberFactory,
    TelephonyAccountFactory,
)

pytestmark = pytest.mark.django_db

TO = "+14155550199"


def initiate(api: Any, path: str = "/calls/initiate", **body: Any) -> Any:
    body.setdefault("from_phone_number", "+14155550100")
    body.setdefault("to_phone_number", TO)
    return api.post(path, body, format="json")


def assert_nothing_dialled() -> None:
    assert sandbox.outbox == []


# --- the happy path and the response -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/calls/initiate", "/api/v1/calls/initiate"])
def test_initiate_places_a_call_and_answers_with_burkis_response(api: Any, number: Any, path: str) -> None:
    response = initiate(api, path)

    assert response.status_code == 200
    call = Call.objects.get()
    assert response.json() == {
        "success": True,
        "message": "Call initiated successfully",
        "call_sid": call.call_sid,
        "call_id": call.pk,
        "status": "queued",
        "from_number": "+14155550100",
        "to_number": TO,
    }
    [sent] = sandbox.outbox
    assert sent.call_sid == call.call_sid
    assert call.call_sid.startswith("SB")
    assert len(call.call_sid) == 34
    assert sent.request.to_number == TO
    assert sent.request.from_number == "+14155550100"
    assert call.status == "queued"
    assert call.assistant == number.assistant
    assert call.phone_number == number
    assert call.provider == "sandbox"
    assert call.direction == "outbound"
    assert call.started_at is not None


def test_initiate_uses_the_assistants_greeting_when_no_welcome_message_is_given(api: Any, number: Any) -> None:
    number.assistant.welcome_message = "Hello {{ name | default('friend') }}!"
    number.assistant.save()

    initiate(api, variables={"name": "Ann"})

    assert Call.objects.get().welcome_message == "Hello Ann!"


def test_initiate_gives_the_provider_callback_urls_that_carry_only_the_opaque_token(api: Any, number: Any) -> None:
    number.assistant.max_call_length = 600
    number.assistant.save()

    initiate(api, welcome_message="Hi {{name}}", variables={"name": "Zed"})

    call = Call.objects.get()
    request = sandbox.outbox[0].request
    assert request.answer_url == f"http://127.0.0.1:8000/telephony/sandbox/answer/{call.token}"
    assert request.status_url == f"http://127.0.0.1:8000/telephony/sandbox/status/{call.token}"
    for url in (request.answer_url, request.status_url):
        assert "4155550" not in url
        assert "Zed" not in url
        assert f"/{call.pk}/" not in url
    assert request.time_limit == 600
    assert len(call.token) >= 32
    assert str(call.pk) != call.token


def test_initiate_accepts_numbers_with_spaces_dashes_dots_and_parentheses(api: Any, number: Any) -> None:
    response = initiate(api, from_phone_number=" +1 (415) 555-0100 ", to_phone_number="+1.415.555.0199")

    assert response.status_code == 200
    assert response.json()["from_number"] == "+14155550100"
    assert Call.objects.get().to_number == TO


# --- choosing the assistant ---------------------------------------------------------------------------------


def test_an_explicit_assistant_overrides_the_numbers_assistant(api: Any, number: Any, organization: Any) -> None:
    other = AssistantFactory(organization=organization, welcome_message="I am the override")

    initiate(api, assistant_id=other.pk)

    call = Call.objects.get()
    assert call.assistant == other
    assert call.flow is None
    assert call.welcome_message == "I am the override"


def test_an_explicit_assistant_overrides_a_flow_number(api: Any, organization: Any) -> None:
    flow = ConversationFlowFactory(organization=organization)
    PhoneNumberFactory(organization=organization, phone_number="+14155550100", assistant=None, flow=flow)
    explicit = AssistantFactory(organization=organization)

    initiate(api, assistant_id=explicit.pk)

    call = Call.objects.get()
    assert call.assistant == explicit
    assert call.flow is None


def test_a_flow_number_uses_the_flows_base_assistant_and_records_the_flow(api: Any, organization: Any) -> None:
    flow = ConversationFlowFactory(organization=organization)
    PhoneNumberFactory(organization=organization, phone_number="+14155550100", assistant=None, flow=flow)

    response = initiate(api)

    assert response.status_code == 200
    call = Call.objects.get()
    assert call.flow == flow
    assert call.assistant == flow.base_assistant
    assert api.get(f"/api/v1/calls/{call.pk}").json()["flow_id"] == flow.pk


def test_a_number_with_neither_assistant_nor_flow_is_404(api: Any, organization: Any) -> None:
    PhoneNumberFactory(organization=organization, phone_number="+14155550100", assistant=None)

    response = initiate(api)

    assert response.status_code == 404
    assert response.json() == {"detail": "No assistant found for phone number +14155550100."}
    assert_nothing_dialled()
    assert Call.objects.count() == 0


# --- ownership: another organization's objects are 404 -----------------------------------------------------


def test_initiate_rejects_number_of_another_organization(api: Any) -> None:
    PhoneNumberFactory(organization=OrganizationFactory(), phone_number="+14155550100")

    response = initiate(api)

    assert response.status_code == 404
    assert response.json()["detail"] == "No phone number +14155550100 in your organization."
    assert_nothing_dialled()
    assert Call.objects.count() == 0


def test_initiate_rejects_assistant_of_another_organization(api: Any, number: Any) -> None:
    foreign = AssistantFactory(organization=OrganizationFactory())

    response = initiate(api, assistant_id=foreign.pk)

    assert response.status_code == 404
    assert response.json()["detail"] == f"No assistant {foreign.pk} in your organization."
    assert foreign.name not in response.content.decode()
    assert_nothing_dialled()


def test_an_inactive_number_is_not_found(api: Any, number: Any) -> None:
    number.is_active = False
    number.save()

    assert initiate(api).status_code == 404
    assert_nothing_dialled()


# --- inactive assistant, flow or account: 409 ---------------------------------------------------------------


def test_an_inactive_assistant_is_a_conflict_and_nothing_is_dialled(api: Any, number: Any) -> None:
    number.assistant.is_active = False
    number.assistant.save()

    response = initiate(api)

    assert response.status_code == 409
    assert "inactive" in response.json()["detail"]
    assert_nothing_dialled()
    assert Call.objects.count() == 0


def test_an_inactive_explicit_assistant_is_a_conflict(api: Any, number: Any, organization: Any) -> None:
    sleeping = AssistantFactory(organization=organization, is_active=False)

    assert initiate(api, assistant_id=sleeping.pk).status_code == 409
    assert_nothing_dialled()


def test_an_inactive_flow_is_a_conflict(api: Any, organization: Any) -> None:
    flow = ConversationFlowFactory(organization=organization, is_active=False)
    PhoneNumberFactory(organization=organization, phone_number="+14155550100", assistant=None, flow=flow)

    response = initiate(api)

    assert response.status_code == 409
    assert flow.name in response.json()["detail"]
    assert_nothing_dialled()


def test_an_inactive_telephony_account_is_a_conflict(api: Any, number: Any) -> None:
    number.telephony_account.is_active = False
    number.telephony_account.save()

    assert initiate(api).status_code == 409
    assert_nothing_dialled()


# --- input validation: 400 with detail and errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to_phone_number", "14155550199"),  # no +
        ("to_phone_number", "+1 415 CALL NOW"),  # letters
        ("to_phone_number", "+1415"),  # too short
        ("to_phone_number", "+1 415 555 01999999999"),  # too long
        ("to_phone_number", "+11235550100"),  # valid-looking, but area code 123 does not exist
        ("to_phone_number", "+999 1234 5678"),  # no such country code
        ("to_phone_number", "+١٤١٥٥٥٥٠١٩٩"),  # non-ASCII digits
        ("to_phone_number", ""),
        ("to_phone_number", 14155550199),
        ("from_phone_number", "4155550100"),
    ],
)
def test_initiate_rejects_numbers_that_are_not_valid_e164(api: Any, number: Any, field: str, value: Any) -> None:
    response = initiate(api, **{field: value})

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Invalid request."
    assert list(body["errors"]) == [field]
    assert_nothing_dialled()
    assert Call.objects.count() == 0


def test_initiate_requires_both_numbers(api: Any, number: Any) -> None:
    response = api.post("/calls/initiate", {}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"from_phone_number", "to_phone_number"}


def test_initiate_refuses_to_call_the_from_number_itself(api: Any, number: Any) -> None:
    response = initiate(api, to_phone_number="+1 415 555 0100")

    assert response.status_code == 400
    assert "to_phone_number" in response.json()["errors"]
    assert_nothing_dialled()


@pytest.mark.parametrize("assistant_id", ["1", True, 0, -3, 1.5, [1], 2**70])
def test_initiate_requires_assistant_id_to_be_a_positive_integer(api: Any, number: Any, assistant_id: Any) -> None:
    response = initiate(api, assistant_id=assistant_id)

    assert response.status_code == 400
    assert "assistant_id" in response.json()["errors"]


@pytest.mark.parametrize(
    "variables",
    [["a"], "name=Ann", {f"k{i}": "v" for i in range(51)}, {"tags": ["a"]}, {"deep": {"a": {"b": {"c": {"d": {}}}}}}],
)
def test_initiate_rejects_malformed_or_oversized_variables(api: Any, number: Any, variables: Any) -> None:
    response = initiate(api, variables=variables)

    assert response.status_code == 400
    assert "variables" in response.json()["errors"]
    assert_nothing_dialled()


def test_initiate_limits_the_length_of_welcome_message_and_agenda(api: Any, number: Any) -> None:
    assert initiate(api, welcome_message="x" * 1001).status_code == 400
    assert initiate(api, agenda="x" * 4001).status_code == 400
    assert initiate(api, welcome_message="x" * 1000, agenda="y" * 4000).status_code == 200


def test_initiate_limits_the_length_after_rendering(api: Any, number: Any) -> None:
    response = initiate(api, welcome_message="{{a}}{{a}}", variables={"a": "x" * 600})

    assert response.status_code == 400
    assert "after rendering" in response.json()["errors"]["welcome_message"][0]
    assert_nothing_dialled()


def test_a_large_variable_referenced_a_thousand_times_is_refused_at_the_cost_of_the_limits(
    api: Any, number: Any
) -> None:
    value = {f"k{i:02}": "x" * 1000 for i in range(55)}  # about 55 KB: the most a 64 KB body leaves room for
    size = len(json.dumps(value, separators=(",", ":")))
    tracemalloc.start()
    try:
        response = initiate(api, welcome_message="{{o}}" * 200, agenda="{{o}}" * 800, variables={"o": value})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "welcome_message": [f"At most 1000 characters after rendering (got {200 * size})."],
        "agenda": [f"At most 4000 characters after rendering (got {800 * size})."],
    }
    # Rendered whole, the two texts would be 55 MB; the request, body and all, holds a few hundred KB at most.
    assert peak < 4_000_000, peak
    assert_nothing_dialled()


# --- templates ------------------------------------------------------------------------------------------------


def test_initiate_renders_welcome_message_and_agenda_with_nested_values_and_defaults(api: Any, number: Any) -> None:
    response = initiate(
        api,
        welcome_message='Hi {{ customer.first_name }}, this is {{ company | default("Burki") }}.',
        agenda="Confirm order {{order}} for {{ customer.first_name }} (vip: {{vip}}, note: {{note}})",
        variables={"customer": {"first_name": "Ann"}, "order": 1042, "vip": True, "note": None, "unused": "kept"},
    )

    assert response.status_code == 200
    call = Call.objects.get()
    assert call.welcome_message == "Hi Ann, this is Burki."
    assert call.agenda == "Confirm order 1042 for Ann (vip: true, note: )"
    assert call.variables["unused"] == "kept"
    assert api.get(f"/api/v1/calls/{call.pk}").json()["variables"]["unused"] == "kept"


def test_initiate_lists_every_missing_variable_and_dials_nothing(api: Any, number: Any) -> None:
    response = initiate(
        api, welcome_message="Hi {{name}} from {{company}}", agenda="About {{ order.id }} for {{name}}", variables={}
    )

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Missing template variables: name, company, order.id."
    assert body["missing_variables"] == ["name", "company", "order.id"]
    assert body["errors"]["welcome_message"] == ["Missing variable: name", "Missing variable: company"]
    assert_nothing_dialled()
    assert Call.objects.count() == 0


def test_braces_inside_variable_values_are_not_rendered_again(api: Any, number: Any) -> None:
    initiate(api, welcome_message="Hi {{name}}", variables={"name": "{{ evil }}"})

    assert Call.objects.get().welcome_message == "Hi {{ evil }}"


def test_code_in_a_template_is_refused(api: Any, number: Any) -> None:
    response = initiate(api, welcome_message="Hi {{ name.__class__.__mro__ }}{{ name|upper }}", variables={"name": "a"})

    assert response.status_code == 400
    assert response.json()["errors"]["welcome_message"][0].startswith("Unsupported template expression")
    assert_nothing_dialled()


# --- the provider's answer ------------------------------------------------------------------------------------

REFUSING = {
    "sandbox": {
        "BACKEND": "telephony.backends.sandbox.SandboxBackend",
        "OPTIONS": {"REFUSE_PREFIXES": ["+1415555019"]},
    }
}


@override_settings(TELEPHONY_BACKENDS=REFUSING)
def test_a_provider_refusal_is_a_502_and_leaves_a_failed_call(api: Any, number: Any) -> None:
    response = initiate(api)

    assert response.status_code == 502
    body = response.json()
    assert "SB403" in body["detail"]
    assert "Sandbox refuses calls to this destination." in body["detail"]
    call = Call.objects.get()
    assert body["call_id"] == call.pk
    assert call.status == "failed"
    assert call.end_reason == "provider-rejected"
    assert "SB403" in call.error_message
    assert call.call_sid is None
    assert call.ended_at is not None
    assert_nothing_dialled()


class RecordingBackend(TelephonyBackend):
    """Notes what the database looked like when the provider was asked."""

    seen: list[dict[str, Any]] = []
    raise_kind: str | None = None

    def dial(self, account: ProviderAccount, request: DialRequest) -> DialResult:
        RecordingBackend.seen.append(
            {
                "in_transaction": connection.in_atomic_block,
                "status": Call.objects.get(pk=request.call_id).status,
            }
        )
        if self.options.get("RAISE"):
            raise TelephonyError("timed out", provider=self.alias, kind=self.options["RAISE"], retry_after=7)
        return DialResult(call_sid="RC1")


def recording(**options: Any) -> dict[str, Any]:
    return {"sandbox": {"BACKEND": f"{__name__}.RecordingBackend", "OPTIONS": options}}


@pytest.mark.django_db(transaction=True)
def test_the_call_is_committed_before_the_provider_is_asked_outside_any_transaction(api: Any, number: Any) -> None:
    RecordingBackend.seen = []
    with override_settings(TELEPHONY_BACKENDS=recording()):
        assert initiate(api).status_code == 200

    assert RecordingBackend.seen == [{"in_transaction": False, "status": "queued"}]
    assert Call.objects.get().call_sid == "RC1"


def test_a_provider_timeout_is_a_504_and_leaves_the_call_unknown(api: Any, number: Any) -> None:
    with override_settings(TELEPHONY_BACKENDS=recording(RAISE=TelephonyError.UNAVAILABLE)):
        response = initiate(api)

    assert response.status_code == 504
    call = Call.objects.get()
    assert call.status == "unknown"
    assert call.ended_at is None
    assert response.json()["call_id"] == call.pk


def test_a_provider_rate_limit_is_a_429_with_retry_after(api: Any, number: Any) -> None:
    with override_settings(TELEPHONY_BACKENDS=recording(RAISE=TelephonyError.RATE_LIMITED)):
        response = initiate(api)

    assert response.status_code == 429
    assert response["Retry-After"] == "7"
    assert response.json()["limit"] == "provider"
    assert Call.objects.get().status == "failed"


def test_a_number_whose_provider_has_no_backend_fails_cleanly(api: Any, organization: Any) -> None:
    account = TelephonyAccountFactory(organization=organization, provider="sandbox")
    PhoneNumberFactory(organization=organization, phone_number="+14155550100", telephony_account=account)

    with override_settings(TELEPHONY_BACKENDS={}):
        response = initiate(api)

    assert response.status_code == 502
    assert Call.objects.get().status == "failed"


class FixedSidBackend(TelephonyBackend):
    def dial(self, account: ProviderAccount, request: DialRequest) -> DialResult:
        return DialResult(call_sid="SAME-SID")


@override_settings(TELEPHONY_BACKENDS={"sandbox": {"BACKEND": f"{__name__}.FixedSidBackend"}})
def test_a_provider_id_already_on_record_leaves_the_call_unknown_not_a_500(api: Any, number: Any) -> None:
    first = initiate(api)
    second = initiate(api)

    assert first.status_code == 200
    assert second.status_code == 502
    assert "already recorded" in second.json()["detail"]
    latest = Call.objects.get(pk=second.json()["call_id"])
    assert (latest.status, latest.call_sid) == ("unknown", None)
    assert Call.objects.count() == 2
