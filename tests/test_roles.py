"""Roles: what a member, an admin and an owner may do, with a JWT or with an API key of that role."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from rest_framework.test import APIClient

from assistants.models import Assistant, ConversationFlow, PhoneNumber
from burki.models import ApiKey, Membership
from burki.tenancy import OrganizationAPIView
from calls.models import Call, Suppression
from campaigns.models import Campaign, CampaignContact
from telephony.models import TelephonyAccount
from tests.factories import (
    SIMPLE_FLOW,
    ApiKeyFactory,
    CallFactory,
    ConversationFlowFactory,
    MembershipFactory,
    PhoneNumberFactory,
    UserFactory,
)
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
MEMBER, ADMIN, OWNER = "member", "admin", "owner"


def jwt_for(user: Any, client_for: Any) -> APIClient:
    response = APIClient().post("/api/v1/auth/token", {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return client_for(response.json()["access"])


@pytest.fixture
def world(organization: Any) -> dict[str, Any]:
    """One of everything in the caller's own organization: what each operation acts on."""
    number = PhoneNumberFactory(organization=organization, phone_number="+14155550100")
    flow = ConversationFlowFactory(organization=organization)
    call = CallFactory(organization=organization, assistant=number.assistant, call_sid="SBroles", status="ringing")
    spare = PhoneNumberFactory(
        organization=organization,
        phone_number="+14155550111",
        assistant=None,
        telephony_account=number.telephony_account,
    )
    key = ApiKeyFactory(organization=organization, name="spare", role=MEMBER)
    endpoint, _ = webhook_endpoint_create(organization=organization, url="https://hooks.example.com/burki")
    suppression = Suppression.objects.create(organization=organization, phone_number="+14155550133")
    campaign = Campaign.objects.create(organization=organization, name="Roles", from_numbers=["+14155550100"])
    CampaignContact.objects.create(campaign=campaign, line=1, phone_number="+14155550199")
    running = Campaign.objects.create(
        organization=organization, name="Running", from_numbers=["+14155550100"], status="running"
    )
    return {
        "suppression": suppression,
        "campaign": campaign,
        "running": running,
        "endpoint": endpoint,
        "number": number,
        "spare": spare,
        "assistant": number.assistant,
        "account": number.telephony_account,
        "flow": flow,
        "call": call,
        "key": key,
    }


def operations(world: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """(role needed, method, path, body) for every operation of the API, written out from the issue, not the table."""
    call, assistant, flow, spare, account, key, endpoint = (
        world[name] for name in ("call", "assistant", "flow", "spare", "account", "key", "endpoint")
    )
    campaign, running = f"/api/v1/campaigns/{world['campaign'].pk}", f"/api/v1/campaigns/{world['running'].pk}"
    dial = {"from_phone_number": "+14155550100", "to_phone_number": "+14155550199"}
    return [
        (MEMBER, "post", "/calls/initiate", dial),
        (MEMBER, "post", "/api/v1/calls/initiate", dial),
        (MEMBER, "post", "/api/v1/calls/validate", dial),
        (MEMBER, "get", "/api/v1/calls", None),
        (MEMBER, "get", "/api/v1/calls/export", None),
        (MEMBER, "get", f"/api/v1/calls/{call.pk}", None),
        (MEMBER, "get", f"/api/v1/calls/sid/{call.call_sid}", None),
        (MEMBER, "get", f"/api/v1/calls/{call.pk}/events", None),
        (MEMBER, "post", f"/api/v1/calls/{call.call_sid}/terminate", None),
        (MEMBER, "post", f"/api/v1/calls/{call.pk}/cancel", None),
        (MEMBER, "get", "/api/v1/assistants", None),
        (MEMBER, "post", "/api/v1/assistants", {"name": "New"}),
        (MEMBER, "get", f"/api/v1/assistants/{assistant.pk}", None),
        (MEMBER, "patch", f"/api/v1/assistants/{assistant.pk}", {"description": "changed"}),
        (MEMBER, "delete", f"/api/v1/assistants/{assistant.pk}", None),
        (MEMBER, "get", "/api/v1/flows", None),
        (MEMBER, "post", "/api/v1/flows", {"name": "F", "base_assistant_id": assistant.pk, "definition": SIMPLE_FLOW}),
        (MEMBER, "get", f"/api/v1/flows/{flow.pk}", None),
        (MEMBER, "patch", f"/api/v1/flows/{flow.pk}", {"name": "renamed"}),
        (MEMBER, "delete", f"/api/v1/flows/{flow.pk}", None),
        (MEMBER, "get", "/api/v1/phone-numbers", None),
        (MEMBER, "get", f"/api/v1/phone-numbers/{spare.pk}", None),
        (ADMIN, "post", "/api/v1/phone-numbers", {"phone_number": "+14155550122", "telephony_account_id": account.pk}),
        (ADMIN, "patch", f"/api/v1/phone-numbers/{spare.pk}", {"friendly_name": "changed"}),
        (ADMIN, "delete", f"/api/v1/phone-numbers/{spare.pk}", None),
        (MEMBER, "get", "/api/v1/telephony/accounts", None),
        (MEMBER, "get", f"/api/v1/telephony/accounts/{account.pk}", None),
        (ADMIN, "post", "/api/v1/telephony/accounts", {"provider": "sandbox", "name": "More", "credentials": {}}),
        (ADMIN, "patch", f"/api/v1/telephony/accounts/{account.pk}", {"name": "changed"}),
        (ADMIN, "delete", f"/api/v1/telephony/accounts/{account.pk}", None),
        (ADMIN, "get", f"/api/v1/telephony/accounts/{account.pk}/numbers/available", None),
        (ADMIN, "post", f"/api/v1/telephony/accounts/{account.pk}/numbers/import", {"phone_numbers": ["+14155550105"]}),
        (ADMIN, "get", "/api/v1/api-keys", None),
        (ADMIN, "post", "/api/v1/api-keys", {"name": "another", "role": "member"}),
        (ADMIN, "delete", f"/api/v1/api-keys/{key.pk}", None),
        (ADMIN, "get", "/api/v1/webhooks", None),
        (ADMIN, "post", "/api/v1/webhooks", {"url": "https://crm.example.com/hook"}),
        (ADMIN, "get", f"/api/v1/webhooks/{endpoint.pk}", None),
        (ADMIN, "patch", f"/api/v1/webhooks/{endpoint.pk}", {"description": "changed"}),
        (ADMIN, "post", f"/api/v1/webhooks/{endpoint.pk}/rotate-secret", None),
        (ADMIN, "get", f"/api/v1/webhooks/{endpoint.pk}/deliveries", None),
        (ADMIN, "delete", f"/api/v1/webhooks/{endpoint.pk}", None),
        (MEMBER, "get", "/api/v1/organization", None),
        (ADMIN, "patch", "/api/v1/organization", {"block_premium_destinations": True}),
        (MEMBER, "get", "/api/v1/assistants/me/organization", None),
        (MEMBER, "get", "/api/v1/campaigns", None),
        (MEMBER, "post", "/api/v1/campaigns", {"name": "New", "from_numbers": ["+14155550100"]}),
        (MEMBER, "get", campaign, None),
        (MEMBER, "patch", campaign, {"name": "renamed"}),
        (MEMBER, "delete", campaign, None),
        (MEMBER, "get", f"{campaign}/contacts", None),
        (MEMBER, "post", f"{campaign}/contacts", {"contacts": [{"phone_number": "+14155550198"}]}),
        (MEMBER, "post", f"{campaign}/start", None),
        (MEMBER, "post", f"{running}/pause", None),
        (MEMBER, "post", f"{running}/resume", None),
        (MEMBER, "post", f"{running}/cancel", None),
        (MEMBER, "get", f"{campaign}/results.csv", None),
        # Everyone who places calls reads and adds to the do-not-call list; taking a number off it is an admin's.
        (MEMBER, "get", "/api/v1/suppressions", None),
        (MEMBER, "post", "/api/v1/suppressions", {"phone_number": "+14155550134"}),
        (MEMBER, "post", "/api/v1/suppressions/bulk", {"items": ["+14155550135"]}),
        (MEMBER, "get", f"/api/v1/suppressions/{world['suppression'].pk}", None),
        (ADMIN, "delete", f"/api/v1/suppressions/{world['suppression'].pk}", None),
    ]


OPERATION_COUNT = 62
RANK = {MEMBER: 1, ADMIN: 2, OWNER: 3}


def snapshot() -> list[Any]:
    return [
        list(model.objects.order_by("pk").values())
        for model in (
            Call,
            Assistant,
            ConversationFlow,
            PhoneNumber,
            TelephonyAccount,
            Campaign,
            CampaignContact,
            Suppression,
        )
    ] + [list(ApiKey.objects.order_by("pk").values("pk", "name", "role", "revoked_at"))]


@pytest.mark.parametrize("index", range(OPERATION_COUNT))
@pytest.mark.parametrize("role", [MEMBER, ADMIN, OWNER])
@pytest.mark.parametrize("credential", ["api_key", "jwt"])
def test_every_operation_is_allowed_exactly_to_the_roles_the_table_gives(
    organization: Any, world: dict[str, Any], client_for: Any, index: int, role: str, credential: str
) -> None:
    ops = operations(world)
    assert len(ops) == OPERATION_COUNT
    needed, method, path, body = ops[index]
    if credential == "api_key":
        client = client_for(ApiKeyFactory(organization=organization, role=role).raw_key)
    else:
        client = jwt_for(MembershipFactory(organization=organization, role=role).user, client_for)
    before = snapshot()

    response = getattr(client, method)(path, body, format="json")

    if RANK[role] >= RANK[needed]:
        assert response.status_code not in (401, 403, 500), (method, path, response.status_code, response.content)
    else:
        assert response.status_code == 403, (method, path, response.status_code)
        assert response.json() == {
            "detail": f"This requires the {needed} role; you act with the {role} role.",
            "required_role": needed,
        }
        assert snapshot() == before


def test_a_member_cannot_mint_or_revoke_keys_nor_touch_telephony_accounts(
    organization: Any, world: dict[str, Any], client_for: Any
) -> None:
    member = jwt_for(MembershipFactory(organization=organization, role=MEMBER).user, client_for)
    account = world["account"]

    minted = member.post("/api/v1/api-keys", {"name": "mine"}, format="json")
    revoked = member.delete(f"/api/v1/api-keys/{world['key'].pk}")
    created = member.post(
        "/api/v1/telephony/accounts", {"provider": "sandbox", "name": "x", "credentials": {}}, format="json"
    )
    changed = member.patch(f"/api/v1/telephony/accounts/{account.pk}", {"is_active": False}, format="json")
    deleted = member.delete(f"/api/v1/telephony/accounts/{account.pk}")

    assert [r.status_code for r in (minted, revoked, created, changed, deleted)] == [403] * 5
    assert ApiKey.objects.filter(organization=organization).count() == 1
    world["key"].refresh_from_db()
    assert world["key"].revoked_at is None
    account.refresh_from_db()
    assert account.is_active
    assert TelephonyAccount.objects.filter(organization=organization).count() == 1


def test_a_key_minted_by_a_member_stops_working_when_the_membership_ends(organization: Any, client_for: Any) -> None:
    membership = MembershipFactory(organization=organization, role=ADMIN)
    raw = jwt_for(membership.user, client_for).post("/api/v1/api-keys", {"name": "ci"}, format="json").json()["key"]
    key_client = client_for(raw)
    assert key_client.get("/api/v1/calls").status_code == 200

    membership.delete()
    response = key_client.get("/api/v1/calls")

    assert response.status_code == 401
    assert response.json() == {"detail": "This API key's creator is no longer an active member of its organization."}


def test_a_key_minted_by_a_member_stops_working_when_the_member_is_deactivated(
    organization: Any, client_for: Any
) -> None:
    membership = MembershipFactory(organization=organization, role=ADMIN)
    raw = jwt_for(membership.user, client_for).post("/api/v1/api-keys", {"name": "ci"}, format="json").json()["key"]

    membership.user.is_active = False
    membership.user.save()

    assert client_for(raw).get("/api/v1/calls").status_code == 401


def test_a_key_minted_by_a_member_never_acts_above_the_members_current_role(organization: Any, client_for: Any) -> None:
    membership = MembershipFactory(organization=organization, role=ADMIN)
    raw = jwt_for(membership.user, client_for).post("/api/v1/api-keys", {"name": "ci"}, format="json").json()["key"]
    key_client = client_for(raw)
    assert key_client.get("/api/v1/api-keys").status_code == 200

    membership.role = MEMBER
    membership.save()

    listed = key_client.get("/api/v1/api-keys")
    assert listed.status_code == 403
    assert listed.json()["detail"] == "This requires the admin role; you act with the member role."
    assert key_client.get("/api/v1/calls").status_code == 200


def test_a_key_minted_by_a_bound_key_is_bound_to_the_same_member(organization: Any, client_for: Any) -> None:
    membership = MembershipFactory(organization=organization, role=ADMIN)
    parent = jwt_for(membership.user, client_for).post("/api/v1/api-keys", {"name": "p"}, format="json").json()["key"]
    child = client_for(parent).post("/api/v1/api-keys", {"name": "c"}, format="json").json()["key"]

    membership.delete()

    assert client_for(child).get("/api/v1/calls").status_code == 401
    assert ApiKey.objects.get(name="c").bound_to_creator


def test_an_operator_key_is_bound_to_nobody(organization: Any, client_for: Any) -> None:
    out = StringIO()
    call_command("create_api_key", "--org", organization.slug, "--name", "ops", stdout=out, stderr=StringIO())

    key = ApiKey.objects.get(name="ops")
    assert not key.bound_to_creator
    assert key.role == ADMIN
    assert client_for(out.getvalue().strip()).get("/api/v1/api-keys").status_code == 200


@pytest.mark.parametrize(
    ("creator", "requested", "allowed"),
    [
        (ADMIN, MEMBER, True),
        (ADMIN, ADMIN, True),
        (ADMIN, OWNER, False),
        (OWNER, OWNER, True),
        (OWNER, ADMIN, True),
    ],
)
def test_a_key_is_never_given_a_role_above_its_creators(
    organization: Any, client_for: Any, creator: str, requested: str, allowed: bool
) -> None:
    for client in (
        client_for(ApiKeyFactory(organization=organization, role=creator).raw_key),
        jwt_for(MembershipFactory(organization=organization, role=creator).user, client_for),
    ):
        response = client.post("/api/v1/api-keys", {"name": "new", "role": requested}, format="json")

        if allowed:
            assert response.status_code == 201
            assert response.json()["role"] == requested
        else:
            assert response.status_code == 403
            assert response.json()["required_role"] == OWNER
            assert "owner role" in response.json()["detail"]
    assert ApiKey.objects.filter(name="new").count() == (2 if allowed else 0)


def test_a_key_created_without_a_role_is_an_admin_key(api: Any) -> None:
    response = api.post("/api/v1/api-keys", {"name": "compat"}, format="json")

    assert response.status_code == 201
    assert response.json()["role"] == ADMIN
    assert api.get("/api/v1/api-keys").json()["items"][0]["role"] == ADMIN


def test_an_unknown_role_is_a_400_naming_the_field(api: Any) -> None:
    response = api.post("/api/v1/api-keys", {"name": "x", "role": "superuser"}, format="json")

    assert response.status_code == 400
    assert "role" in response.json()["errors"]


def test_an_admin_cannot_revoke_an_owners_key(organization: Any, client_for: Any) -> None:
    owners = ApiKeyFactory(organization=organization, role=OWNER)
    admin = client_for(ApiKeyFactory(organization=organization, role=ADMIN).raw_key)

    response = admin.delete(f"/api/v1/api-keys/{owners.pk}")

    assert response.status_code == 403
    owners.refresh_from_db()
    assert owners.revoked_at is None
    assert client_for(owners.raw_key).delete(f"/api/v1/api-keys/{owners.pk}").status_code == 204


def test_create_api_key_takes_a_role(organization: Any, client_for: Any) -> None:
    out = StringIO()
    call_command(
        "create_api_key", "--org", organization.slug, "--name", "m", "--role", "member", stdout=out, stderr=StringIO()
    )

    member = client_for(out.getvalue().strip())
    assert ApiKey.objects.get(name="m").role == MEMBER
    assert member.get("/api/v1/calls").status_code == 200
    assert member.get("/api/v1/api-keys").status_code == 403


def test_seed_demo_takes_a_role(client_for: Any) -> None:
    out = StringIO()
    call_command("seed_demo", "--json", "--role", "member", stdout=out)

    seeded = json.loads(out.getvalue())
    assert seeded["api_key_role"] == MEMBER
    assert client_for(seeded["api_key"]).post("/api/v1/api-keys", {"name": "x"}, format="json").status_code == 403


@pytest.mark.parametrize("header", ["²", "١٢", "1" * 40, "-1", " 1", "1.0", "0x1", "\uff11"])
def test_an_organization_header_that_is_not_plain_digits_is_a_400(client_for: Any, header: str) -> None:
    membership = MembershipFactory()

    response = jwt_for(membership.user, client_for).get("/api/v1/calls", HTTP_X_ORGANIZATION_ID=header)

    assert response.status_code == 400
    assert response.json()["errors"] == {"X-Organization-Id": ["Must be an organization id."]}


def test_a_huge_organization_header_of_plain_digits_is_a_403_not_a_500(client_for: Any) -> None:
    membership = MembershipFactory()

    response = jwt_for(membership.user, client_for).get("/api/v1/calls", HTTP_X_ORGANIZATION_ID="9" * 18)

    assert response.status_code == 403


def test_the_role_each_operation_needs_is_in_the_openapi_descriptions(api: Any) -> None:
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json").json()

    def description(path: str, method: str) -> str:
        return str(schema["paths"][path][method].get("description", ""))

    assert "Requires the **member** role" in description("/calls/initiate", "post")
    assert "Requires the **member** role" in description("/api/v1/telephony/accounts", "get")
    assert "Requires the **admin** role" in description("/api/v1/telephony/accounts", "post")
    assert "Requires the **admin** role" in description("/api/v1/api-keys", "get")
    assert "Requires the **admin** role" in description("/api/v1/phone-numbers/{number_id}", "delete")


def test_a_routed_api_view_without_a_known_resource_fails_the_system_checks(monkeypatch: Any) -> None:
    from calls.views import CallListApi

    assert not [m for m in run_checks() if m.id == "burki.E003"]
    monkeypatch.setattr(CallListApi, "resource", "callz")

    errors = [m for m in run_checks() if m.id == "burki.E003"]

    assert len(errors) == 1
    assert "calls.views.CallListApi" in errors[0].msg
    assert issubclass(CallListApi, OrganizationAPIView)


def test_the_other_organizations_memberships_give_no_role_here(client_for: Any) -> None:
    user = UserFactory()
    mine = MembershipFactory(user=user, role=MEMBER)
    MembershipFactory(user=user, role=OWNER)
    client = jwt_for(user, client_for)

    response = client.get("/api/v1/api-keys", HTTP_X_ORGANIZATION_ID=str(mine.organization.pk))

    assert response.status_code == 403
    assert Membership.objects.filter(user=user).count() == 2
