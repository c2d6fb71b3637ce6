"""GET and PATCH /api/v1/organization: an organization's admins set its limit, destination policy and retention."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from burki.models import Organization
from tests.factories import ApiKeyFactory, MembershipFactory, OrganizationFactory
from tests.test_roles import jwt_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/organization"
DIAL = {"from_phone_number": "+14155550100", "to_phone_number": "+14155550199"}


@pytest.fixture
def admin(organization: Organization, client_for: Any) -> Any:
    return client_for(ApiKeyFactory(organization=organization, role="admin").raw_key)


@override_settings(BURKI_MAX_CONCURRENT_CALLS=10, BURKI_MAX_CONCURRENT_CALLS_LIMIT=100)
def test_the_organization_shows_its_settings_as_they_apply(api: Any, organization: Organization) -> None:
    body = api.get(URL).json()

    assert body == {
        "id": organization.pk,
        "name": "Acme",
        "slug": "acme",
        "max_concurrent_calls": 10,
        "max_concurrent_calls_maximum": 100,
        "allowed_destination_countries": [],
        "block_premium_destinations": True,
        "call_retention_days": 400,
        "redact_after_days": None,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }


@override_settings(BURKI_MAX_CONCURRENT_CALLS_LIMIT=100)
def test_an_admin_changes_the_limit_the_destination_policy_and_the_retention(
    admin: Any, organization: Organization
) -> None:
    changes = {
        "name": "Acme Calling",
        "max_concurrent_calls": 100,
        "allowed_destination_countries": ["US", "CA"],
        "block_premium_destinations": False,
        "call_retention_days": 90,
        "redact_after_days": 30,
    }

    response = admin.patch(URL, changes, format="json")

    assert response.status_code == 200, response.content
    assert {name: response.json()[name] for name in changes} == changes
    organization.refresh_from_db()
    assert (organization.name, organization.slug, organization.max_concurrent_calls) == ("Acme Calling", "acme", 100)
    assert organization.allowed_destination_countries == ["US", "CA"]
    assert organization.block_premium_destinations is False
    assert (organization.call_retention_days, organization.redact_after_days) == (90, 30)
    assert {name: admin.get(URL).json()[name] for name in changes} == changes


@override_settings(BURKI_MAX_CONCURRENT_CALLS=10)
def test_only_the_fields_sent_change_and_null_returns_the_limit_to_the_server_default(
    admin: Any, organization: Organization
) -> None:
    Organization.objects.filter(pk=organization.pk).update(max_concurrent_calls=3, allowed_destination_countries=["US"])

    nothing = admin.patch(URL, {}, format="json")
    reset = admin.patch(URL, {"max_concurrent_calls": None}, format="json")

    assert nothing.json()["max_concurrent_calls"] == 3
    assert reset.json()["max_concurrent_calls"] == 10
    organization.refresh_from_db()
    assert (organization.max_concurrent_calls, organization.allowed_destination_countries) == (None, ["US"])


def test_a_member_may_read_but_not_change_the_organization(organization: Organization, client_for: Any) -> None:
    for member in (
        client_for(ApiKeyFactory(organization=organization, role="member").raw_key),
        jwt_for(MembershipFactory(organization=organization, role="member").user, client_for),
    ):
        assert member.get(URL).status_code == 200
        response = member.patch(URL, {"max_concurrent_calls": 50}, format="json")

        assert response.status_code == 403
        assert response.json() == {
            "detail": "This requires the admin role; you act with the member role.",
            "required_role": "admin",
        }
    organization.refresh_from_db()
    assert organization.max_concurrent_calls is None


@override_settings(BURKI_MAX_CONCURRENT_CALLS_LIMIT=100)
def test_a_limit_above_the_platform_maximum_is_a_400(admin: Any, organization: Organization) -> None:
    response = admin.patch(URL, {"max_concurrent_calls": 101}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid request.",
        "errors": {"max_concurrent_calls": ["At most 100, the platform's maximum (ask the operator for more)."]},
    }
    organization.refresh_from_db()
    assert organization.max_concurrent_calls is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"allowed_destination_countries": ["USA"]}, "allowed_destination_countries"),
        ({"allowed_destination_countries": ["us"]}, "allowed_destination_countries"),
        ({"allowed_destination_countries": ["XX"]}, "allowed_destination_countries"),
        ({"allowed_destination_countries": "US"}, "allowed_destination_countries"),
        ({"max_concurrent_calls": 0}, "max_concurrent_calls"),
        ({"max_concurrent_calls": "5"}, "max_concurrent_calls"),
        ({"max_concurrent_calls": 2**40}, "max_concurrent_calls"),
        ({"block_premium_destinations": "false"}, "block_premium_destinations"),
        ({"block_premium_destinations": None}, "block_premium_destinations"),
        ({"call_retention_days": 0}, "call_retention_days"),
        ({"call_retention_days": 30, "redact_after_days": 30}, "redact_after_days"),
        ({"max_concurent_calls": 5}, "max_concurent_calls"),
        ({"slug": "renamed"}, "slug"),
        ({"name": ""}, "name"),
    ],
    ids=[
        "three letters",
        "lower case",
        "no such country",
        "not a list",
        "zero calls",
        "a string",
        "past the database",
        "a string for a boolean",
        "null for a boolean",
        "zero days",
        "redacted when deleted",
        "misspelt field",
        "the operator's slug",
        "a blank name",
    ],
)
def test_invalid_or_unknown_settings_are_a_400_naming_the_field_and_change_nothing(
    admin: Any, organization: Organization, changes: dict[str, Any], field: str
) -> None:
    before = Organization.objects.filter(pk=organization.pk).values().get()

    response = admin.patch(URL, changes, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["detail"] == "Invalid request."
    assert set(response.json()["errors"]) == {field}
    assert Organization.objects.filter(pk=organization.pk).values().get() == before


def test_a_retention_change_is_checked_against_the_stored_redaction(admin: Any, organization: Organization) -> None:
    Organization.objects.filter(pk=organization.pk).update(redact_after_days=60)

    response = admin.patch(URL, {"call_retention_days": 30}, format="json")

    assert response.status_code == 400
    assert "redact_after_days" in response.json()["errors"]


def test_a_new_limit_takes_effect_on_the_next_initiate(admin: Any, number: Any) -> None:
    assert admin.patch(URL, {"max_concurrent_calls": 1}, format="json").status_code == 200

    first = admin.post("/calls/initiate", DIAL, format="json")
    second = admin.post("/calls/initiate", {**DIAL, "to_phone_number": "+14155550198"}, format="json")

    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json()["limit"] == "max_concurrent_calls"
    assert "1 live calls" in second.json()["detail"]
    assert admin.patch(URL, {"max_concurrent_calls": 2}, format="json").status_code == 200
    assert admin.post("/calls/initiate", {**DIAL, "to_phone_number": "+14155550198"}, format="json").status_code == 200


def test_a_new_destination_policy_takes_effect_on_the_next_initiate(admin: Any, number: Any) -> None:
    assert admin.patch(URL, {"allowed_destination_countries": ["CA"]}, format="json").status_code == 200

    response = admin.post("/calls/initiate", DIAL, format="json")

    assert response.status_code == 403


def test_an_admin_changes_only_the_organization_it_acts_in(client_for: Any) -> None:
    mine, theirs = OrganizationFactory(), OrganizationFactory()
    user = MembershipFactory(organization=mine, role="admin").user
    MembershipFactory(user=user, organization=theirs, role="member")
    client = jwt_for(user, client_for)

    as_member = client.patch(URL, {"max_concurrent_calls": 7}, HTTP_X_ORGANIZATION_ID=str(theirs.pk), format="json")
    outsider = client_for(ApiKeyFactory(organization=mine, role="owner").raw_key).patch(
        URL, {"max_concurrent_calls": 7}, HTTP_X_ORGANIZATION_ID=str(theirs.pk), format="json"
    )
    as_admin = client.patch(URL, {"max_concurrent_calls": 7}, HTTP_X_ORGANIZATION_ID=str(mine.pk), format="json")

    assert as_member.status_code == 403
    # An API key acts in its own organization, whatever the header says.
    assert outsider.json()["id"] == mine.pk
    assert as_admin.json()["id"] == mine.pk
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert (theirs.max_concurrent_calls, mine.max_concurrent_calls) == (None, 7)


def test_burkis_historical_path_reads_the_organization_but_changes_nothing(admin: Any) -> None:
    assert admin.get("/api/v1/assistants/me/organization").status_code == 200

    response = admin.patch("/api/v1/assistants/me/organization", {"max_concurrent_calls": 5}, format="json")

    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PATCH" not allowed.'}
