"""Bringing numbers in: GET …/telephony/accounts/{id}/numbers/available lists what the provider lists for the account
(through the real SDKs against fake providers on 127.0.0.1), POST …/numbers/import registers the chosen ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse

from assistants.models import PhoneNumber
from telephony.backends.base import OwnedNumber, ProviderAccount, TelephonyBackend
from telephony.backends.sandbox import LISTED_NUMBERS
from telephony.models import TelephonyAccount
from tests.factories import (
    ApiKeyFactory,
    AssistantFactory,
    ConversationFlowFactory,
    MembershipFactory,
    OrganizationFactory,
    PhoneNumberFactory,
    TelephonyAccountFactory,
    UserFactory,
)
from tests.fakes.keys import RsaKeyPair
from tests.fakes.numbers import telnyx_page, twilio_holds, twilio_numbers_path, vonage_holds
from tests.fakes.server import FakeProvider
from tests.fakes.support import use_backend

pytest_plugins = ["tests.fakes.fixtures"]
pytestmark = pytest.mark.django_db

TWILIO_SID = "AC" + "fedcba9876543210" * 2
TWILIO = {"account_sid": TWILIO_SID, "auth_token": "twilio-auth-token-for-importing"}
TELNYX = {"api_key": "KEY0190_telnyx-import-secret", "connection_id": "1684641123236054244", "public_key": "cHVibGlj"}
HELD = ["+14155550142", "+14155550143", "+14155550144"]
OUR_APPS = ("burki", "assistants", "telephony", "calls")


@pytest.fixture
def fake_twilio(fake_provider: FakeProvider) -> Iterator[FakeProvider]:
    with use_backend("twilio", "telephony.backends.twilio.TwilioBackend", API_BASE_URL=fake_provider.url, TIMEOUT=2):
        yield fake_provider


@pytest.fixture
def fake_telnyx(fake_provider: FakeProvider) -> Iterator[FakeProvider]:
    with use_backend(
        "telnyx", "telephony.backends.telnyx.TelnyxBackend", API_BASE_URL=f"{fake_provider.url}/v2", TIMEOUT=2
    ):
        yield fake_provider


@pytest.fixture
def fake_vonage(fake_tls_provider: FakeProvider) -> Iterator[FakeProvider]:
    host = fake_tls_provider.host
    with use_backend("vonage", "telephony.backends.vonage.VonageBackend", API_HOST=host, REST_HOST=host, TIMEOUT=2):
        yield fake_tls_provider


@pytest.fixture
def twilio_account(organization: Any) -> TelephonyAccount:
    account: TelephonyAccount = TelephonyAccountFactory(
        organization=organization, provider="twilio", name="Twilio main", credentials=TWILIO
    )
    return account


def available(api: Any, account: TelephonyAccount) -> Any:
    return api.get(f"/api/v1/telephony/accounts/{account.pk}/numbers/available")


def import_numbers(api: Any, account: TelephonyAccount, **body: Any) -> Any:
    return api.post(f"/api/v1/telephony/accounts/{account.pk}/numbers/import", body, format="json")


def registered(organization: Any) -> list[tuple[str, int, str]]:
    return list(
        PhoneNumber.objects.filter(organization=organization)
        .order_by("phone_number")
        .values_list("phone_number", "telephony_account_id", "friendly_name")
    )


# --- Twilio ----------------------------------------------------------------------------------------------------


def test_twilio_numbers_are_listed_with_whether_the_organization_registered_them(
    api: Any, organization: Any, twilio_account: TelephonyAccount, fake_twilio: FakeProvider
) -> None:
    twilio_holds(fake_twilio, TWILIO_SID, *HELD)
    mine = PhoneNumberFactory(organization=organization, phone_number=HELD[0])  # on another account of ours
    PhoneNumberFactory(organization=OrganizationFactory(name="Globex"), phone_number=HELD[1])  # not ours

    response = available(api, twilio_account)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["telephony_account_id"], body["provider"], body["total"]) == (twilio_account.pk, "twilio", 3)
    assert [(item["phone_number"], item["registered"], item["phone_number_id"]) for item in body["items"]] == [
        (HELD[0], True, mine.pk),
        (HELD[1], False, None),
        (HELD[2], False, None),
    ]
    assert body["items"][1]["provider_id"].startswith("PN")
    assert body["items"][1]["friendly_name"] == HELD[1]
    assert "Globex" not in response.content.decode()
    [request] = fake_twilio.requests
    assert (request.method, request.path) == ("GET", twilio_numbers_path(TWILIO_SID))
    assert request.query == {"PageSize": ["1000"]}  # the whole listing, no filter


def test_chosen_twilio_numbers_are_registered_on_the_account_and_assigned(
    api: Any, organization: Any, twilio_account: TelephonyAccount, fake_twilio: FakeProvider
) -> None:
    twilio_holds(fake_twilio, TWILIO_SID, *HELD)
    assistant = AssistantFactory(organization=organization)

    response = import_numbers(
        api, twilio_account, phone_numbers=["+1 (415) 555-0143", HELD[2], HELD[2]], assistant_id=assistant.pk
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["imported"], body["already_registered"], body["skipped"]) == (2, 0, 0)
    created = {number.phone_number: number for number in PhoneNumber.objects.filter(organization=organization)}
    assert [(r["phone_number"], r["outcome"], r["phone_number_id"]) for r in body["results"]] == [
        (HELD[1], "imported", created[HELD[1]].pk),
        (HELD[2], "imported", created[HELD[2]].pk),
    ]
    for number in created.values():
        assert (number.telephony_account_id, number.assistant_id, number.flow_id) == (
            twilio_account.pk,
            assistant.pk,
            None,
        )
        assert number.is_active
        assert number.friendly_name == number.phone_number  # what Twilio calls it
    assert len(fake_twilio.requests) == 1
    # The new numbers dial: they are the organization's, on its Twilio account.
    listed = api.get("/api/v1/phone-numbers").json()["items"]
    assert {(item["phone_number"], item["provider"]) for item in listed} == {(HELD[1], "twilio"), (HELD[2], "twilio")}


def test_all_imports_every_listed_number_and_leaves_the_registered_ones_as_they_are(
    api: Any, organization: Any, twilio_account: TelephonyAccount, fake_twilio: FakeProvider
) -> None:
    twilio_holds(fake_twilio, TWILIO_SID, *HELD)
    flow = ConversationFlowFactory(organization=organization)
    mine = PhoneNumberFactory(organization=organization, phone_number=HELD[0], friendly_name="Front desk")
    before = PhoneNumber.objects.values().get(pk=mine.pk)

    response = import_numbers(api, twilio_account, all=True, flow_id=flow.pk)

    assert response.status_code == 200, response.content
    body = response.json()
    assert [(r["phone_number"], r["outcome"]) for r in body["results"]] == [
        (HELD[0], "already_registered"),
        (HELD[1], "imported"),
        (HELD[2], "imported"),
    ]
    assert body["results"][0]["phone_number_id"] == mine.pk
    assert (body["imported"], body["already_registered"]) == (2, 1)
    assert PhoneNumber.objects.values().get(pk=mine.pk) == before
    assert set(PhoneNumber.objects.filter(telephony_account=twilio_account).values_list("flow_id", flat=True)) == {
        flow.pk
    }


def test_importing_again_registers_nothing_twice(
    api: Any, organization: Any, twilio_account: TelephonyAccount, fake_twilio: FakeProvider
) -> None:
    twilio_holds(fake_twilio, TWILIO_SID, *HELD)

    first = import_numbers(api, twilio_account, all=True)
    again = import_numbers(api, twilio_account, all=True)

    assert first.json()["imported"] == 3
    assert (again.json()["imported"], again.json()["already_registered"]) == (0, 3)
    assert PhoneNumber.objects.count() == 3


def test_a_chosen_number_twilio_does_not_list_is_400_and_nothing_is_imported(
    api: Any, organization: Any, twilio_account: TelephonyAccount, fake_twilio: FakeProvider
) -> None:
    twilio_holds(fake_twilio, TWILIO_SID, *HELD)

    response = import_numbers(api, twilio_account, phone_numbers=[HELD[0], "+14155550199", HELD[1]])

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "The telephony account does not own every number chosen; nothing was imported."
    assert body["errors"] == {
        "phone_numbers": {"1": ["+14155550199 is not a number of the Twilio account 'Twilio main'."]}
    }
    assert not PhoneNumber.objects.exists()


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"phone_numbers": ["Give phone_numbers, or all=true."]}),
        ({"phone_numbers": [HELD[0]], "all": True}, {"phone_numbers": ["Give phone_numbers or all=true, not both."]}),
        ({"phone_numbers": []}, {"phone_numbers": ["Ensure this field has at least 1 elements."]}),
        ({"phone_numbers": [HELD[0], "not a number"]}, None),
        ({"phone_numbers": [HELD[0]], "assistant_id": 987654}, {"assistant_id": ["Not found in your organization."]}),
        ({"all": True, "assistant_id": "x"}, None),
    ],
    ids=["nothing chosen", "both", "empty list", "unreadable number", "unknown assistant", "bad id"],
)
def test_invalid_input_is_400_before_the_provider_is_asked(
    api: Any, twilio_account: TelephonyAccount, fake_twilio: FakeProvider, body: dict[str, Any], errors: Any
) -> None:
    response = import_numbers(api, twilio_account, **body)

    assert response.status_code == 400, response.content
    if errors is not None:
        assert response.json()["errors"] == errors
    else:
        assert response.json()["errors"]
    assert fake_twilio.requests == []
    assert not PhoneNumber.objects.exists()


def test_an_unreadable_number_is_named_by_its_place_in_the_list(
    api: Any, twilio_account: TelephonyAccount, fake_twilio: FakeProvider
) -> None:
    response = import_numbers(api, twilio_account, phone_numbers=[HELD[0], HELD[0], "12"])

    assert response.status_code == 400
    assert list(response.json()["errors"]["phone_numbers"]) == ["2"]


def test_another_organizations_assistant_or_flow_cannot_be_assigned(
    api: Any, twilio_account: TelephonyAccount, fake_twilio: FakeProvider
) -> None:
    theirs = OrganizationFactory()

    by_assistant = import_numbers(api, twilio_account, all=True, assistant_id=AssistantFactory(organization=theirs).pk)
    by_flow = import_numbers(api, twilio_account, all=True, flow_id=ConversationFlowFactory(organization=theirs).pk)

    assert by_assistant.json()["errors"] == {"assistant_id": ["Not found in your organization."]}
    assert by_flow.json()["errors"] == {"flow_id": ["Not found in your organization."]}
    assert fake_twilio.requests == []


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ({"status": 401, "json": {"code": 20003, "message": "Authenticate", "status": 401}}, 502),
        ({"status": 503, "json": {"code": 20503, "message": "Service Unavailable", "status": 503}}, 502),
        (
            {"status": 429, "json": {"code": 20429, "message": "Too Many Requests"}, "headers": {"Retry-After": "9"}},
            429,
        ),
        ({"mode": "drop"}, 504),
    ],
    ids=["unauthorized", "down", "rate limited", "connection dropped"],
)
def test_when_twilio_cannot_list_the_numbers_the_error_says_why_and_nothing_is_imported(
    api: Any, twilio_account: TelephonyAccount, fake_twilio: FakeProvider, reply: dict[str, Any], status: int
) -> None:
    fake_twilio.on("GET", twilio_numbers_path(TWILIO_SID), **reply)

    listed = available(api, twilio_account)
    imported = import_numbers(api, twilio_account, all=True)

    assert (listed.status_code, imported.status_code) == (status, status)
    assert listed.json()["detail"].startswith("Could not list the numbers of the telephony account")
    assert imported.json()["detail"].startswith(
        "Could not list the numbers of the telephony account 'Twilio main', so nothing was imported"
    )
    for response in (listed, imported):
        assert TWILIO["auth_token"] not in response.content.decode()
        if status == 429:
            assert response["Retry-After"] == "9"
    assert not PhoneNumber.objects.exists()


def test_an_unreachable_twilio_is_a_504(api: Any, twilio_account: TelephonyAccount, refused_url: str) -> None:
    with use_backend("twilio", "telephony.backends.twilio.TwilioBackend", API_BASE_URL=refused_url, TIMEOUT=2):
        response = import_numbers(api, twilio_account, all=True)

    assert response.status_code == 504
    assert "Could not reach Twilio" in response.json()["detail"]
    assert not PhoneNumber.objects.exists()


# --- Telnyx and Vonage -----------------------------------------------------------------------------------------


def test_telnyx_numbers_are_imported_and_gone_ones_are_not_listed(
    api: Any, organization: Any, fake_telnyx: FakeProvider
) -> None:
    page = telnyx_page(HELD)
    page["data"][1]["status"] = "deleted"
    fake_telnyx.on("GET", "/v2/phone_numbers", json=page)
    account = TelephonyAccountFactory(organization=organization, provider="telnyx", credentials=TELNYX)

    listed = available(api, account)
    gone = import_numbers(api, account, phone_numbers=[HELD[1]])
    imported = import_numbers(api, account, all=True)

    assert [item["phone_number"] for item in listed.json()["items"]] == [HELD[0], HELD[2]]
    assert gone.status_code == 400
    assert imported.status_code == 200, imported.content
    assert [r["outcome"] for r in imported.json()["results"]] == ["imported", "imported"]
    assert [number for number, _, _ in registered(organization)] == [HELD[0], HELD[2]]
    assert all(request.headers["authorization"] == f"Bearer {TELNYX['api_key']}" for request in fake_telnyx.requests)
    assert all("filter[phone_number]" not in request.query for request in fake_telnyx.requests)


@pytest.fixture
def vonage_credentials(rsa_keys: RsaKeyPair) -> dict[str, str]:
    return {
        "application_id": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
        "private_key": rsa_keys.private_pem,
        "signature_secret": "vonage-signature-secret",
        "api_key": "a1b2c3d4",
        "api_secret": "vonage-api-secret-import",
    }


def test_vonage_account_numbers_are_imported_with_the_plus(
    api: Any, organization: Any, fake_vonage: FakeProvider, vonage_credentials: dict[str, str]
) -> None:
    vonage_holds(fake_vonage, *HELD[:2])
    account = TelephonyAccountFactory(organization=organization, provider="vonage", credentials=vonage_credentials)

    response = import_numbers(api, account, phone_numbers=[HELD[1]])

    assert response.status_code == 200, response.content
    assert registered(organization) == [(HELD[1], account.pk, "")]
    [request] = fake_vonage.requests
    assert (request.method, request.path) == ("GET", "/account/numbers")
    assert "pattern" not in request.query


def test_a_vonage_account_without_api_key_and_secret_cannot_list_its_numbers(
    api: Any, organization: Any, fake_vonage: FakeProvider, vonage_credentials: dict[str, str]
) -> None:
    without = {k: v for k, v in vonage_credentials.items() if k not in ("api_key", "api_secret")}
    account = TelephonyAccountFactory(organization=organization, provider="vonage", credentials=without)

    response = import_numbers(api, account, all=True)

    assert response.status_code == 400
    [message] = response.json()["errors"]["credentials"]
    assert "api_key and api_secret" in message
    assert fake_vonage.requests == []


# --- the sandbox -----------------------------------------------------------------------------------------------


def test_the_sandbox_lists_its_demo_range_and_imports_it(api: Any, organization: Any) -> None:
    account = TelephonyAccountFactory(organization=organization, provider="sandbox")
    PhoneNumberFactory(organization=organization, phone_number=LISTED_NUMBERS[0], telephony_account=account)

    listed = available(api, account).json()
    imported = import_numbers(api, account, all=True).json()
    elsewhere = import_numbers(api, account, phone_numbers=["+14155550150"])

    assert [item["phone_number"] for item in listed["items"]] == list(LISTED_NUMBERS)
    assert [item["registered"] for item in listed["items"]] == [True] + [False] * 9
    assert (imported["imported"], imported["already_registered"]) == (9, 1)
    assert elsewhere.status_code == 400
    assert PhoneNumber.objects.filter(organization=organization).count() == 10


# --- tenancy and roles -----------------------------------------------------------------------------------------


def test_another_organizations_account_is_a_404_and_its_provider_is_never_asked(
    api: Any, fake_twilio: FakeProvider
) -> None:
    theirs = TelephonyAccountFactory(organization=OrganizationFactory(), provider="twilio", credentials=TWILIO)
    twilio_holds(fake_twilio, TWILIO_SID, *HELD)

    listed = available(api, theirs)
    imported = import_numbers(api, theirs, all=True)

    for response in (listed, imported):
        assert response.status_code == 404
        assert response.json() == {"detail": "Telephony account not found."}
    assert fake_twilio.requests == []
    assert not PhoneNumber.objects.exists()


def test_a_member_may_neither_list_nor_import(
    organization: Any, client_for: Any, twilio_account: TelephonyAccount, fake_twilio: FakeProvider
) -> None:
    member = client_for(ApiKeyFactory(organization=organization, role="member").raw_key)

    listed = available(member, twilio_account)
    imported = import_numbers(member, twilio_account, all=True)

    for response in (listed, imported):
        assert response.status_code == 403
        assert response.json()["required_role"] == "admin"
    assert fake_twilio.requests == []
    assert not PhoneNumber.objects.exists()


# --- the provider is never asked inside a transaction -----------------------------------------------------------


class RecordingBackend(TelephonyBackend):
    """Lists two numbers, and notes whether a transaction was open when asked."""

    asked: list[bool] = []

    def owned_numbers(self, account: ProviderAccount, *, number: str | None = None) -> list[OwnedNumber]:
        RecordingBackend.asked.append(connection.in_atomic_block)
        return [OwnedNumber(number="+14155550160"), OwnedNumber(number="+14155550161")]


@pytest.mark.django_db(transaction=True)
def test_the_provider_is_asked_outside_any_transaction(api: Any, organization: Any, admin_client: Any) -> None:
    RecordingBackend.asked = []
    account = TelephonyAccountFactory(organization=organization, provider="sandbox")
    with override_settings(TELEPHONY_BACKENDS={"sandbox": {"BACKEND": f"{__name__}.RecordingBackend"}}):
        assert available(api, account).status_code == 200
        assert import_numbers(api, account, phone_numbers=["+14155550160"]).status_code == 200
        page = admin_client.get(f"/admin/assistants/phonenumber/import/{account.pk}/")
        added = admin_client.post(f"/admin/assistants/phonenumber/import/{account.pk}/", {"numbers": ["+14155550161"]})

    assert page.status_code == 200
    assert added.status_code == 302
    assert RecordingBackend.asked == [False, False, False, False]
    assert PhoneNumber.objects.count() == 2


# --- the admin -------------------------------------------------------------------------------------------------

IMPORT_PAGE = "admin:assistants_phonenumber_import"


def import_page(account: TelephonyAccount) -> str:
    return reverse(IMPORT_PAGE, args=[account.pk])


def staff_admin_of(organization: Any, *, permissions: tuple[str, ...] = OUR_APPS) -> Client:
    """A staff user (not a superuser), admin of `organization`, with the model permissions of `permissions`' apps."""
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=permissions))
    MembershipFactory(user=user, organization=organization, role="admin")
    client = Client()
    client.force_login(user)
    return client


def test_the_accounts_action_opens_the_import_page_of_the_one_account_chosen(
    admin_client: Client, organization: Any, twilio_account: TelephonyAccount
) -> None:
    changelist = reverse("admin:telephony_telephonyaccount_changelist")
    other = TelephonyAccountFactory(organization=organization)

    one = admin_client.post(changelist, {"action": "import_numbers", "_selected_action": [twilio_account.pk]})
    two = admin_client.post(
        changelist, {"action": "import_numbers", "_selected_action": [twilio_account.pk, other.pk]}, follow=True
    )

    assert one.status_code == 302
    assert one["Location"] == import_page(twilio_account)
    assert "Choose one telephony account to import its numbers." in two.content.decode()


def test_the_import_page_lists_the_providers_numbers_and_imports_the_chosen_ones(
    admin_client: Client, organization: Any, twilio_account: TelephonyAccount, fake_twilio: FakeProvider
) -> None:
    twilio_holds(fake_twilio, TWILIO_SID, *HELD)
    mine = PhoneNumberFactory(organization=organization, phone_number=HELD[0])
    assistant = AssistantFactory(organization=organization, name="Receptionist")
    AssistantFactory(organization=OrganizationFactory(), name="Someone else's")

    page = admin_client.get(import_page(twilio_account))
    imported = admin_client.post(
        import_page(twilio_account), {"numbers": [HELD[2]], "assistant": assistant.pk}, follow=True
    )

    assert page.status_code == 200
    offered = [value for value, _ in page.context["form"].fields["numbers"].choices]
    assert offered == HELD[1:]
    assert reverse("admin:assistants_phonenumber_change", args=[mine.pk]) in page.content.decode()
    offered_assistants = page.context["form"].fields["assistant"].queryset
    assert {a.organization_id for a in offered_assistants} == {organization.pk}
    assert "Receptionist" in [a.name for a in offered_assistants]
    assert imported.redirect_chain[-1][0].endswith(f"?telephony_account__id__exact={twilio_account.pk}")
    assert "1 number imported from Twilio main; 0 already registered." in imported.content.decode()
    new = PhoneNumber.objects.get(phone_number=HELD[2])
    assert (new.organization, new.telephony_account, new.assistant) == (organization, twilio_account, assistant)


def test_the_import_page_refuses_a_number_the_provider_does_not_list_and_imports_nothing(
    admin_client: Client, twilio_account: TelephonyAccount, fake_twilio: FakeProvider
) -> None:
    twilio_holds(fake_twilio, TWILIO_SID, *HELD)

    response = admin_client.post(import_page(twilio_account), {"numbers": [HELD[0], "+14155550199"]})

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["numbers"] == ["+14155550199 is not a number of the Twilio account 'Twilio main'."]
    assert "Nothing was imported." in response.content.decode()
    assert not PhoneNumber.objects.exists()


def test_the_import_page_says_why_the_provider_could_not_be_asked(
    admin_client: Client, twilio_account: TelephonyAccount, fake_twilio: FakeProvider
) -> None:
    fake_twilio.on("GET", twilio_numbers_path(TWILIO_SID), status=401, json={"code": 20003, "message": "Authenticate"})

    page = admin_client.get(import_page(twilio_account))
    imported = admin_client.post(import_page(twilio_account), {"import_all": "on"})

    assert page.status_code == imported.status_code == 200
    assert "the provider refused to list the numbers of the account &#x27;Twilio main&#x27;" in page.content.decode()
    assert "so nothing was imported" in imported.content.decode()
    assert not PhoneNumber.objects.exists()


def test_an_organization_admin_imports_only_into_the_organizations_it_administers(
    organization: Any, twilio_account: TelephonyAccount, fake_twilio: FakeProvider
) -> None:
    twilio_holds(fake_twilio, TWILIO_SID, *HELD)
    theirs = TelephonyAccountFactory(organization=OrganizationFactory(), provider="twilio", credentials=TWILIO)
    ours = staff_admin_of(organization)

    page = ours.get(import_page(theirs))
    post = ours.post(import_page(theirs), {"import_all": "on"})
    action = ours.post(
        reverse("admin:telephony_telephonyaccount_changelist"),
        {"action": "import_numbers", "_selected_action": [theirs.pk]},
    )
    own = ours.post(import_page(twilio_account), {"import_all": "on"})

    assert (page.status_code, post.status_code) == (404, 404)
    assert action.status_code == 302  # nothing selected that it may see: back to the list, nowhere else
    assert action["Location"] != import_page(theirs)
    assert own.status_code == 302
    assert set(PhoneNumber.objects.values_list("organization_id", flat=True)) == {organization.pk}
    assert len(fake_twilio.requests) == 1  # for its own account only


def test_importing_in_the_admin_needs_the_permission_to_add_numbers(
    organization: Any, twilio_account: TelephonyAccount, fake_twilio: FakeProvider
) -> None:
    without = staff_admin_of(organization, permissions=("telephony",))

    page = without.get(import_page(twilio_account))
    changelist = without.get(reverse("admin:telephony_telephonyaccount_changelist"))

    assert page.status_code == 403
    assert "import_numbers" not in changelist.content.decode()
    assert fake_twilio.requests == []
