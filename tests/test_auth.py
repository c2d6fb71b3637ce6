from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from burki.models import ApiKey
from burki.services import api_key_create, api_key_revoke
from tests.factories import ApiKeyFactory, CallFactory, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def jwt_for(user: Any) -> str:
    response = APIClient().post("/api/v1/auth/token", {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["access"]


def test_a_request_without_a_token_is_401_with_a_json_detail() -> None:
    response = APIClient().get("/api/v1/calls")

    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer burki_not-a-real-key", "Bearer", "Bearer a b", "Bearer not.a.jwt", "Bearer " + "x" * 5000],
)
def test_a_bad_token_is_401(header: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/calls")

    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)


def test_another_scheme_is_treated_as_no_credentials() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")

    assert client.get("/api/v1/calls").status_code == 401


def test_an_api_key_acts_in_its_organization_and_records_its_use(organization: Any, client_for: Any) -> None:
    key, raw = api_key_create(organization=organization, name="ci")
    mine = CallFactory(organization=organization)
    CallFactory(organization=OrganizationFactory())

    response = client_for(raw).get("/api/v1/calls")

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == [mine.pk]
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_an_api_key_is_stored_only_as_a_hash_with_a_short_visible_prefix(organization: Any) -> None:
    key, raw = api_key_create(organization=organization, name="ci")

    assert raw.startswith("burki_")
    assert len(raw) >= len("burki_") + 32
    stored = ApiKey.objects.filter(pk=key.pk).values()[0]
    assert raw not in str(stored)
    assert key.prefix == raw[:12]


def test_last_used_is_written_at_most_once_a_minute(api_key: Any, client_for: Any) -> None:
    recent = timezone.now() - timedelta(seconds=5)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=recent)

    client_for(api_key.raw_key).get("/api/v1/calls")

    api_key.refresh_from_db()
    assert api_key.last_used_at == recent


def test_a_revoked_api_key_is_401(api_key: Any, client_for: Any) -> None:
    api_key_revoke(api_key=api_key)

    response = client_for(api_key.raw_key).get("/api/v1/calls")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked API key."}


def test_a_jwt_user_in_one_organization_acts_in_it(client_for: Any) -> None:
    membership = MembershipFactory()
    call = CallFactory(organization=membership.organization)
    CallFactory(organization=OrganizationFactory())

    response = client_for(jwt_for(membership.user)).get("/api/v1/calls")

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == [call.pk]


def test_a_jwt_user_in_several_organizations_chooses_one_with_a_header(client_for: Any) -> None:
    user = UserFactory()
    first, second = MembershipFactory(user=user), MembershipFactory(user=user)
    call = CallFactory(organization=second.organization)
    client = client_for(jwt_for(user))

    without_header = client.get("/api/v1/calls")
    chosen = client.get("/api/v1/calls", HTTP_X_ORGANIZATION_ID=str(second.organization.pk))
    other = client.get("/api/v1/calls", HTTP_X_ORGANIZATION_ID=str(first.organization.pk))

    assert without_header.status_code == 400
    assert "X-Organization-Id" in without_header.json()["errors"]
    assert [item["id"] for item in chosen.json()["items"]] == [call.pk]
    assert other.json()["items"] == []


def test_a_jwt_user_naming_an_organization_they_are_not_in_is_403(client_for: Any) -> None:
    membership = MembershipFactory()
    stranger = OrganizationFactory()
    client = client_for(jwt_for(membership.user))

    response = client.get("/api/v1/calls", HTTP_X_ORGANIZATION_ID=str(stranger.pk))
    garbage = client.get("/api/v1/calls", HTTP_X_ORGANIZATION_ID="acme")

    assert response.status_code == 403
    assert response.json() == {"detail": "You are not a member of that organization."}
    assert garbage.status_code == 400


def test_a_jwt_user_without_organization_is_403(client_for: Any) -> None:
    assert client_for(jwt_for(UserFactory())).get("/api/v1/calls").status_code == 403


def test_token_endpoint_rejects_wrong_passwords_with_a_json_detail() -> None:
    user = UserFactory()

    response = APIClient().post("/api/v1/auth/token", {"username": user.username, "password": "nope"}, format="json")

    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)


def test_a_refresh_token_gets_a_working_access_token(client_for: Any) -> None:
    membership = MembershipFactory()
    tokens = (
        APIClient()
        .post("/api/v1/auth/token", {"username": membership.user.username, "password": PASSWORD}, format="json")
        .json()
    )

    refreshed = APIClient().post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")

    assert refreshed.status_code == 200
    assert client_for(refreshed.json()["access"]).get("/api/v1/calls").status_code == 200


def test_a_refresh_token_is_not_an_access_token(client_for: Any) -> None:
    membership = MembershipFactory()
    tokens = (
        APIClient()
        .post("/api/v1/auth/token", {"username": membership.user.username, "password": PASSWORD}, format="json")
        .json()
    )

    assert client_for(tokens["refresh"]).get("/api/v1/calls").status_code == 401


def test_api_key_factory_keys_authenticate(client_for: Any) -> None:
    key = ApiKeyFactory()

    assert client_for(key.raw_key).get("/api/v1/calls").status_code == 200
