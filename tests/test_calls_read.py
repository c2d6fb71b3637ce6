from __future__ import annotations

from typing import Any

import pytest

from tests.factories import CallFactory, ConversationFlowFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

CONTRACT_FIELDS = {
    "id", "organization_id", "assistant_id", "call_sid", "status", "direction", "customer_phone", "twilio_phone",
    "telephony_provider", "duration", "started_at", "ended_at", "created_at", "updated_at", "welcome_message",
    "agenda", "metadata", "error_message", "end_reason", "assistant_name", "flow_id",
}  # fmt: skip


def test_a_call_carries_every_field_of_the_compatibility_contract(api: Any, organization: Any) -> None:
    flow = ConversationFlowFactory(organization=organization)
    call = CallFactory(organization=organization, assistant=flow.base_assistant, flow=flow, metadata={"k": 1})

    body = api.get(f"/api/v1/calls/{call.pk}").json()

    assert set(body) >= CONTRACT_FIELDS
    assert body["id"] == call.pk
    assert body["organization_id"] == organization.pk
    assert body["assistant_name"] == flow.base_assistant.name
    assert body["flow_id"] == flow.pk
    assert body["customer_phone"] == call.to_number
    assert body["twilio_phone"] == call.from_number
    assert body["telephony_provider"] == "sandbox"
    assert body["direction"] == "outbound"
    assert body["metadata"] == {"k": 1}
    assert "token" not in body


def test_another_organizations_call_is_404_and_reveals_nothing(api: Any) -> None:
    foreign = CallFactory(organization=OrganizationFactory(), welcome_message="secret greeting")

    response = api.get(f"/api/v1/calls/{foreign.pk}")

    assert response.status_code == 404
    assert response.json() == {"detail": "Call not found."}


def test_calls_are_listed_newest_first_with_skip_and_limit(api: Any, organization: Any) -> None:
    calls = [CallFactory(organization=organization) for _ in range(5)]
    CallFactory(organization=OrganizationFactory())

    body = api.get("/api/v1/calls?skip=1&limit=2").json()

    assert body["total"] == 5
    assert body["skip"] == 1
    assert body["limit"] == 2
    assert [item["id"] for item in body["items"]] == [calls[3].pk, calls[2].pk]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=-1", "skip=-1", "limit=ten", "skip=x"])
def test_out_of_range_pagination_is_400(api: Any, query: str) -> None:
    response = api.get(f"/api/v1/calls?{query}")

    assert response.status_code == 400
    assert response.json()["detail"] == "Invalid request."
