from __future__ import annotations

from typing import Any

import pytest

from burki.models import ApiKey
from tests.factories import ApiKeyFactory, MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def test_a_created_key_is_shown_once_and_works(api: Any, organization: Any, client_for: Any) -> None:
    response = api.post("/api/v1/api-keys", {"name": "crm sync"}, format="json")

    assert response.status_code == 201
    body = response.json()
    raw = body["key"]
    assert raw.startswith("burki_")
    assert body["prefix"] == raw[:12]
    assert body["name"] == "crm sync"
    assert client_for(raw).get("/api/v1/organization").json()["slug"] == organization.slug
    listed = api.get("/api/v1/api-keys")
    detail_text = listed.content.decode()
    assert raw not in detail_text
    assert "key" not in listed.json()["items"][0]
    assert ApiKey.objects.get(pk=body["id"]).organization == organization


def test_a_revoked_key_stops_working_on_the_next_request(api: Any, organization: Any, client_for: Any) -> None:
    raw = api.post("/api/v1/api-keys", {"name": "temp"}, format="json").json()["key"]
    temp = client_for(raw)
    assert temp.get("/api/v1/calls").status_code == 200
    key_id = ApiKey.objects.get(name="temp").pk

    assert api.delete(f"/api/v1/api-keys/{key_id}").status_code == 204

    assert temp.get("/api/v1/calls").status_code == 401
    listed = {k["id"]: k for k in api.get("/api/v1/api-keys").json()["items"]}
    assert listed[key_id]["is_active"] is False
    assert listed[key_id]["revoked_at"] is not None


def test_a_key_can_revoke_itself(api: Any, api_key: Any) -> None:
    assert api.delete(f"/api/v1/api-keys/{api_key.pk}").status_code == 204
    assert api.get("/api/v1/calls").status_code == 401


def test_another_organizations_key_cannot_be_seen_or_revoked(api: Any, client_for: Any) -> None:
    foreign = ApiKeyFactory(organization=OrganizationFactory())

    response = api.delete(f"/api/v1/api-keys/{foreign.pk}")

    assert response.status_code == 404
    assert foreign.pk not in [k["id"] for k in api.get("/api/v1/api-keys").json()["items"]]
    assert client_for(foreign.raw_key).get("/api/v1/calls").status_code == 200


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "x" * 101}, {"name": 5}])
def test_a_key_needs_a_name(api: Any, body: dict[str, Any]) -> None:
    assert api.post("/api/v1/api-keys", body, format="json").status_code == 400


def test_a_key_created_with_a_jwt_records_its_creator(client_for: Any) -> None:
    from rest_framework.test import APIClient

    membership = MembershipFactory()
    token = (
        APIClient()
        .post(
            "/api/v1/auth/token",
            {"username": membership.user.username, "password": "correct horse battery staple"},
            format="json",
        )
        .json()["access"]
    )

    body = client_for(token).post("/api/v1/api-keys", {"name": "mine"}, format="json").json()

    assert body["created_by_id"] == membership.user.pk


@pytest.mark.parametrize("path", ["/api/v1/organization", "/api/v1/assistants/me/organization"])
def test_the_organization_endpoint_describes_the_callers_organization(api: Any, organization: Any, path: str) -> None:
    body = api.get(path).json()

    assert (body["id"], body["name"], body["slug"]) == (organization.pk, "Acme", "acme")
