from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

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
    "/api/v1/phone-numbers": {"get", "post"},
    "/api/v1/phone-numbers/{number_id}": {"get", "patch", "delete"},
    "/api/v1/webhooks": {"get", "post"},
    "/api/v1/webhooks/{endpoint_id}": {"get", "patch", "delete"},
    "/api/v1/webhooks/{endpoint_id}/rotate-secret": {"post"},
    "/api/v1/webhooks/{endpoint_id}/deliveries": {"get"},
    "/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver": {"post"},
    "/api/v1/events/{event_id}": {"get"},
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
