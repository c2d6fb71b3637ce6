from __future__ import annotations

import copy
from typing import Any

import pytest

from assistants.models import Assistant, ConversationFlow
from calls.models import Call
from tests.factories import (
    SIMPLE_FLOW,
    AssistantFactory,
    CallFactory,
    ConversationFlowFactory,
    OrganizationFactory,
    PhoneNumberFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/flows"
FIELDS = {"id", "organization_id", "name", "base_assistant_id", "is_active", "definition", "created_at", "updated_at"}
DEFINITION: dict[str, Any] = {
    "nodes": [
        {"id": "greet", "type": "start", "prompt": "Greet the caller."},
        {"id": "book", "type": "question", "prompt": "Which day suits you?"},
        {"id": "bye", "type": "end"},
    ],
    "edges": [{"from": "greet", "to": "book"}, {"from": "book", "to": "bye", "when": "a day is chosen"}],
    "runtime_option": {"kept": True},
}
UNKNOWN_EDGE_NODE = {
    "nodes": [{"id": "greet", "type": "start"}, {"id": "ask", "type": "question"}],
    "edges": [{"from": "greet", "to": "ask"}, {"from": "ask", "to": "zzz"}],
}
DUPLICATE_ID = {"nodes": [{"id": "greet", "type": "start"}, {"id": "greet", "type": "question"}], "edges": []}
NO_START = {"nodes": [{"id": "ask", "type": "question"}], "edges": []}
ALL_THREE = {
    "nodes": [{"id": "ask", "type": "question"}, {"id": "ask", "type": "end"}],
    "edges": [{"from": "nowhere", "to": "ask"}],
}


@pytest.fixture
def assistant(organization: Any) -> Any:
    return AssistantFactory(organization=organization, name="Base")


def create_flow(api: Any, assistant: Any, **overrides: Any) -> Any:
    body = {"name": "Booking", "base_assistant_id": assistant.pk, "definition": copy.deepcopy(DEFINITION)}
    body.update(overrides)
    return api.post(URL, body, format="json")


def stored(flow: ConversationFlow) -> dict[str, Any]:
    return dict(ConversationFlow.objects.filter(pk=flow.pk).values().get())


# --- create and read ------------------------------------------------------------------------------------------


def test_a_flow_is_created_on_an_assistant_of_the_organization_with_its_definition_kept_whole(
    api: Any, organization: Any, assistant: Any
) -> None:
    response = create_flow(api, assistant, is_active=False)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    assert (body["organization_id"], body["name"], body["base_assistant_id"], body["is_active"]) == (
        organization.pk,
        "Booking",
        assistant.pk,
        False,
    )
    assert body["definition"] == DEFINITION
    flow = ConversationFlow.objects.get(pk=body["id"])
    assert (flow.organization, flow.base_assistant, flow.name, flow.is_active) == (
        organization,
        assistant,
        "Booking",
        False,
    )
    assert flow.definition == DEFINITION


def test_a_flow_is_active_unless_told_otherwise(api: Any, assistant: Any) -> None:
    response = create_flow(api, assistant)

    assert response.status_code == 201
    assert ConversationFlow.objects.get(pk=response.json()["id"]).is_active is True


def test_a_flow_is_read_by_id(api: Any, organization: Any) -> None:
    flow = ConversationFlowFactory(organization=organization, name="Support")

    response = api.get(f"{URL}/{flow.pk}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == FIELDS
    assert (body["id"], body["name"], body["base_assistant_id"]) == (flow.pk, "Support", flow.base_assistant_id)
    assert body["definition"] == SIMPLE_FLOW


def test_an_unknown_flow_is_404(api: Any) -> None:
    response = api.get(f"{URL}/999999")

    assert response.status_code == 404
    assert response.json() == {"detail": "Flow not found."}


def test_flows_are_listed_by_name_within_the_organization_with_skip_and_limit(api: Any, organization: Any) -> None:
    for name in ("Gamma", "Alpha", "Beta"):
        ConversationFlowFactory(organization=organization, name=name)
    ConversationFlowFactory(organization=OrganizationFactory(), name="Aaa of another organization")

    everything = api.get(URL).json()
    page = api.get(f"{URL}?skip=1&limit=1").json()

    assert [f["name"] for f in everything["items"]] == ["Alpha", "Beta", "Gamma"]
    assert everything["total"] == 3
    assert [f["name"] for f in page["items"]] == ["Beta"]
    assert (page["total"], page["skip"], page["limit"]) == (3, 1, 1)


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "skip=-1"])
def test_out_of_range_pagination_is_400(api: Any, query: str) -> None:
    assert api.get(f"{URL}?{query}").status_code == 400


# --- definitions ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "problems"),
    [
        (UNKNOWN_EDGE_NODE, ["Edge 1 'to' refers to unknown node id 'zzz'."]),
        (DUPLICATE_ID, ["Duplicate node id 'greet'."]),
        (NO_START, ["Missing start node: exactly one node must have type 'start'."]),
        (
            ALL_THREE,
            [
                "Duplicate node id 'ask'.",
                "Missing start node: exactly one node must have type 'start'.",
                "Edge 0 'from' refers to unknown node id 'nowhere'.",
            ],
        ),
        ({"nodes": [], "edges": []}, ["'nodes' must be a non-empty list."]),
        ([SIMPLE_FLOW], ["The definition must be a JSON object with 'nodes' and 'edges'."]),
        (None, ["The definition must be a JSON object with 'nodes' and 'edges'."]),
    ],
)
def test_a_bad_definition_is_400_naming_each_exact_problem_on_create_and_patch(
    api: Any, organization: Any, assistant: Any, definition: Any, problems: list[str]
) -> None:
    flow = ConversationFlowFactory(organization=organization)
    before = stored(flow)

    created = create_flow(api, assistant, definition=definition)
    patched = api.patch(f"{URL}/{flow.pk}", {"definition": definition}, format="json")

    expected = {"detail": "Invalid flow definition.", "errors": {"definition": problems}}
    assert (created.status_code, created.json()) == (400, expected)
    assert (patched.status_code, patched.json()) == (400, expected)
    assert ConversationFlow.objects.count() == 1
    assert stored(flow) == before


def test_a_definition_over_256_kb_is_400(api: Any, assistant: Any) -> None:
    definition = copy.deepcopy(DEFINITION)
    definition["nodes"][1]["prompt"] = "x" * (256 * 1024)

    response = create_flow(api, assistant, definition=definition)

    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid flow definition.",
        "errors": {"definition": ["At most 262144 bytes as JSON."]},
    }
    assert ConversationFlow.objects.count() == 0


def test_a_definition_just_under_256_kb_is_accepted(api: Any, assistant: Any) -> None:
    definition = copy.deepcopy(DEFINITION)
    definition["nodes"][1]["prompt"] = "x" * (250 * 1024)

    response = create_flow(api, assistant, definition=definition)

    assert response.status_code == 201, response.content
    assert ConversationFlow.objects.get(pk=response.json()["id"]).definition == definition


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"name": ""}, "name"), ({"name": "x" * 201}, "name"), ({"base_assistant_id": "1"}, "base_assistant_id")],
)
def test_an_invalid_name_or_base_assistant_id_is_400(
    api: Any, assistant: Any, overrides: dict[str, Any], field: str
) -> None:
    response = create_flow(api, assistant, **overrides)

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}
    assert ConversationFlow.objects.count() == 0


def test_another_organizations_or_an_unknown_base_assistant_is_400_revealing_nothing(
    api: Any, organization: Any, assistant: Any
) -> None:
    foreign = AssistantFactory(organization=OrganizationFactory(), name="Their secret assistant")
    flow = ConversationFlowFactory(organization=organization)
    before = stored(flow)

    created = create_flow(api, assistant, base_assistant_id=foreign.pk)
    unknown = create_flow(api, assistant, base_assistant_id=999999)
    patched = api.patch(f"{URL}/{flow.pk}", {"base_assistant_id": foreign.pk}, format="json")

    expected = {"detail": "Invalid request.", "errors": {"base_assistant_id": ["Not found in your organization."]}}
    for response in (created, unknown, patched):
        assert (response.status_code, response.json()) == (400, expected)
        assert b"secret" not in response.content
    assert ConversationFlow.objects.count() == 1
    assert stored(flow) == before


# --- update ---------------------------------------------------------------------------------------------------


def test_a_flow_is_patched_and_what_the_patch_omits_is_kept(api: Any, organization: Any, assistant: Any) -> None:
    flow = ConversationFlowFactory(organization=organization, name="Before")

    response = api.patch(
        f"{URL}/{flow.pk}",
        {"name": "After", "is_active": False, "base_assistant_id": assistant.pk},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["base_assistant_id"] == assistant.pk
    flow.refresh_from_db()
    assert (flow.name, flow.is_active, flow.base_assistant_id) == ("After", False, assistant.pk)
    assert flow.definition == SIMPLE_FLOW


def test_a_definition_in_a_patch_replaces_the_stored_one_whole(api: Any, organization: Any) -> None:
    flow = ConversationFlowFactory(organization=organization, name="Kept name")

    response = api.patch(f"{URL}/{flow.pk}", {"definition": DEFINITION}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["definition"] == DEFINITION
    flow.refresh_from_db()
    assert (flow.definition, flow.name) == (DEFINITION, "Kept name")


# --- delete ---------------------------------------------------------------------------------------------------


def test_deleting_an_unused_flow_is_204_and_its_calls_keep_their_history(api: Any, organization: Any) -> None:
    flow = ConversationFlowFactory(organization=organization)
    call = CallFactory(organization=organization, assistant=flow.base_assistant, flow=flow)

    response = api.delete(f"{URL}/{flow.pk}")

    assert response.status_code == 204
    assert not ConversationFlow.objects.filter(pk=flow.pk).exists()
    call = Call.objects.get(pk=call.pk)
    assert (call.flow_id, call.assistant_id) == (None, flow.base_assistant_id)


def test_deleting_a_flow_used_by_a_phone_number_is_409_naming_the_number(api: Any, organization: Any) -> None:
    flow = ConversationFlowFactory(organization=organization)
    PhoneNumberFactory(organization=organization, phone_number="+14155550133", assistant=None, flow=flow)

    response = api.delete(f"{URL}/{flow.pk}")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "This flow is still used by 1 phone number(s): +14155550133. Reassign or delete them first."
    }
    assert ConversationFlow.objects.filter(pk=flow.pk).exists()


def test_deleting_an_assistant_used_by_a_flow_is_409_naming_the_flow(api: Any, organization: Any) -> None:
    flow = ConversationFlowFactory(organization=organization, name="Evening")

    response = api.delete(f"/api/v1/assistants/{flow.base_assistant_id}")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "This assistant is still used by 1 flow(s): 'Evening'. Reassign or delete them first."
    }
    assert ConversationFlow.objects.filter(pk=flow.pk).exists()


# --- other organizations --------------------------------------------------------------------------------------


def test_another_organizations_assistants_and_flows_are_404_on_every_method_and_left_unchanged(
    api: Any, organization: Any
) -> None:
    other = OrganizationFactory()
    flow = ConversationFlowFactory(
        organization=other,
        name="Their hidden flow",
        base_assistant=AssistantFactory(organization=other, name="Their hidden assistant"),
    )
    mine = AssistantFactory(organization=organization)
    targets = [
        (f"/api/v1/assistants/{flow.base_assistant_id}", "Assistant not found."),
        (f"{URL}/{flow.pk}", "Flow not found."),
    ]
    before = (
        stored(flow),
        Assistant.objects.filter(pk=flow.base_assistant_id).values().get(),
    )
    change = {"name": "Taken over", "is_active": False, "base_assistant_id": mine.pk, "definition": DEFINITION}

    for url, detail in targets:
        for method in ("get", "patch", "delete"):
            response = getattr(api, method)(url, change, format="json")
            assert response.status_code == 404, (method, url)
            assert response.json() == {"detail": detail}, (method, url)
            assert b"hidden" not in response.content

    after = (
        stored(flow),
        Assistant.objects.filter(pk=flow.base_assistant_id).values().get(),
    )
    assert after == before
    assert api.get(URL).json()["total"] == 0
