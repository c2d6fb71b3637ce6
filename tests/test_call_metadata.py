"""`metadata` on initiate: the caller's own JSON object, stored on the call and returned with it."""

from __future__ import annotations

from typing import Any

import pytest

from calls.models import Call
from telephony.backends import sandbox

pytestmark = pytest.mark.django_db

BODY = {"from_phone_number": "+14155550100", "to_phone_number": "+14155550199"}
METADATA = {"crm_id": "lead-42", "campaign": {"name": "renewals", "wave": 3}, "tags": ["vip", None, 1.5, True]}


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def test_initiate_stores_the_metadata_and_the_calls_api_returns_it(api: Any, number: Any) -> None:
    response = api.post("/calls/initiate", {**BODY, "metadata": METADATA}, format="json")

    assert response.status_code == 200
    call_id = response.json()["call_id"]
    assert Call.objects.get(pk=call_id).metadata == METADATA
    assert api.get(f"/api/v1/calls/{call_id}").json()["metadata"] == METADATA
    assert api.get("/api/v1/calls").json()["items"][0]["metadata"] == METADATA


@pytest.mark.parametrize("body", [BODY, {**BODY, "metadata": None}, {**BODY, "metadata": {}}])
def test_without_metadata_a_call_has_an_empty_object(api: Any, number: Any, body: dict[str, Any]) -> None:
    response = api.post("/calls/initiate", body, format="json")

    assert response.status_code == 200
    assert Call.objects.get().metadata == {}


@pytest.mark.parametrize("metadata", [["a"], "text", 3, True])
def test_metadata_must_be_a_json_object(api: Any, number: Any, metadata: Any) -> None:
    response = api.post("/calls/initiate", {**BODY, "metadata": metadata}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["metadata"]
    assert Call.objects.count() == 0
    assert sandbox.outbox == []


def test_metadata_of_16_kb_as_compact_json_is_accepted_and_one_byte_more_refused(api: Any, number: Any) -> None:
    # Compact JSON of {"k":"…"} is 8 bytes plus the value; "é" is two bytes in UTF-8.
    exactly = {"k": "é" * 8000 + "x" * 376}
    over = {"k": "é" * 8000 + "x" * 377}

    accepted = api.post("/calls/initiate", {**BODY, "metadata": exactly}, format="json")
    refused = api.post("/calls/initiate", {**BODY, "metadata": over}, format="json")

    assert accepted.status_code == 200
    assert refused.status_code == 400
    assert refused.json() == {
        "detail": "Invalid request.",
        "errors": {"metadata": ["At most 16384 bytes as compact JSON (got 16385)."]},
    }
    assert Call.objects.count() == 1


def test_metadata_nested_eight_levels_is_accepted_and_nine_refused(api: Any, number: Any) -> None:
    accepted = api.post("/calls/initiate", {**BODY, "metadata": nested(8)}, format="json")
    refused = api.post("/calls/initiate", {**BODY, "metadata": {"list": [[[[[[[[1]]]]]]]]}}, format="json")

    assert accepted.status_code == 200
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"metadata": ["Nested more than 8 levels deep."]}


@pytest.mark.parametrize("metadata", [{"note": "a\x00b"}, {"a\x00b": 1}, {"deep": [{"x": "\x00"}]}])
def test_metadata_with_a_nul_character_is_refused_not_a_server_error(
    api: Any, number: Any, metadata: dict[str, Any]
) -> None:
    # PostgreSQL's jsonb cannot store U+0000: without the check, the INSERT fails and the request is a 500.
    response = api.post("/calls/initiate", {**BODY, "metadata": metadata}, format="json")

    assert response.status_code == 400
    # "metadata", or the path inside it ("metadata.note") where a check of every input finds it first.
    assert {field.partition(".")[0] for field in response.json()["errors"]} == {"metadata"}
    assert Call.objects.count() == 0


def test_validate_checks_the_metadata_as_initiate_does_and_echoes_it(api: Any, number: Any) -> None:
    valid = api.post("/api/v1/calls/validate", {**BODY, "metadata": METADATA}, format="json")
    invalid = api.post("/api/v1/calls/validate", {**BODY, "metadata": {"k": "x" * 20000}}, format="json")

    assert valid.status_code == 200
    assert valid.json()["metadata"] == METADATA
    assert invalid.status_code == 400
    assert list(invalid.json()["errors"]) == ["metadata"]
    assert Call.objects.count() == 0


def test_an_idempotency_key_reused_with_other_metadata_is_refused(api: Any, number: Any) -> None:
    first = api.post("/calls/initiate", {**BODY, "metadata": {"a": 1}}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = api.post("/calls/initiate", {**BODY, "metadata": {"a": 1}}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    other = api.post("/calls/initiate", {**BODY, "metadata": {"a": 2}}, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    assert (first.status_code, again.status_code, other.status_code) == (200, 200, 422)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Call.objects.count() == 1
