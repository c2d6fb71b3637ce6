from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from assistants.models import PhoneNumber
from telephony.models import TelephonyAccount
from tests.factories import (
    AssistantFactory,
    ConversationFlowFactory,
    OrganizationFactory,
    PhoneNumberFactory,
    TelephonyAccountFactory,
)
from tests.fakes.numbers import twilio_holds
from tests.fakes.server import FakeProvider
from tests.fakes.support import use_backend

pytest_plugins = ["tests.fakes.fixtures"]
pytestmark = pytest.mark.django_db

TWILIO = {"account_sid": "AC" + "0" * 28 + "4242", "auth_token": "tw-secret-token-value"}
TELNYX = {"api_key": "KEYtelnyx-secret-value", "connection_id": "1234567890123", "public_key": "cHVibGljLWtleQ=="}
VONAGE = {
    "application_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeee1234",
    "private_key": "-----BEGIN PRIVATE KEY-----\nsecret-pem-body\n-----END PRIVATE KEY-----\n",
    "signature_secret": "vonage-signature-secret",
}
SECRET_VALUES = ["tw-secret-token-value", "KEYtelnyx-secret-value", "secret-pem-body", "vonage-signature-secret"]


def create_account(api: Any, provider: str, credentials: dict[str, str], name: str = "Main") -> Any:
    return api.post(
        "/api/v1/telephony/accounts", {"provider": provider, "name": name, "credentials": credentials}, format="json"
    )


# --- accounts -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "credentials", "hint"),
    [("twilio", TWILIO, "…4242"), ("telnyx", TELNYX, "…0123"), ("vonage", VONAGE, "…1234")],
)
def test_an_account_is_created_with_write_only_credentials_and_a_masked_hint(
    api: Any, organization: Any, provider: str, credentials: dict[str, str], hint: str, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)

    response = create_account(api, provider, credentials)

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "organization_id",
        "provider",
        "name",
        "is_active",
        "credentials_hint",
        "calls_per_second",
        "effective_calls_per_second",
        "created_at",
        "updated_at",
    }
    assert body["provider"] == provider
    assert body["credentials_hint"] == hint
    account = TelephonyAccount.objects.get(pk=body["id"])
    assert account.organization == organization
    assert account.credentials == credentials
    listed = api.get("/api/v1/telephony/accounts").content.decode()
    detail = api.get(f"/api/v1/telephony/accounts/{account.pk}").content.decode()
    for text in (response.content.decode(), listed, detail, caplog.text):
        for secret in SECRET_VALUES:
            assert secret not in text


@pytest.mark.parametrize(
    ("provider", "credentials", "bad_keys"),
    [
        ("twilio", {"account_sid": "AC1"}, {"auth_token"}),
        ("twilio", {**TWILIO, "region": "us1"}, {"region"}),
        ("telnyx", {"api_key": "k"}, {"connection_id", "public_key"}),
        ("vonage", {**VONAGE, "private_key": "  "}, {"private_key"}),
    ],
)
def test_missing_or_unknown_credential_keys_are_400(
    api: Any, provider: str, credentials: dict[str, str], bad_keys: set[str]
) -> None:
    response = create_account(api, provider, credentials)

    assert response.status_code == 400
    assert set(response.json()["errors"]["credentials"]) == bad_keys
    assert TelephonyAccount.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "skype", "name": "x", "credentials": {}},
        {"provider": "twilio", "name": "x", "credentials": "AC:token"},
        {"provider": "twilio", "name": "x", "credentials": {"account_sid": 1, "auth_token": 2}},
        {"provider": "twilio", "name": "", "credentials": TWILIO},
        {"provider": "twilio", "name": "x" * 101, "credentials": TWILIO},
    ],
)
def test_malformed_accounts_are_400(api: Any, body: dict[str, Any]) -> None:
    response = api.post("/api/v1/telephony/accounts", body, format="json")

    assert response.status_code == 400
    assert response.json()["detail"]


def test_an_account_is_renamed_deactivated_and_given_new_credentials(api: Any, organization: Any) -> None:
    account = TelephonyAccountFactory(organization=organization, provider="twilio", credentials=TWILIO)
    new = {"account_sid": "AC" + "9" * 32, "auth_token": "rotated-token"}

    response = api.patch(
        f"/api/v1/telephony/accounts/{account.pk}",
        {"name": "Backup", "is_active": False, "credentials": new},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["credentials_hint"] == "…9999"
    account.refresh_from_db()
    assert (account.name, account.is_active, account.credentials) == ("Backup", False, new)
    assert "rotated-token" not in response.content.decode()


def test_patching_credentials_checks_them_against_the_accounts_provider(api: Any, organization: Any) -> None:
    account = TelephonyAccountFactory(organization=organization, provider="twilio", credentials=TWILIO)

    partial = api.patch(f"/api/v1/telephony/accounts/{account.pk}", {"credentials": {"auth_token": "x"}}, format="json")
    provider = api.patch(f"/api/v1/telephony/accounts/{account.pk}", {"provider": "telnyx"}, format="json")

    assert partial.status_code == 400
    assert provider.status_code == 400
    account.refresh_from_db()
    assert account.credentials == TWILIO
    assert account.provider == "twilio"


def test_deleting_an_account_that_still_has_numbers_is_409(api: Any, organization: Any) -> None:
    number = PhoneNumberFactory(organization=organization, phone_number="+14155550100")

    response = api.delete(f"/api/v1/telephony/accounts/{number.telephony_account_id}")

    assert response.status_code == 409
    assert "+14155550100" in response.json()["detail"]
    assert TelephonyAccount.objects.filter(pk=number.telephony_account_id).exists()


def test_deleting_an_unused_account_is_204(api: Any, organization: Any) -> None:
    account = TelephonyAccountFactory(organization=organization)

    assert api.delete(f"/api/v1/telephony/accounts/{account.pk}").status_code == 204
    assert not TelephonyAccount.objects.filter(pk=account.pk).exists()


# --- phone numbers --------------------------------------------------------------------------------------------


def test_a_number_is_registered_normalized_and_assigned_to_an_assistant(
    api: Any, organization: Any, fake_provider: FakeProvider
) -> None:
    account = TelephonyAccountFactory(organization=organization, provider="twilio", credentials=TWILIO)
    assistant = AssistantFactory(organization=organization)
    twilio_holds(fake_provider, TWILIO["account_sid"], "+14155550142")  # Twilio confirms the account holds it

    with use_backend("twilio", "telephony.backends.twilio.TwilioBackend", API_BASE_URL=fake_provider.url):
        response = api.post(
            "/api/v1/phone-numbers",
            {
                "phone_number": "+1 (415) 555-0142",
                "telephony_account_id": account.pk,
                "assistant_id": assistant.pk,
                "friendly_name": "Sales",
            },
            format="json",
        )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["phone_number"] == "+14155550142"
    assert (body["assistant_id"], body["flow_id"], body["provider"]) == (assistant.pk, None, "twilio")
    assert PhoneNumber.objects.get(pk=body["id"]).organization == organization


def test_a_number_cannot_be_assigned_to_both_an_assistant_and_a_flow(api: Any, organization: Any) -> None:
    flow = ConversationFlowFactory(organization=organization)
    account = TelephonyAccountFactory(organization=organization)

    response = api.post(
        "/api/v1/phone-numbers",
        {
            "phone_number": "+14155550142",
            "telephony_account_id": account.pk,
            "assistant_id": flow.base_assistant_id,
            "flow_id": flow.pk,
        },
        format="json",
    )

    assert response.status_code == 400
    assert PhoneNumber.objects.count() == 0


def test_assigning_a_flow_clears_the_assistant_and_vice_versa(api: Any, organization: Any) -> None:
    number = PhoneNumberFactory(organization=organization, phone_number="+14155550100")
    flow = ConversationFlowFactory(organization=organization)
    url = f"/api/v1/phone-numbers/{number.pk}"

    to_flow = api.patch(url, {"flow_id": flow.pk}, format="json").json()
    to_assistant = api.patch(url, {"assistant_id": flow.base_assistant_id}, format="json").json()
    to_nobody = api.patch(url, {"assistant_id": None}, format="json").json()

    assert (to_flow["assistant_id"], to_flow["flow_id"]) == (None, flow.pk)
    assert (to_assistant["assistant_id"], to_assistant["flow_id"]) == (flow.base_assistant_id, None)
    assert (to_nobody["assistant_id"], to_nobody["flow_id"]) == (None, None)


@pytest.mark.parametrize("field", ["telephony_account_id", "assistant_id", "flow_id"])
def test_another_organizations_account_assistant_or_flow_is_refused_without_revealing_it(
    api: Any, organization: Any, field: str
) -> None:
    other = OrganizationFactory()
    foreign = {
        "telephony_account_id": TelephonyAccountFactory(organization=other, name="Their secret account").pk,
        "assistant_id": AssistantFactory(organization=other, name="Their secret assistant").pk,
        "flow_id": ConversationFlowFactory(organization=other, name="Their secret flow").pk,
    }[field]
    body = {
        "phone_number": "+14155550142",
        "telephony_account_id": TelephonyAccountFactory(organization=organization).pk,
    }
    body[field] = foreign

    response = api.post("/api/v1/phone-numbers", body, format="json")
    unknown = api.post("/api/v1/phone-numbers", {**body, field: 999999}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {field: ["Not found in your organization."]}
    assert unknown.json() == response.json()
    assert "secret" not in response.content.decode()
    assert PhoneNumber.objects.count() == 0


def test_a_number_registered_in_the_organization_cannot_be_registered_again(api: Any, organization: Any) -> None:
    # Only the organization's own numbers count: another organization may hold the same one (see
    # test_phone_number_registration.py), and is never mentioned.
    PhoneNumberFactory(organization=organization, phone_number="+14155550142")
    account = TelephonyAccountFactory(organization=organization)

    response = api.post(
        "/api/v1/phone-numbers", {"phone_number": "+14155550142", "telephony_account_id": account.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"phone_number": ["This number is already registered in your organization."]}


@pytest.mark.parametrize("phone_number", ["4155550142", "+1 415 CALL", "+11235550100", ""])
def test_an_invalid_number_is_400(api: Any, organization: Any, phone_number: str) -> None:
    account = TelephonyAccountFactory(organization=organization)

    response = api.post(
        "/api/v1/phone-numbers", {"phone_number": phone_number, "telephony_account_id": account.pk}, format="json"
    )

    assert response.status_code == 400
    assert "phone_number" in response.json()["errors"]


def test_numbers_are_listed_and_deleted_within_the_organization(api: Any, organization: Any) -> None:
    mine = PhoneNumberFactory(organization=organization, phone_number="+14155550100")
    PhoneNumberFactory(organization=OrganizationFactory(), phone_number="+14155550101")

    listed = api.get("/api/v1/phone-numbers").json()

    assert [n["phone_number"] for n in listed["items"]] == ["+14155550100"]
    assert listed["total"] == 1
    assert api.delete(f"/api/v1/phone-numbers/{mine.pk}").status_code == 204
    assert not PhoneNumber.objects.filter(pk=mine.pk).exists()


def test_another_organizations_accounts_and_numbers_are_404_on_every_method(api: Any) -> None:
    other = OrganizationFactory()
    number = PhoneNumberFactory(organization=other, phone_number="+14155550177", friendly_name="hidden")
    urls = [f"/api/v1/telephony/accounts/{number.telephony_account_id}", f"/api/v1/phone-numbers/{number.pk}"]

    for url in urls:
        for method in ("get", "patch", "delete"):
            response = getattr(api, method)(url, {"name": "x", "friendly_name": "x"}, format="json")
            assert response.status_code == 404, (method, url)
            assert set(response.json()) == {"detail"}
            assert "4155550177" not in json.dumps(response.json())
    number.refresh_from_db()
    assert number.friendly_name == "hidden"
