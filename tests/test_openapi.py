from __future__ import annotations

import json
import re
from io import StringIO
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from burki.errors import LIMITS
from burki.schema import AUTHENTICATION_TAG, RESOURCE_TAGS, VOICE_ENGINE_TAG, resource_tag
from tests.factories import AssistantFactory

pytestmark = pytest.mark.django_db

CONTRACT_PATHS = {
    "/calls/initiate": {"post"},
    "/api/v1/calls/initiate": {"post"},
    "/api/v1/calls": {"get"},
    "/api/v1/calls/export": {"get"},
    "/api/v1/calls/{call_id}": {"get"},
    "/api/v1/calls/sid/{call_sid}": {"get"},
    "/api/v1/calls/{call_sid}/terminate": {"post"},
    "/api/v1/calls/{call_id}/cancel": {"post"},
    "/api/v1/calls/{call_id}/events": {"get"},
    "/api/v1/calls/validate": {"post"},
    "/api/v1/assistants": {"get", "post"},
    "/api/v1/assistants/{assistant_id}": {"get", "patch", "delete"},
    "/api/v1/flows": {"get", "post"},
    "/api/v1/flows/{flow_id}": {"get", "patch", "delete"},
    "/api/v1/api-keys": {"get", "post"},
    "/api/v1/api-keys/{key_id}": {"delete"},
    "/api/v1/organization": {"get", "patch"},
    "/api/v1/telephony/accounts": {"get", "post"},
    "/api/v1/telephony/accounts/{account_id}": {"get", "patch", "delete"},
    "/api/v1/telephony/accounts/{account_id}/numbers/available": {"get"},
    "/api/v1/telephony/accounts/{account_id}/numbers/import": {"post"},
    "/api/v1/phone-numbers": {"get", "post"},
    "/api/v1/phone-numbers/{number_id}": {"get", "patch", "delete"},
    "/api/v1/webhooks": {"get", "post"},
    "/api/v1/webhooks/{endpoint_id}": {"get", "patch", "delete"},
    "/api/v1/webhooks/{endpoint_id}/rotate-secret": {"post"},
    "/api/v1/webhooks/{endpoint_id}/deliveries": {"get"},
    "/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver": {"post"},
    "/api/v1/events/{event_id}": {"get"},
    "/api/v1/suppressions": {"get", "post"},
    "/api/v1/suppressions/bulk": {"post"},
    "/api/v1/suppressions/{suppression_id}": {"get", "delete"},
    "/api/v1/calls/{call_id}/opt-out": {"post"},
    "/api/v1/campaigns": {"get", "post"},
    "/api/v1/campaigns/{campaign_id}": {"get", "patch", "delete"},
    "/api/v1/campaigns/{campaign_id}/contacts": {"get", "post"},
    "/api/v1/campaigns/{campaign_id}/start": {"post"},
    "/api/v1/campaigns/{campaign_id}/pause": {"post"},
    "/api/v1/campaigns/{campaign_id}/resume": {"post"},
    "/api/v1/campaigns/{campaign_id}/cancel": {"post"},
    "/api/v1/campaigns/{campaign_id}/results.csv": {"get"},
}


def test_the_schema_generates_without_warnings_and_validates() -> None:
    out = StringIO()

    # --fail-on-warn turns any warning (an unguessable serializer, a colliding operation id) into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)

    schema = yaml.safe_load(out.getvalue())
    assert schema["openapi"].startswith("3.")


def test_the_served_schema_describes_every_endpoint_with_bodies_security_and_errors() -> None:
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path, methods in CONTRACT_PATHS.items():
        assert path in paths, path
        assert methods <= set(paths[path]), path
    assert schema["components"]["securitySchemes"]["BearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["BearerAuth"]["description"],
    }
    initiate = paths["/calls/initiate"]["post"]
    assert initiate["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("CallInitiateInputRequest")
    for code in ("200", "400", "401", "404", "409", "429", "502", "504"):
        assert code in initiate["responses"], code
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["detail"]
    assert {"BearerAuth": []} in initiate["security"]


def test_the_docs_page_is_served_with_bundled_assets(client: Any) -> None:
    page = client.get("/api/docs/")

    assert page.status_code == 200
    assert b"swagger-ui" in page.content
    assert b"/api/schema/" in page.content
    assert b"cdn." not in page.content


def _credentials_keys() -> list[tuple[str, str, bool]]:
    from telephony.credentials import CREDENTIAL_FIELDS, OPTIONAL_CREDENTIAL_FIELDS

    return [
        (provider, key, key in OPTIONAL_CREDENTIAL_FIELDS.get(provider, ()))
        for provider, keys in CREDENTIAL_FIELDS.items()
        for key in keys + OPTIONAL_CREDENTIAL_FIELDS.get(provider, ())
    ]


def test_the_schema_documents_each_providers_credential_keys_and_gives_examples() -> None:
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    create = schema["paths"]["/api/v1/telephony/accounts"]["post"]["requestBody"]["content"]["application/json"]

    for name in ("TelephonyAccountCreateInputRequest", "PatchedTelephonyAccountUpdateInputRequest"):
        description = components[name]["properties"]["credentials"]["description"]
        for provider, key, optional in _credentials_keys():
            line = next(line for line in description.splitlines() if line.startswith(f"- `{provider}`"))
            assert f"`{key}`{' (optional)' if optional else ':'}" in line, (name, provider, key)
        assert "- `sandbox`: none" in description
    examples = {example["value"]["provider"]: example["value"] for example in create["examples"].values()}
    assert set(examples) == {"twilio", "telnyx", "vonage", "sandbox"}
    for provider, key, _ in _credentials_keys():
        assert key in examples[provider]["credentials"], (provider, key)


def test_the_readme_documents_each_providers_credential_keys() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("### Telephony accounts", 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    rows = [[cell.strip() for cell in row.strip("|").split("|")] for row in ("|" + table).splitlines()[2:]]
    provider = ""
    documented = []
    for row in rows:
        provider = row[0].strip("`") or provider
        if row[1] != "none":
            documented.append((provider, row[1].strip("`"), row[2] == "optional"))

    assert documented == _credentials_keys()


# --- tags, summaries, examples ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    document: dict[str, Any] = response.json()
    return document


def operations_of(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


def test_every_operation_has_a_summary_and_exactly_one_tag_of_a_documented_resource(schema: dict[str, Any]) -> None:
    documented = {tag["name"] for tag in schema["tags"]}

    for method, path, op in operations_of(schema):
        assert op.get("summary", "").strip(), (method, path)
        assert len(op["tags"]) == 1, (method, path, op["tags"])
        assert op["tags"][0] in documented, (method, path, op["tags"])
    assert set(RESOURCE_TAGS.values()) | {AUTHENTICATION_TAG, VOICE_ENGINE_TAG} == documented
    assert all(tag.get("description") for tag in schema["tags"])


@pytest.mark.parametrize(
    ("method", "path", "tag"),
    [
        ("post", "/calls/initiate", "Calls"),
        ("post", "/api/v1/calls/{call_id}/cancel", "Calls"),
        ("get", "/api/v1/calls/{call_id}/context", "Voice engine"),
        ("patch", "/api/v1/flows/{flow_id}", "Conversation flows"),
        ("post", "/api/v1/phone-numbers", "Phone numbers"),
        ("get", "/api/v1/telephony/accounts", "Telephony accounts"),
        ("delete", "/api/v1/api-keys/{key_id}", "API keys"),
        ("patch", "/api/v1/organization", "Organization"),
        ("get", "/api/v1/assistants/me/organization", "Organization"),
        ("get", "/api/v1/webhooks/{endpoint_id}/deliveries", "Webhooks"),
        ("get", "/api/v1/events/{event_id}", "Events"),
        ("post", "/api/v1/suppressions/bulk", "Suppressions"),
        ("delete", "/api/v1/suppressions/{suppression_id}", "Suppressions"),
        ("post", "/api/v1/calls/{call_id}/opt-out", "Voice engine"),
        ("post", "/api/v1/auth/token", "Authentication"),
        ("post", "/api/v1/auth/password", "Authentication"),
    ],
)
def test_each_operation_is_tagged_with_its_resource(schema: dict[str, Any], method: str, path: str, tag: str) -> None:
    assert schema["paths"][path][method]["tags"] == [tag]


def test_a_view_added_later_is_tagged_by_its_resource_with_no_work_of_its_own() -> None:
    assert resource_tag("campaigns") == "Campaigns"
    assert resource_tag("voicemail_drops") == "Voicemail drops"


def json_schema(schema: dict[str, Any], node: Any) -> Any:
    """OpenAPI 3.0's schema object as JSON Schema: `nullable` becomes a null alternative, refs point into `schema`."""
    if isinstance(node, list):
        return [json_schema(schema, item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: json_schema(schema, value) for key, value in node.items() if key not in ("nullable", "example")}
    if "$ref" in converted:
        converted["$ref"] = "urn:burki" + converted["$ref"]
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def documented_examples(schema: dict[str, Any]) -> list[tuple[str, str, str, Any, dict[str, Any]]]:
    """(where, media type, example name, example value, JSON schema) of every request and response example."""
    found = []
    for method, path, op in operations_of(schema):
        bodies = [("request", op["requestBody"])] if "requestBody" in op else []
        bodies += [(f"response {code}", response) for code, response in op["responses"].items()]
        for where, body in bodies:
            for media_type, content in body.get("content", {}).items():
                for name, example in content.get("examples", {}).items():
                    found.append((f"{method} {path} {where}", media_type, name, example["value"], content["schema"]))
    return found


def test_every_operation_with_a_body_has_a_realistic_example_and_so_do_its_successes(schema: dict[str, Any]) -> None:
    for method, path, op in operations_of(schema):
        if "requestBody" in op:
            assert op["requestBody"]["content"]["application/json"].get("examples"), (method, path)
        for code, response in op["responses"].items():
            for media_type, content in response.get("content", {}).items():
                if code.startswith("2"):
                    assert content.get("examples"), (method, path, code, media_type)


def test_every_example_is_valid_against_the_schema_it_illustrates(schema: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    registry = Registry().with_resource("urn:burki", DRAFT202012.create_resource(json_schema(schema, schema)))
    examples = documented_examples(schema)
    assert len(examples) > 60

    for where, media_type, name, value, body_schema in examples:
        if media_type != "application/json":
            continue
        validator = Draft202012Validator(json_schema(schema, body_schema), registry=registry)
        problems = [error.message for error in validator.iter_errors(value)]
        assert not problems, (where, name, problems)


def test_no_example_is_a_huge_id_that_would_fail(schema: dict[str, Any]) -> None:
    # An id field's maximum (2**62) is what documentation tools showed before it had an example of its own.
    text = json.dumps(schema)

    assert "4611686018427388000" not in text
    initiate = schema["components"]["schemas"]["CallInitiateInputRequest"]["properties"]
    assert initiate["assistant_id"]["example"] == 1
    for _, _, name, value, _ in documented_examples(schema):
        if isinstance(value, dict) and isinstance(value.get("assistant_id"), int):
            assert value["assistant_id"] < 1000, name


def test_initiates_examples_place_calls_as_documented(api: Any, number: Any, schema: dict[str, Any]) -> None:
    examples = schema["paths"]["/calls/initiate"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    AssistantFactory(organization=number.organization)  # the example that chooses another assistant

    for name, example in examples.items():
        body = dict(example["value"])
        if "assistant_id" in body:
            body["assistant_id"] = number.organization.assistants.exclude(pk=number.assistant_id).get().pk
        response = api.post("/api/v1/calls/validate", body, format="json")
        assert response.status_code == 200, (name, response.content)
    assert "assistant_id" not in examples["ACallWithTemplates"]["value"]


def test_phone_number_fields_say_their_format_and_show_an_example(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    fields = [
        ("CallInitiateInputRequest", "from_phone_number"),
        ("CallInitiateInputRequest", "to_phone_number"),
        ("PhoneNumberCreateInputRequest", "phone_number"),
        ("CallInitiateOutput", "to_number"),
        ("CallOutput", "customer_phone"),
        ("CallOutput", "twilio_phone"),
        ("CallOutput", "from_number"),
        ("PhoneNumberOutput", "phone_number"),
        ("CallValidateOutput", "from_number"),
        ("CallContextOutput", "to_number"),
    ]
    for component, field in fields:
        prop = components[component]["properties"][field]
        assert "E.164" in prop["description"], (component, field)
        assert re.fullmatch(r"\+[1-9][0-9]{1,14}", prop["example"]), (component, field)
    # What is accepted (separators) is said on inputs; an always-E.164 answer also carries the pattern.
    assert "ignored" in components["CallInitiateInputRequest"]["properties"]["to_phone_number"]["description"]
    assert components["PhoneNumberOutput"]["properties"]["phone_number"]["pattern"] == r"^\+[1-9][0-9]{1,14}$"
    assert "…0199" in components["CallOutput"]["properties"]["customer_phone"]["description"]
    filters = {p["name"]: p for p in schema["paths"]["/api/v1/calls"]["get"]["parameters"]}
    assert "E.164" in filters["customer_phone"]["description"]


def test_the_error_schema_documents_its_optional_fields(schema: dict[str, Any]) -> None:
    error = schema["components"]["schemas"]["Error"]
    limit = schema["components"]["schemas"]["LimitEnum"]

    assert error["required"] == ["detail"]
    assert {"errors", "limit", "required_role", "missing_variables", "call_id", "status"} <= set(error["properties"])
    assert set(limit["enum"]) == set(LIMITS) >= {"max_concurrent_calls", "calls_per_second", "provider"}
    initiate_429 = schema["paths"]["/calls/initiate"]["post"]["responses"]["429"]["content"]["application/json"]
    assert {example["value"]["limit"] for example in initiate_429["examples"].values()} == {
        "max_concurrent_calls",
        "provider",
    }


def test_the_organization_settings_are_documented_for_reading_and_changing(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    settings = {
        "max_concurrent_calls",
        "allowed_destination_countries",
        "block_premium_destinations",
        "call_retention_days",
        "redact_after_days",
    }

    assert settings | {"max_concurrent_calls_maximum"} <= set(components["OrganizationOutput"]["properties"])
    assert settings <= set(components["PatchedOrganizationUpdateInputRequest"]["properties"])
    for name in settings:
        assert components["PatchedOrganizationUpdateInputRequest"]["properties"][name]["description"], name
    patch = schema["paths"]["/api/v1/organization"]["patch"]
    assert "Requires the **admin** role" in patch["description"]


def test_terminate_and_cancel_each_say_what_a_call_that_is_over_gets(schema: dict[str, Any]) -> None:
    terminate = schema["paths"]["/api/v1/calls/{call_sid}/terminate"]["post"]
    cancel = schema["paths"]["/api/v1/calls/{call_id}/cancel"]["post"]

    assert "**400**" in terminate["description"]
    assert "409" in terminate["description"]
    assert "**409**" in cancel["description"]
    assert "400" in cancel["description"]
    assert "409" in cancel["responses"]


def test_every_role_bound_operation_names_its_role_even_with_a_description_of_its_own(schema: dict[str, Any]) -> None:
    for method, path, op in operations_of(schema):
        if op["tags"] in ([AUTHENTICATION_TAG], [VOICE_ENGINE_TAG]):
            continue
        assert re.search(r"Requires the \*\*(member|admin|owner)\*\* role", op["description"]), (method, path)
    # What a base class says to its developers is no client's business.
    assert "Base for every API view" not in json.dumps(schema)
    redeliver = schema["paths"]["/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver"]["post"]
    assert redeliver["description"].startswith("A pending delivery is attempted now")


def test_the_do_not_call_list_documents_its_roles_its_idempotent_add_and_the_bulk_formats(
    schema: dict[str, Any],
) -> None:
    paths = schema["paths"]
    create = paths["/api/v1/suppressions"]["post"]
    bulk = paths["/api/v1/suppressions/bulk"]["post"]
    delete = paths["/api/v1/suppressions/{suppression_id}"]["delete"]
    opt_out = paths["/api/v1/calls/{call_id}/opt-out"]["post"]

    assert {"200", "201", "400"} <= set(create["responses"])
    assert "**200**" in create["description"]
    assert "**201**" in create["description"]
    assert "Requires the **member** role" in create["description"]
    assert "Requires the **admin** role" in delete["description"]
    assert set(bulk["requestBody"]["content"]) == {"application/json", "text/csv", "multipart/form-data"}
    assert bulk["requestBody"]["content"]["text/csv"]["examples"]
    assert "nothing is added" in bulk["description"]
    refused = bulk["responses"]["400"]["content"]["application/json"]["examples"]
    assert all("refused" in example["value"] for example in refused.values())
    assert {"refused", "refused_count"} <= set(schema["components"]["schemas"]["Error"]["properties"])
    assert {"200", "201", "409"} <= set(opt_out["responses"])
    assert opt_out["security"] == [{"StreamToken": []}]
