"""The admin keeps organizations apart.

A superuser (the operator) sees everything. A staff user who is not a superuser sees and edits only the
organizations where they are admin or owner: every changelist, page, choice, action and the test-call form;
anything else is a 404. Secrets in assistant settings are masked, as in the API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django import forms
from django.contrib.auth.models import Permission, User
from django.db.models import Model
from django.test import Client, override_settings
from django.urls import reverse

from assistants.models import Assistant, ConversationFlow, PhoneNumber
from assistants.secrets import MASK
from burki.models import ApiKey, Membership, Organization
from calls.models import Call, CallEvent, Suppression
from telephony.backends import sandbox
from telephony.models import TelephonyAccount
from tests.factories import (
    SIMPLE_FLOW,
    ApiKeyFactory,
    AssistantFactory,
    CallFactory,
    ConversationFlowFactory,
    MembershipFactory,
    OrganizationFactory,
    PhoneNumberFactory,
    TelephonyAccountFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

OUR_APPS = ("burki", "assistants", "telephony", "calls")
OWNER, ADMIN, MEMBER = Membership.Role.OWNER, Membership.Role.ADMIN, Membership.Role.MEMBER
LLM_SECRET = "sk-llm-secret-that-must-never-be-rendered"
VOICE_SECRET = "voice-secret-that-must-never-be-rendered"
WEBHOOK_SECRET = "webhook-token-that-must-never-be-rendered"


@dataclass
class Tenant:
    """One organization and one object of each kind, every name tagged with the organization's."""

    organization: Organization
    member: Membership
    account: TelephonyAccount
    assistant: Assistant
    flow: ConversationFlow
    number: PhoneNumber
    api_key: ApiKey
    call: Call
    event: CallEvent
    suppression: Suppression


def populate(tag: str, digit: int) -> Tenant:
    organization = OrganizationFactory(name=f"{tag.title()} Org", slug=f"{tag}-org")
    member = MembershipFactory(organization=organization, user=UserFactory(username=f"{tag}-member"), role=MEMBER)
    account = TelephonyAccountFactory(organization=organization, name=f"{tag}-account")
    assistant = AssistantFactory(organization=organization, name=f"{tag}-assistant")
    flow = ConversationFlowFactory(organization=organization, name=f"{tag}-flow", base_assistant=assistant)
    number = PhoneNumberFactory(
        organization=organization,
        phone_number=f"+141555501{digit}0",
        friendly_name=f"{tag}-number",
        telephony_account=account,
        assistant=assistant,
    )
    call = CallFactory(
        organization=organization,
        assistant=assistant,
        phone_number=number,
        telephony_account=account,
        from_number=number.phone_number,
        to_number=f"+141555501{digit}9",
        call_sid=f"{tag}-sid",
    )
    return Tenant(
        organization=organization,
        member=member,
        account=account,
        assistant=assistant,
        flow=flow,
        number=number,
        api_key=ApiKeyFactory(organization=organization, name=f"{tag}-key"),
        call=call,
        event=CallEvent.objects.create(call=call, provider="sandbox", event_type=f"{tag}-answered", key=f"{tag}-1"),
        suppression=Suppression.objects.create(
            organization=organization, phone_number=f"+141555501{digit}8", reason=f"{tag} asked", call=call
        ),
    )


@pytest.fixture
def alpha(db: Any) -> Tenant:
    return populate("alpha", 1)


@pytest.fixture
def bravo(db: Any) -> Tenant:
    return populate("bravo", 2)


def staff_user(username: str, **roles: Organization) -> Any:
    """A staff user, not a superuser, with every permission of our apps and a membership per role given."""
    user = UserFactory(username=username, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=OUR_APPS))
    for role, organization in roles.items():
        MembershipFactory(user=user, organization=organization, role=role)
    return user


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alpha_admin(alpha: Tenant) -> User:
    return staff_user("alpha-admin", admin=alpha.organization)


@pytest.fixture
def admin_of_alpha(alpha_admin: User) -> Client:
    return logged_in(alpha_admin)


def admin_url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def page_text(response: Any) -> str:
    return response.content.decode()


def form_errors(response: Any) -> dict[str, list[str]]:
    form = response.context["adminform"].form
    return {name: list(errors) for name, errors in form.errors.items()}


def organization_id_of(obj: Model) -> int:
    if isinstance(obj, Organization):
        return obj.pk
    if isinstance(obj, CallEvent):
        return obj.call.organization_id
    organization_id: int = obj.organization_id
    return organization_id


MODELS: list[tuple[type[Model], str]] = [
    (Organization, "organization"),
    (Membership, "member"),
    (ApiKey, "api_key"),
    (TelephonyAccount, "account"),
    (Assistant, "assistant"),
    (ConversationFlow, "flow"),
    (PhoneNumber, "number"),
    (Call, "call"),
    (CallEvent, "event"),
    (Suppression, "suppression"),
]
EDITABLE = [(model, attr) for model, attr in MODELS if model not in (Organization, Call, CallEvent)]


def ids(cases: list[tuple[type[Model], str]]) -> list[str]:
    return [str(model._meta.model_name) for model, _ in cases]


# --- changelists, pages and choices ----------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "attr"), MODELS, ids=ids(MODELS))
def test_a_changelist_shows_only_the_organizations_the_user_administers(
    admin_of_alpha: Client, alpha: Tenant, bravo: Tenant, model: type[Model], attr: str
) -> None:
    response = admin_of_alpha.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert getattr(alpha, attr) in shown
    assert {organization_id_of(obj) for obj in shown} == {alpha.organization.pk}
    # Nothing of the other organization, not even its name in a filter.
    assert "bravo" not in page_text(response).lower()


@pytest.mark.parametrize(("model", "attr"), MODELS, ids=ids(MODELS))
def test_another_organizations_object_is_a_404_on_every_page(
    admin_of_alpha: Client, alpha: Tenant, bravo: Tenant, model: type[Model], attr: str
) -> None:
    theirs = getattr(bravo, attr)

    responses = [
        admin_of_alpha.get(admin_url(model, "change", theirs.pk)),
        admin_of_alpha.get(admin_url(model, "history", theirs.pk)),
        admin_of_alpha.get(admin_url(model, "delete", theirs.pk)),
        admin_of_alpha.post(admin_url(model, "change", theirs.pk), {"name": "taken over"}),
        admin_of_alpha.post(admin_url(model, "delete", theirs.pk), {"post": "yes"}),
    ]

    assert [response.status_code for response in responses] == [404] * 5
    assert all("bravo" not in page_text(response).lower() for response in responses)
    assert model._default_manager.filter(pk=theirs.pk).exists()
    # The same pages of their own object open: the 404 is about whose object it is.
    assert admin_of_alpha.get(admin_url(model, "change", getattr(alpha, attr).pk)).status_code == 200


@pytest.mark.parametrize(("model", "attr"), MODELS, ids=ids(MODELS))
def test_an_unknown_id_is_the_same_404(
    admin_of_alpha: Client, admin_client: Client, model: type[Model], attr: str
) -> None:
    assert admin_of_alpha.get(admin_url(model, "change", 999_999)).status_code == 404
    assert admin_client.get(admin_url(model, "change", 999_999)).status_code == 404


def offered_choices(response: Any) -> dict[str, list[Model]]:
    form = response.context["adminform"].form
    return {
        name: list(field.queryset)
        for name, field in form.fields.items()
        if isinstance(field, forms.ModelChoiceField) and field.queryset is not None and field.queryset.model is not User
    }


@pytest.mark.parametrize(("model", "attr"), EDITABLE, ids=ids(EDITABLE))
def test_add_and_change_pages_offer_only_the_administered_organizations_objects(
    admin_of_alpha: Client, alpha: Tenant, bravo: Tenant, model: type[Model], attr: str
) -> None:
    pages = [admin_url(model, "add"), admin_url(model, "change", getattr(alpha, attr).pk)]

    for url in pages:
        response = admin_of_alpha.get(url)
        assert response.status_code == 200
        assert "bravo" not in page_text(response).lower()
        for name, offered in offered_choices(response).items():
            assert {organization_id_of(obj) for obj in offered} <= {alpha.organization.pk}, (url, name)
    assert offered_choices(admin_of_alpha.get(pages[0]))  # the add page does offer choices


AUTOCOMPLETES = [
    ("burki", "membership", "organization", "Alpha Org"),
    ("burki", "apikey", "organization", "Alpha Org"),
    ("telephony", "telephonyaccount", "organization", "Alpha Org"),
    ("assistants", "assistant", "organization", "Alpha Org"),
    ("assistants", "conversationflow", "base_assistant", "alpha-assistant"),
    ("assistants", "phonenumber", "telephony_account", "alpha-account (Sandbox (no real calls))"),
    ("assistants", "phonenumber", "flow", "alpha-flow"),
    ("calls", "call", "phone_number", "+14155550110 alpha-number"),
]


@pytest.mark.parametrize(("app_label", "model_name", "field_name", "own"), AUTOCOMPLETES)
def test_autocomplete_offers_only_the_administered_organizations_objects(
    admin_of_alpha: Client, alpha: Tenant, bravo: Tenant, app_label: str, model_name: str, field_name: str, own: str
) -> None:
    params = {"app_label": app_label, "model_name": model_name, "field_name": field_name, "term": ""}

    response = admin_of_alpha.get(reverse("admin:autocomplete"), params)

    assert response.status_code == 200
    assert [result["text"] for result in response.json()["results"]] == [own]


def test_the_organization_filter_lists_only_administered_organizations(alpha: Tenant, bravo: Tenant) -> None:
    # Two organizations to choose from, or the admin leaves the filter out.
    charlie = OrganizationFactory(name="Charlie Org")
    client = logged_in(staff_user("alpha-admin", admin=alpha.organization, owner=charlie))

    response = client.get(admin_url(Assistant, "changelist"))

    [organization_filter] = [spec for spec in response.context["cl"].filter_specs if spec.title == "organization"]
    assert [label for _, label in organization_filter.lookup_choices] == ["Alpha Org", "Charlie Org"]
    assert "Bravo Org" not in page_text(response)


# --- forged posts and actions ----------------------------------------------------------------------------------


def _forged_key(bravo: Tenant, user: User) -> dict[str, Any]:
    return {"organization": bravo.organization.pk, "name": "forged"}


def _forged_membership(bravo: Tenant, user: User) -> dict[str, Any]:
    return {"organization": bravo.organization.pk, "user": user.pk, "role": "owner"}


def _forged_account(bravo: Tenant, user: User) -> dict[str, Any]:
    return {"organization": bravo.organization.pk, "provider": "sandbox", "name": "forged", "is_active": "on"}


def _forged_assistant(bravo: Tenant, user: User) -> dict[str, Any]:
    settings = {name: "{}" for name in ("llm_settings", "tts_settings", "stt_settings", "custom_settings")}
    return {"organization": bravo.organization.pk, "name": "forged", "max_call_length": "600", **settings}


def _forged_flow(bravo: Tenant, user: User) -> dict[str, Any]:
    return {
        "organization": bravo.organization.pk,
        "name": "forged",
        "base_assistant": bravo.assistant.pk,
        "is_active": "on",
        "definition": json.dumps(SIMPLE_FLOW),
    }


def _forged_number(bravo: Tenant, user: User) -> dict[str, Any]:
    return {
        "organization": bravo.organization.pk,
        "phone_number": "+14155550188",
        "friendly_name": "forged",
        "telephony_account": bravo.account.pk,
        "assistant": bravo.assistant.pk,
        "is_active": "on",
    }


def _forged_suppression(bravo: Tenant, user: User) -> dict[str, Any]:
    return {"organization": bravo.organization.pk, "phone_number": "+14155550188", "reason": "forged"}


FORGED: list[tuple[type[Model], Callable[[Tenant, User], dict[str, Any]], dict[str, Any]]] = [
    (ApiKey, _forged_key, {"name": "forged"}),
    (Membership, _forged_membership, {"user__username": "alpha-admin"}),
    (TelephonyAccount, _forged_account, {"name": "forged"}),
    (Assistant, _forged_assistant, {"name": "forged"}),
    (ConversationFlow, _forged_flow, {"name": "forged"}),
    (PhoneNumber, _forged_number, {"friendly_name": "forged"}),
    (Suppression, _forged_suppression, {"reason": "forged"}),
]


@pytest.mark.parametrize(("model", "payload", "made"), FORGED, ids=[m._meta.model_name for m, _, _ in FORGED])
def test_a_forged_post_cannot_create_an_object_in_another_organization(
    admin_of_alpha: Client,
    alpha_admin: User,
    bravo: Tenant,
    model: type[Model],
    payload: Callable[[Tenant, User], dict[str, Any]],
    made: dict[str, Any],
) -> None:
    response = admin_of_alpha.post(admin_url(model, "add"), payload(bravo, alpha_admin))

    assert response.status_code == 200
    assert "organization" in form_errors(response)
    assert not model._default_manager.filter(organization=bravo.organization, **made).exists()


def test_a_flow_cannot_be_based_on_another_organizations_assistant(
    admin_of_alpha: Client, alpha: Tenant, bravo: Tenant
) -> None:
    url = admin_url(ConversationFlow, "change", alpha.flow.pk)
    data = {"name": "alpha-flow", "base_assistant": bravo.assistant.pk, "is_active": "on"}

    response = admin_of_alpha.post(url, {**data, "definition": json.dumps(SIMPLE_FLOW)})

    assert response.status_code == 200
    assert "base_assistant" in form_errors(response)
    alpha.flow.refresh_from_db()
    assert alpha.flow.base_assistant == alpha.assistant


SPARES: list[tuple[type[Model], Callable[[Tenant], Any]]] = [
    # Not theirs: any organization without API keys (a key is never deleted, so neither is its organization).
    (Organization, lambda tenant: OrganizationFactory()),
    (Membership, lambda tenant: tenant.member),
    (TelephonyAccount, lambda tenant: TelephonyAccountFactory(organization=tenant.organization)),
    (Assistant, lambda tenant: AssistantFactory(organization=tenant.organization)),
    (ConversationFlow, lambda tenant: tenant.flow),
    (PhoneNumber, lambda tenant: tenant.number),
    (Suppression, lambda tenant: tenant.suppression),
]


@pytest.mark.parametrize(("model", "spare"), SPARES, ids=[m._meta.model_name for m, _ in SPARES])
def test_bulk_delete_of_another_organizations_objects_deletes_nothing(
    admin_of_alpha: Client, bravo: Tenant, model: type[Model], spare: Callable[[Tenant], Any]
) -> None:
    theirs = spare(bravo)

    admin_of_alpha.post(
        admin_url(model, "changelist"), {"action": "delete_selected", "_selected_action": [theirs.pk], "post": "yes"}
    )

    assert model._default_manager.filter(pk=theirs.pk).exists()


def test_bulk_delete_of_the_organizations_own_objects_works(admin_of_alpha: Client, alpha: Tenant) -> None:
    own = AssistantFactory(organization=alpha.organization)

    response = admin_of_alpha.post(
        admin_url(Assistant, "changelist"), {"action": "delete_selected", "_selected_action": [own.pk], "post": "yes"}
    )

    assert response.status_code == 302
    assert not Assistant.objects.filter(pk=own.pk).exists()


def test_revoking_another_organizations_key_does_nothing(
    admin_of_alpha: Client, alpha: Tenant, bravo: Tenant, client_for: Any
) -> None:
    theirs = ApiKeyFactory(organization=bravo.organization)

    admin_of_alpha.post(
        admin_url(ApiKey, "changelist"), {"action": "revoke_selected_keys", "_selected_action": [theirs.pk]}
    )

    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert client_for(theirs.raw_key).get("/api/v1/calls").status_code == 200


def test_a_key_is_minted_for_the_administered_organization(admin_of_alpha: Client, alpha: Tenant) -> None:
    response = admin_of_alpha.post(admin_url(ApiKey, "add"), {"organization": alpha.organization.pk, "name": "ci"})

    assert response.status_code == 302
    assert ApiKey.objects.filter(organization=alpha.organization, name="ci").exists()


def test_an_organization_admin_mints_keys_at_most_at_its_own_role_and_bound_to_itself(
    admin_of_alpha: Client, alpha: Tenant, client_for: Any
) -> None:
    owner_key = admin_of_alpha.post(
        admin_url(ApiKey, "add"), {"organization": alpha.organization.pk, "name": "boss", "role": OWNER}
    )
    member_key = admin_of_alpha.post(
        admin_url(ApiKey, "add"), {"organization": alpha.organization.pk, "name": "ci", "role": MEMBER}, follow=True
    )

    assert owner_key.status_code == 200
    assert "At most your own role" in owner_key.content.decode()
    assert not ApiKey.objects.filter(name="boss").exists()
    key = ApiKey.objects.get(name="ci")
    assert (key.role, key.bound_to_creator) == (MEMBER, True)
    assert key.created_by is not None
    [raw] = re.findall(r"burki_[A-Za-z0-9_-]{43}", member_key.content.decode())
    assert client_for(raw).get("/api/v1/calls").status_code == 200
    Membership.objects.filter(user=key.created_by, organization=alpha.organization).delete()
    assert client_for(raw).get("/api/v1/calls").status_code == 401


def test_a_superusers_key_has_the_role_chosen_and_is_bound_to_nobody(admin_client: Client, alpha: Tenant) -> None:
    response = admin_client.post(
        admin_url(ApiKey, "add"), {"organization": alpha.organization.pk, "name": "ops", "role": OWNER}
    )

    assert response.status_code == 302
    key = ApiKey.objects.get(name="ops")
    assert (key.role, key.bound_to_creator) == (OWNER, False)
    assert "Owner" in admin_client.get(admin_url(ApiKey, "change", key.pk)).content.decode()


def test_an_organization_admin_cannot_revoke_an_owners_key(admin_of_alpha: Client, alpha: Tenant) -> None:
    owners = ApiKeyFactory(organization=alpha.organization, name="owners", role=OWNER)

    admin_of_alpha.post(
        admin_url(ApiKey, "changelist"), {"action": "revoke_selected_keys", "_selected_action": [owners.pk]}
    )

    owners.refresh_from_db()
    assert owners.revoked_at is None


# --- the test-call form ----------------------------------------------------------------------------------------


def test_the_test_call_form_of_another_organizations_number_is_a_404(
    admin_of_alpha: Client, alpha: Tenant, bravo: Tenant
) -> None:
    url = reverse("admin:calls_call_place_test_call", args=[bravo.number.pk])
    calls = Call.objects.count()

    shown = admin_of_alpha.get(url)
    placed = admin_of_alpha.post(url, {"to_number": "+14155550199", "variables": ""})

    assert (shown.status_code, placed.status_code) == (404, 404)
    assert "bravo" not in page_text(shown).lower()
    assert sandbox.outbox == []
    assert Call.objects.count() == calls


def test_a_test_call_is_placed_from_the_administered_organizations_number(
    admin_of_alpha: Client, alpha: Tenant
) -> None:
    url = reverse("admin:calls_call_place_test_call", args=[alpha.number.pk])

    response = admin_of_alpha.post(url, {"to_number": "+14155550199", "variables": ""})

    assert response.status_code == 302
    [sent] = sandbox.outbox
    assert sent.request.from_number == alpha.number.phone_number


# --- who sees what ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "attr"), MODELS, ids=ids(MODELS))
def test_a_superuser_sees_every_organization(
    admin_client: Client, alpha: Tenant, bravo: Tenant, model: type[Model], attr: str
) -> None:
    response = admin_client.get(admin_url(model, "changelist"))

    shown = list(response.context["cl"].result_list)
    assert getattr(alpha, attr) in shown
    assert getattr(bravo, attr) in shown
    assert admin_client.get(admin_url(model, "change", getattr(bravo, attr).pk)).status_code == 200


def test_a_staff_member_who_administers_nothing_sees_nothing(alpha: Tenant, bravo: Tenant) -> None:
    client = logged_in(staff_user("alpha-member-staff", member=alpha.organization))

    for model, attr in MODELS:
        response = client.get(admin_url(model, "changelist"))
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [], model
        assert client.get(admin_url(model, "change", getattr(alpha, attr).pk)).status_code == 404
    for model, _ in EDITABLE:
        assert client.get(admin_url(model, "add")).status_code == 403
    assert client.get(reverse("admin:calls_call_place_test_call", args=[alpha.number.pk])).status_code == 404


def test_permissions_are_still_needed_on_top_of_the_scope(alpha: Tenant) -> None:
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=alpha.organization, role=OWNER)
    client = logged_in(user)

    assert client.get(admin_url(Assistant, "changelist")).status_code == 403
    assert client.get(admin_url(Assistant, "change", alpha.assistant.pk)).status_code == 403


# --- organizations and memberships -----------------------------------------------------------------------------


def test_an_organization_admin_cannot_add_or_delete_organizations(admin_of_alpha: Client, alpha: Tenant) -> None:
    added = admin_of_alpha.post(admin_url(Organization, "add"), {"name": "Mine", "slug": "mine"})
    deleted = admin_of_alpha.post(admin_url(Organization, "delete", alpha.organization.pk), {"post": "yes"})

    assert (added.status_code, deleted.status_code) == (403, 403)
    assert not Organization.objects.filter(slug="mine").exists()
    assert Organization.objects.filter(pk=alpha.organization.pk).exists()


def organization_form(organization: Organization, **changes: str) -> dict[str, str]:
    data = {
        "name": organization.name,
        "slug": organization.slug,
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    return {**data, **changes}


def test_an_organization_admin_sets_its_limit_and_policy_as_the_api_lets_them_but_not_the_slug(
    admin_of_alpha: Client, alpha: Tenant
) -> None:
    url = admin_url(Organization, "change", alpha.organization.pk)
    settings = {"max_concurrent_calls": "50", "allowed_destination_countries": '["US"]'}

    response = admin_of_alpha.post(
        url, organization_form(alpha.organization, name="Alpha Renamed", slug="alpha-renamed", **settings)
    )

    assert response.status_code == 302
    organization = Organization.objects.get(pk=alpha.organization.pk)
    assert (organization.name, organization.slug) == ("Alpha Renamed", "alpha-org")
    assert (organization.max_concurrent_calls, organization.allowed_destination_countries) == (50, ["US"])
    # Left unticked on the form: the admin may turn the premium-rate block off, as through the API.
    assert organization.block_premium_destinations is False


@override_settings(BURKI_MAX_CONCURRENT_CALLS_LIMIT=100)
def test_an_organization_admin_cannot_lift_its_limit_above_the_platform_maximum(
    admin_of_alpha: Client, alpha: Tenant
) -> None:
    url = admin_url(Organization, "change", alpha.organization.pk)

    response = admin_of_alpha.post(url, organization_form(alpha.organization, max_concurrent_calls="500"))

    assert response.status_code == 200
    assert form_errors(response)["max_concurrent_calls"] == [
        "At most 100, the platform's maximum (ask the operator for more)."
    ]
    assert Organization.objects.get(pk=alpha.organization.pk).max_concurrent_calls is None


@override_settings(BURKI_MAX_CONCURRENT_CALLS_LIMIT=100)
def test_a_superuser_sets_any_limit_and_the_organization_admin_can_still_save_around_it(
    admin_client: Client, admin_of_alpha: Client, alpha: Tenant
) -> None:
    url = admin_url(Organization, "change", alpha.organization.pk)

    lifted = admin_client.post(url, organization_form(alpha.organization, max_concurrent_calls="500"))
    renamed = admin_of_alpha.post(
        url, organization_form(alpha.organization, name="Alpha Again", max_concurrent_calls="500")
    )

    assert (lifted.status_code, renamed.status_code) == (302, 302)
    organization = Organization.objects.get(pk=alpha.organization.pk)
    assert (organization.name, organization.max_concurrent_calls) == ("Alpha Again", 500)


def test_the_organization_page_cannot_add_members_for_an_organization_admin(
    admin_of_alpha: Client, alpha: Tenant
) -> None:
    outsider = UserFactory(username="outsider")
    inline = {
        "memberships-TOTAL_FORMS": "1",
        "memberships-0-user": str(outsider.pk),
        "memberships-0-role": "owner",
    }

    admin_of_alpha.post(
        admin_url(Organization, "change", alpha.organization.pk), organization_form(alpha.organization, **inline)
    )

    assert not Membership.objects.filter(user=outsider).exists()


def membership_form(user: User, organization: Organization, role: str) -> dict[str, Any]:
    return {"user": user.pk, "organization": organization.pk, "role": role}


def test_an_organization_admin_adds_members_and_admins(admin_of_alpha: Client, alpha: Tenant) -> None:
    newcomer = UserFactory(username="newcomer")

    response = admin_of_alpha.post(admin_url(Membership, "add"), membership_form(newcomer, alpha.organization, ADMIN))

    assert response.status_code == 302
    assert Membership.objects.get(user=newcomer).role == ADMIN


def test_an_organization_admin_cannot_make_anyone_an_owner(
    admin_of_alpha: Client, alpha_admin: User, alpha: Tenant
) -> None:
    newcomer = UserFactory(username="newcomer")

    added = admin_of_alpha.post(admin_url(Membership, "add"), membership_form(newcomer, alpha.organization, OWNER))
    promoted = admin_of_alpha.post(
        admin_url(Membership, "change", alpha.member.pk), {"user": alpha.member.user_id, "role": OWNER}
    )
    own = Membership.objects.get(user=alpha_admin)
    self_promoted = admin_of_alpha.post(
        admin_url(Membership, "change", own.pk), {"user": alpha_admin.pk, "role": OWNER}
    )

    assert (added.status_code, promoted.status_code, self_promoted.status_code) == (200, 200, 200)
    assert "role" in form_errors(added)
    assert not Membership.objects.filter(user=newcomer).exists()
    assert Membership.objects.get(pk=alpha.member.pk).role == MEMBER
    assert Membership.objects.get(pk=own.pk).role == ADMIN


def test_an_organization_admin_cannot_demote_or_remove_an_owner(admin_of_alpha: Client, alpha: Tenant) -> None:
    owner = MembershipFactory(organization=alpha.organization, role=OWNER)

    demoted = admin_of_alpha.post(admin_url(Membership, "change", owner.pk), {"user": owner.user_id, "role": MEMBER})
    removed = admin_of_alpha.post(admin_url(Membership, "delete", owner.pk), {"post": "yes"})
    in_bulk = admin_of_alpha.post(
        admin_url(Membership, "changelist"),
        {"action": "delete_selected", "_selected_action": [owner.pk], "post": "yes"},
    )

    assert (demoted.status_code, removed.status_code, in_bulk.status_code) == (403, 403, 403)
    assert Membership.objects.get(pk=owner.pk).role == OWNER


def test_an_owner_makes_owners_of_its_own_organization_only(alpha: Tenant, bravo: Tenant) -> None:
    client = logged_in(staff_user("alpha-owner", owner=alpha.organization, admin=bravo.organization))
    newcomer = UserFactory(username="newcomer")

    here = client.post(admin_url(Membership, "add"), membership_form(newcomer, alpha.organization, OWNER))
    there = client.post(admin_url(Membership, "add"), membership_form(newcomer, bravo.organization, OWNER))

    assert (here.status_code, there.status_code) == (302, 200)
    assert "role" in form_errors(there)
    assert list(Membership.objects.filter(user=newcomer).values_list("organization", "role")) == [
        (alpha.organization.pk, OWNER)
    ]


# --- secrets in assistant settings ----------------------------------------------------------------------------


@pytest.fixture
def secret_assistant(alpha: Tenant) -> Any:
    return AssistantFactory(
        organization=alpha.organization,
        name="Secretive",
        llm_settings={"model": "gpt-4o-mini", "api_key": LLM_SECRET},
        tts_settings={"voices": [{"name": "ada", "api_key": VOICE_SECRET}]},
        custom_settings={"webhook": {"url": "https://example.com/hook", "token": WEBHOOK_SECRET}},
    )


SECRETS = (LLM_SECRET, VOICE_SECRET, WEBHOOK_SECRET)


def resubmitted(response: Any) -> dict[str, Any]:
    """The change form's values as the page shows them, ready to post back unchanged."""
    form = response.context["adminform"].form
    data: dict[str, Any] = {}
    for name in form.fields:
        value = form[name].value()
        if value is True:
            data[name] = "on"
        elif value not in (None, False):
            data[name] = value
    return data


@pytest.mark.parametrize("who", ["superuser", "organization admin"])
def test_the_assistant_page_never_shows_its_secrets(
    admin_client: Client, admin_of_alpha: Client, secret_assistant: Assistant, who: str
) -> None:
    client = admin_client if who == "superuser" else admin_of_alpha

    response = client.get(admin_url(Assistant, "change", secret_assistant.pk))

    assert response.status_code == 200
    text = page_text(response)
    assert all(secret not in text for secret in SECRETS)
    assert MASK in text
    assert "gpt-4o-mini" in text
    assert "https://example.com/hook" in text


def test_saving_the_assistant_form_unchanged_keeps_its_secrets(
    admin_of_alpha: Client, secret_assistant: Assistant
) -> None:
    url = admin_url(Assistant, "change", secret_assistant.pk)
    data = resubmitted(admin_of_alpha.get(url))

    response = admin_of_alpha.post(url, {**data, "name": "Still secretive"})

    assert response.status_code == 302
    secret_assistant.refresh_from_db()
    assert secret_assistant.name == "Still secretive"
    assert secret_assistant.llm_settings == {"model": "gpt-4o-mini", "api_key": LLM_SECRET}
    assert secret_assistant.tts_settings == {"voices": [{"name": "ada", "api_key": VOICE_SECRET}]}
    assert secret_assistant.custom_settings["webhook"]["token"] == WEBHOOK_SECRET


def test_a_new_secret_typed_in_the_admin_replaces_the_stored_one(
    admin_of_alpha: Client, secret_assistant: Assistant
) -> None:
    url = admin_url(Assistant, "change", secret_assistant.pk)
    data = resubmitted(admin_of_alpha.get(url))
    llm = {"model": "gpt-4o", "api_key": "sk-rotated"}

    response = admin_of_alpha.post(url, {**data, "llm_settings": json.dumps(llm)})

    assert response.status_code == 302
    secret_assistant.refresh_from_db()
    assert secret_assistant.llm_settings == llm
    assert secret_assistant.tts_settings["voices"][0]["api_key"] == VOICE_SECRET


def test_a_form_sent_back_with_an_error_keeps_the_new_secret_just_typed(
    admin_of_alpha: Client, secret_assistant: Assistant
) -> None:
    url = admin_url(Assistant, "change", secret_assistant.pk)
    data = resubmitted(admin_of_alpha.get(url))
    llm = {"model": "gpt-4o", "api_key": "sk-rotated"}

    refused = admin_of_alpha.post(url, {**data, "name": "", "llm_settings": json.dumps(llm)})
    # What was typed comes back as typed (masked, the next save would quietly keep the old secret).
    saved = admin_of_alpha.post(url, {**resubmitted(refused), "name": "Fixed"})

    assert refused.status_code == 200
    assert LLM_SECRET not in page_text(refused)
    assert saved.status_code == 302
    secret_assistant.refresh_from_db()
    assert secret_assistant.llm_settings == llm


def test_the_mask_where_no_secret_is_stored_is_refused(admin_of_alpha: Client, secret_assistant: Assistant) -> None:
    url = admin_url(Assistant, "change", secret_assistant.pk)
    data = resubmitted(admin_of_alpha.get(url))

    response = admin_of_alpha.post(url, {**data, "stt_settings": json.dumps({"password": MASK})})

    assert response.status_code == 200
    assert form_errors(response)["stt_settings"] == [
        "'password' is the mask, but no secret is stored there: send the secret itself."
    ]
    secret_assistant.refresh_from_db()
    assert secret_assistant.stt_settings == {}


def test_a_view_only_staff_user_does_not_see_the_secrets_either(alpha: Tenant, secret_assistant: Assistant) -> None:
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_assistant"))
    MembershipFactory(user=viewer, organization=alpha.organization, role=ADMIN)

    response = logged_in(viewer).get(admin_url(Assistant, "change", secret_assistant.pk))

    assert response.status_code == 200
    text = page_text(response)
    assert "View assistant" in text
    assert all(secret not in text for secret in SECRETS)
    assert MASK in text
    assert "gpt-4o-mini" in text
