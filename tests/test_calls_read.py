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


def test_the_call_object_is_exactly_what_drfs_generic_serializer_would_write(organization: Any) -> None:
    from datetime import UTC, datetime

    from rest_framework import serializers

    from calls.models import Call
    from calls.selectors import call_list
    from calls.serializers import CallOutput

    flow = ConversationFlowFactory(organization=organization)
    calls = [
        CallFactory(organization=organization, assistant=flow.base_assistant, flow=flow, metadata={"k": [1, None]}),
        CallFactory(organization=organization, assistant=None, call_sid=None, variables={"name": "Zoë"}),
        CallFactory(
            organization=organization,
            status="completed",
            duration=0,
            started_at=datetime(2026, 5, 4, 12, 0, tzinfo=UTC),
            answered_at=datetime(2026, 5, 4, 12, 0, 1, 250, tzinfo=UTC),
            ended_at=datetime(2026, 5, 4, 12, 5, tzinfo=UTC),
            error_message="x" * 300,
        ),
    ]

    for call in [*call_list(organization=organization), *Call.objects.filter(pk__in=[c.pk for c in calls])]:
        # The serializer's fast path (calls.serializers.call_object) against DRF's own field by field rendering.
        assert CallOutput(call).data == serializers.ModelSerializer.to_representation(CallOutput(), call)


def test_a_list_pages_calls_are_the_same_objects_as_each_calls_own(api: Any, organization: Any) -> None:
    flow = ConversationFlowFactory(organization=organization)
    calls = [
        CallFactory(organization=organization, assistant=flow.base_assistant, flow=flow, variables={"n": 1}),
        CallFactory(organization=organization, assistant=None, call_sid=None, status="failed", duration=3),
    ]

    for query in ("limit=50", "skip=1&limit=1"):
        items = api.get(f"/api/v1/calls?{query}").json()["items"]
        # The list reads plain values (calls.serializers.CallRowOutput); one call is read as a model (CallOutput).
        assert items == [api.get(f"/api/v1/calls/{item['id']}").json() for item in items]
        assert items
    assert {item["id"] for item in api.get("/api/v1/calls").json()["items"]} == {call.pk for call in calls}
