"""Registering a phone number: unique within its organization only (nothing told about other organizations), and held
by its telephony account at the provider, asked through the real SDKs against fake providers on 127.0.0.1."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.urls import reverse

from assistants.models import PhoneNumber
from assistants.services import NUMBER_TAKEN
from calls.models import Call
from telephony.backends import sandbox, telnyx, twilio
from telephony.backends.base import OwnedNumber, ProviderAccount, TelephonyBackend, TelephonyError
from telephony.backends.sandbox import SandboxBackend
from telephony.backends.telnyx import TelnyxBackend
from telephony.backends.twilio import TwilioBackend
from telephony.backends.vonage import VonageBackend
from telephony.models import TelephonyAccount
from tests.factories import (
    ApiKeyFactory,
    AssistantFactory,
    OrganizationFactory,
    PhoneNumberFactory,
    TelephonyAccountFactory,
)
from tests.fakes.keys import RsaKeyPair
from tests.fakes.numbers import (
    telnyx_holds,
    telnyx_page,
    twilio_holds,
    twilio_numbers_path,
    twilio_page,
    vonage_holds,
    vonage_page,
)
from tests.fakes.server import FakeProvider
from tests.fakes.support import use_backend

pytest_plugins = ["tests.fakes.fixtures"]
pytestmark = pytest.mark.django_db

NUMBER = "+14155550142"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO = {"account_sid": TWILIO_SID, "auth_token": "twilio-auth-token-for-listing-numbers"}
TWILIO_BASIC = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO['auth_token']}".encode()).decode()
TELNYX = {"api_key": "KEY0190_telnyx-listing-secret", "connection_id": "1684641123236054244", "public_key": "cHVibGlj"}
VONAGE_API_KEY = "a1b2c3d4"
VONAGE_API_SECRET = "vonage-api-secret-0f9e8d"
VONAGE_BASIC = "Basic " + base64.b64encode(f"{VONAGE_API_KEY}:{VONAGE_API_SECRET}".encode()).decode()


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
def vonage_credentials(rsa_keys: RsaKeyPair) -> dict[str, str]:
    return {
        "application_id": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
        "private_key": rsa_keys.private_pem,
        "signature_secret": "vonage-signature-secret",
        "api_key": VONAGE_API_KEY,
        "api_secret": VONAGE_API_SECRET,
    }


def account_of(organization: Any, provider: str, credentials: dict[str, str] | None = None) -> TelephonyAccount:
    account: TelephonyAccount = TelephonyAccountFactory(
        organization=organization, provider=provider, credentials=credentials or {}
    )
    return account


def register(api: Any, account: TelephonyAccount, number: str = NUMBER, **fields: Any) -> Any:
    return api.post(
        "/api/v1/phone-numbers", {"phone_number": number, "telephony_account_id": account.pk, **fields}, format="json"
    )


# --- unique within the organization, and nothing said about any other -----------------------------------------


def test_a_number_another_organization_registered_is_registered_without_revealing_it(
    api: Any, organization: Any
) -> None:
    theirs = PhoneNumberFactory(
        organization=OrganizationFactory(name="Globex Secret", slug="globex"),
        phone_number=NUMBER,
        friendly_name="Vault",
    )

    response = register(api, account_of(organization, "sandbox"), friendly_name="Front desk")

    assert response.status_code == 201, response.content
    text = response.content.decode()
    for hint in ("Globex", "globex", "Vault", "already"):
        assert hint not in text
    assert response.json()["organization_id"] == organization.pk
    listed = api.get("/api/v1/phone-numbers").json()
    assert [(n["phone_number"], n["friendly_name"]) for n in listed["items"]] == [(NUMBER, "Front desk")]
    theirs.refresh_from_db()
    assert (theirs.organization.slug, theirs.friendly_name) == ("globex", "Vault")
    assert PhoneNumber.objects.filter(phone_number=NUMBER).count() == 2


def test_an_organization_is_told_only_of_its_own_copy_of_a_number(api: Any, organization: Any) -> None:
    PhoneNumberFactory(organization=OrganizationFactory(), phone_number="+14155550143")
    first = account_of(organization, "sandbox")
    assert register(api, first).status_code == 201

    same_account = register(api, first)
    other_account = register(api, account_of(organization, "sandbox"), number="+1 (415) 555-0142")
    foreign_only = register(api, first, number="+14155550143")

    for response in (same_account, other_account):
        assert response.status_code == 400
        assert response.json()["errors"] == {"phone_number": [NUMBER_TAKEN]}
    assert foreign_only.status_code == 201
    assert PhoneNumber.objects.filter(organization=organization, phone_number=NUMBER).count() == 1


def test_a_number_cannot_be_renumbered_onto_one_its_organization_holds_but_may_onto_one_another_holds(
    api: Any, organization: Any
) -> None:
    mine = PhoneNumberFactory(organization=organization, phone_number="+14155550100")
    PhoneNumberFactory(organization=organization, phone_number="+14155550101")
    PhoneNumberFactory(organization=OrganizationFactory(), phone_number="+14155550102")
    url = f"/api/v1/phone-numbers/{mine.pk}"

    taken = api.patch(url, {"phone_number": "+14155550101"}, format="json")
    foreign = api.patch(url, {"phone_number": "+14155550102"}, format="json")

    assert taken.status_code == 400
    assert taken.json()["errors"] == {"phone_number": [NUMBER_TAKEN]}
    assert foreign.status_code == 200, foreign.content
    mine.refresh_from_db()
    assert mine.phone_number == "+14155550102"


def test_each_organization_dials_from_its_own_registration_of_a_shared_number(client_for: Any) -> None:
    numbers = [PhoneNumberFactory(organization=OrganizationFactory(), phone_number=NUMBER) for _ in range(2)]

    for number in numbers:
        api = client_for(ApiKeyFactory(organization=number.organization).raw_key)
        body = {"from_phone_number": NUMBER, "to_phone_number": "+14155550199"}
        assert api.post("/calls/initiate", body, format="json").status_code == 200

    calls = list(Call.objects.order_by("pk"))
    assert [(c.organization_id, c.phone_number_id, c.telephony_account_id) for c in calls] == [
        (n.organization_id, n.pk, n.telephony_account_id) for n in numbers
    ]
    assert [sent.account_id for sent in sandbox.outbox] == [n.telephony_account_id for n in numbers]


def test_the_database_keeps_a_number_unique_within_its_organization_only(organization: Any) -> None:
    PhoneNumberFactory(organization=organization, phone_number=NUMBER)
    PhoneNumberFactory(organization=OrganizationFactory(), phone_number=NUMBER)

    with pytest.raises(IntegrityError), transaction.atomic():
        PhoneNumber.objects.create(
            organization=organization, phone_number=NUMBER, telephony_account=account_of(organization, "sandbox")
        )


def test_the_sandbox_holds_every_number_it_is_asked_about_and_lists_its_demo_range() -> None:
    backend = SandboxBackend(provider="sandbox", options={})
    account = ProviderAccount(id=1, provider="sandbox", credentials={})

    assert backend.owned_numbers(account, number=NUMBER) == [OwnedNumber(number=NUMBER)]
    assert [item.number for item in backend.owned_numbers(account)] == [f"+141555501{n:02d}" for n in range(10)]


# --- Twilio ----------------------------------------------------------------------------------------------------


def test_a_twilio_number_is_registered_once_twilio_lists_it_for_the_account(
    api: Any, organization: Any, fake_twilio: FakeProvider
) -> None:
    twilio_holds(fake_twilio, TWILIO_SID, NUMBER)

    response = register(api, account_of(organization, "twilio", TWILIO), number="+1 415 555 0142")

    assert response.status_code == 201, response.content
    assert (response.json()["phone_number"], response.json()["provider"]) == (NUMBER, "twilio")
    [request] = fake_twilio.requests
    assert (request.method, request.path) == ("GET", twilio_numbers_path(TWILIO_SID))
    assert request.query == {"PhoneNumber": [NUMBER], "PageSize": ["1000"]}
    assert request.headers["authorization"] == TWILIO_BASIC


@pytest.mark.parametrize(
    "listed",
    [[], ["+141555501420", "+14155550143"]],  # nothing; or only what Twilio's partial match also finds
    ids=["nothing", "partial matches"],
)
def test_a_number_the_twilio_account_does_not_hold_is_400_and_not_saved(
    api: Any, organization: Any, fake_twilio: FakeProvider, listed: list[str]
) -> None:
    twilio_holds(fake_twilio, TWILIO_SID, *listed)
    account = account_of(organization, "twilio", TWILIO)

    response = register(api, account)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["detail"] == "The telephony account does not own this number."
    assert body["errors"] == {"phone_number": [f"{NUMBER} is not a number of the Twilio account '{account.name}'."]}
    assert not PhoneNumber.objects.exists()


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ({"status": 401, "json": {"code": 20003, "message": "Authenticate", "status": 401}}, 502),
        ({"status": 500, "json": {"code": 20500, "message": "Internal Server Error", "status": 500}}, 502),
        (
            {"status": 429, "json": {"code": 20429, "message": "Too Many Requests"}, "headers": {"Retry-After": "7"}},
            429,
        ),
        ({"mode": "drop"}, 504),
    ],
    ids=["unauthorized", "server error", "rate limited", "connection dropped"],
)
def test_when_twilio_cannot_confirm_the_number_nothing_is_saved_and_the_error_says_why(
    api: Any, organization: Any, fake_twilio: FakeProvider, reply: dict[str, Any], status: int
) -> None:
    fake_twilio.on("GET", twilio_numbers_path(TWILIO_SID), **reply)

    response = register(api, account_of(organization, "twilio", TWILIO))

    assert response.status_code == status, response.content
    assert response.json()["detail"].startswith("Could not verify that the telephony account owns this number")
    assert TWILIO["auth_token"] not in response.content.decode()
    assert not PhoneNumber.objects.exists()
    if status == 429:
        assert response["Retry-After"] == "7"
        assert response.json()["limit"] == "provider"


def test_an_unreachable_twilio_is_a_504_and_nothing_is_saved(api: Any, organization: Any, refused_url: str) -> None:
    with use_backend("twilio", "telephony.backends.twilio.TwilioBackend", API_BASE_URL=refused_url, TIMEOUT=2):
        response = register(api, account_of(organization, "twilio", TWILIO))

    assert response.status_code == 504
    assert "Could not reach Twilio" in response.json()["detail"]
    assert not PhoneNumber.objects.exists()


def test_twilio_listing_follows_every_page(fake_twilio: FakeProvider) -> None:
    path = twilio_numbers_path(TWILIO_SID)
    next_page = f"{path}?PageSize=1000&Page=1&PageToken=PAnext"
    fake_twilio.on("GET", path, json=twilio_page(TWILIO_SID, ["+14155550100", "+14155550101"], next_page_uri=next_page))
    fake_twilio.on("GET", path, query={"PageToken": "PAnext"}, json=twilio_page(TWILIO_SID, ["+14155550102"]))
    backend = TwilioBackend(provider="twilio", options={"API_BASE_URL": fake_twilio.url, "TIMEOUT": 2})

    owned = backend.owned_numbers(ProviderAccount(id=1, provider="twilio", credentials=TWILIO))

    assert [item.number for item in owned] == ["+14155550100", "+14155550101", "+14155550102"]
    assert owned[0].provider_id.startswith("PN")
    assert [request.query.get("PageToken") for request in fake_twilio.requests] == [None, ["PAnext"]]
    assert all(request.headers["authorization"] == TWILIO_BASIC for request in fake_twilio.requests)


# --- Telnyx ----------------------------------------------------------------------------------------------------


def test_a_telnyx_number_is_registered_once_telnyx_lists_it_for_the_account(
    api: Any, organization: Any, fake_telnyx: FakeProvider
) -> None:
    telnyx_holds(fake_telnyx, NUMBER)

    response = register(api, account_of(organization, "telnyx", TELNYX))

    assert response.status_code == 201, response.content
    [request] = fake_telnyx.requests
    assert (request.method, request.path) == ("GET", "/v2/phone_numbers")
    # Digits only: Telnyx answers nothing to a filter with a + in it.
    assert request.query == {"filter[phone_number]": ["14155550142"], "page[size]": ["250"]}
    assert request.headers["authorization"] == f"Bearer {TELNYX['api_key']}"


@pytest.mark.parametrize("status", ["deleted", "ported-out", "port-failed"])
def test_a_number_telnyx_lists_as_gone_is_not_the_accounts(
    api: Any, organization: Any, fake_telnyx: FakeProvider, status: str
) -> None:
    telnyx_holds(fake_telnyx, NUMBER, status=status)

    response = register(api, account_of(organization, "telnyx", TELNYX))

    assert response.status_code == 400
    assert response.json()["detail"] == "The telephony account does not own this number."
    assert not PhoneNumber.objects.exists()


def test_an_unreachable_telnyx_is_a_504_and_nothing_is_saved(api: Any, organization: Any, refused_url: str) -> None:
    with use_backend("telnyx", "telephony.backends.telnyx.TelnyxBackend", API_BASE_URL=f"{refused_url}/v2", TIMEOUT=2):
        response = register(api, account_of(organization, "telnyx", TELNYX))

    assert response.status_code == 504
    assert not PhoneNumber.objects.exists()


def test_telnyx_listing_follows_pages_up_to_the_cap(fake_telnyx: FakeProvider, monkeypatch: Any) -> None:
    pages = {1: ["+14155550100", "+14155550101"], 2: ["+14155550102", "+14155550103"], 3: ["+14155550104"]}
    # The first request names no page; the later rules, with a page[number], win over this one.
    fake_telnyx.on("GET", "/v2/phone_numbers", json=telnyx_page(pages[1], page=1, total_pages=3))
    for page, numbers in pages.items():
        fake_telnyx.on(
            "GET",
            "/v2/phone_numbers",
            query={"page[number]": str(page)},
            json=telnyx_page(numbers, page=page, total_pages=3),
        )
    backend = TelnyxBackend(provider="telnyx", options={"API_BASE_URL": f"{fake_telnyx.url}/v2", "TIMEOUT": 2})
    account = ProviderAccount(id=1, provider="telnyx", credentials=TELNYX)

    everything = backend.owned_numbers(account)
    requests_for_everything = len(fake_telnyx.requests)
    monkeypatch.setattr(telnyx, "MAX_OWNED_NUMBERS", 3)
    capped = backend.owned_numbers(account)

    assert [item.number for item in everything] == [n for numbers in pages.values() for n in numbers]
    assert requests_for_everything == 3
    assert [item.number for item in capped] == ["+14155550100", "+14155550101", "+14155550102"]
    assert len(fake_telnyx.requests) - requests_for_everything == 2


# --- Vonage ----------------------------------------------------------------------------------------------------


def test_a_vonage_number_is_registered_once_the_numbers_api_lists_it_for_the_account(
    api: Any, organization: Any, fake_vonage: FakeProvider, vonage_credentials: dict[str, str]
) -> None:
    vonage_holds(fake_vonage, NUMBER)

    response = register(api, account_of(organization, "vonage", vonage_credentials))

    assert response.status_code == 201, response.content
    [request] = fake_vonage.requests
    assert (request.method, request.path) == ("GET", "/account/numbers")
    assert request.query == {"pattern": ["14155550142"], "search_pattern": ["0"], "size": ["100"], "index": ["1"]}
    # The account's API key and secret, never the application's JWT.
    assert request.headers["authorization"] == VONAGE_BASIC


def test_a_number_the_vonage_account_does_not_hold_is_400_and_not_saved(
    api: Any, organization: Any, fake_vonage: FakeProvider, vonage_credentials: dict[str, str]
) -> None:
    vonage_holds(fake_vonage)  # {"count": 0}: Vonage leaves "numbers" out

    response = register(api, account_of(organization, "vonage", vonage_credentials))

    assert response.status_code == 400
    assert response.json()["detail"] == "The telephony account does not own this number."
    assert not PhoneNumber.objects.exists()


def test_a_vonage_account_without_api_key_and_secret_cannot_register_a_number(
    api: Any, organization: Any, fake_vonage: FakeProvider, vonage_credentials: dict[str, str]
) -> None:
    without = {k: v for k, v in vonage_credentials.items() if k not in ("api_key", "api_secret")}

    response = register(api, account_of(organization, "vonage", without))

    assert response.status_code == 400
    [message] = response.json()["errors"]["telephony_account_id"]
    assert "api_key and api_secret" in message
    assert "missing: api_key, api_secret" in message
    assert fake_vonage.requests == []
    assert not PhoneNumber.objects.exists()


def test_vonage_listing_follows_every_page(fake_vonage: FakeProvider, vonage_credentials: dict[str, str]) -> None:
    first = [f"+1415555{n:04d}" for n in range(100)]
    second = [f"+1415555{n:04d}" for n in range(100, 150)]
    fake_vonage.on("GET", "/account/numbers", query={"index": "1"}, json=vonage_page(first, count=150))
    fake_vonage.on("GET", "/account/numbers", query={"index": "2"}, json=vonage_page(second, count=150))
    backend = VonageBackend(provider="vonage", options={"REST_HOST": fake_vonage.host, "TIMEOUT": 2})

    owned = backend.owned_numbers(ProviderAccount(id=1, provider="vonage", credentials=vonage_credentials))

    assert [item.number for item in owned] == first + second
    assert [request.query["index"] for request in fake_vonage.requests] == [["1"], ["2"]]


def test_vonage_api_credentials_never_reach_the_logs(
    fake_vonage: FakeProvider, vonage_credentials: dict[str, str], caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_vonage.on("GET", "/account/numbers", status=401, json={"type": "unauthorized", "title": "Bad credentials"})
    backend = VonageBackend(provider="vonage", options={"REST_HOST": fake_vonage.host, "TIMEOUT": 2})
    account = ProviderAccount(id=1, provider="vonage", credentials=vonage_credentials)

    for _ in range(2):  # the SDK logs the previous request's Authorization header before the next one
        with pytest.raises(TelephonyError):
            backend.owned_numbers(account, number=NUMBER)

    assert "Basic [redacted]" in caplog.text
    assert VONAGE_BASIC.split()[1] not in caplog.text
    assert VONAGE_API_SECRET not in caplog.text


# --- updates ---------------------------------------------------------------------------------------------------


def test_an_update_asks_the_provider_only_when_the_number_or_its_account_changes(
    api: Any, organization: Any, fake_twilio: FakeProvider
) -> None:
    twilio_holds(fake_twilio, TWILIO_SID, NUMBER, "+14155550143")
    account = account_of(organization, "twilio", TWILIO)
    number = PhoneNumberFactory(organization=organization, phone_number=NUMBER, telephony_account=account)
    url = f"/api/v1/phone-numbers/{number.pk}"

    untouched = api.patch(
        url, {"friendly_name": "Renamed", "assistant_id": AssistantFactory(organization=organization).pk}, format="json"
    )
    asked_after_untouched = len(fake_twilio.requests)
    renumbered = api.patch(url, {"phone_number": "+14155550143"}, format="json")

    assert (untouched.status_code, renumbered.status_code) == (200, 200)
    assert asked_after_untouched == 0
    assert [request.query["PhoneNumber"] for request in fake_twilio.requests] == [["+14155550143"]]


def test_moving_a_number_to_an_account_that_does_not_hold_it_is_400_and_changes_nothing(
    api: Any, organization: Any, fake_twilio: FakeProvider
) -> None:
    twilio_holds(fake_twilio, TWILIO_SID)  # holds nothing
    number = PhoneNumberFactory(organization=organization, phone_number=NUMBER)  # a sandbox number
    twilio_account = account_of(organization, "twilio", TWILIO)

    response = api.patch(
        f"/api/v1/phone-numbers/{number.pk}", {"telephony_account_id": twilio_account.pk}, format="json"
    )

    assert response.status_code == 400
    assert len(fake_twilio.requests) == 1
    number.refresh_from_db()
    assert number.telephony_account.provider == "sandbox"


# --- the provider is never asked inside a transaction -----------------------------------------------------------


class RecordingBackend(TelephonyBackend):
    """Holds every number, and notes whether a transaction was open when asked."""

    asked: list[bool] = []

    def owned_numbers(self, account: ProviderAccount, *, number: str | None = None) -> list[OwnedNumber]:
        RecordingBackend.asked.append(connection.in_atomic_block)
        return [OwnedNumber(number=number)] if number else []


@pytest.mark.django_db(transaction=True)
def test_the_provider_is_asked_outside_any_transaction_by_the_api_and_the_admin(
    api: Any, organization: Any, admin_client: Any
) -> None:
    RecordingBackend.asked = []
    account = account_of(organization, "sandbox")
    with override_settings(TELEPHONY_BACKENDS={"sandbox": {"BACKEND": f"{__name__}.RecordingBackend"}}):
        assert register(api, account).status_code == 201
        added = admin_client.post(reverse("admin:assistants_phonenumber_add"), admin_form(organization, account))

    assert added.status_code == 302
    assert RecordingBackend.asked == [False, False]
    assert PhoneNumber.objects.count() == 2


# --- the admin -------------------------------------------------------------------------------------------------


def admin_form(
    organization: Any, account: TelephonyAccount, number: str = "+14155550150", **fields: Any
) -> dict[str, Any]:
    return {
        "organization": organization.pk,
        "phone_number": number,
        "friendly_name": "",
        "telephony_account": account.pk,
        "assistant": "",
        "flow": "",
        "is_active": "on",
        **fields,
    }


def form_errors(response: Any) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in response.context["adminform"].form.errors.items()}


def test_the_admin_registers_a_number_the_twilio_account_holds(
    admin_client: Any, organization: Any, fake_twilio: FakeProvider
) -> None:
    twilio_holds(fake_twilio, TWILIO_SID, NUMBER)
    PhoneNumberFactory(organization=OrganizationFactory(), phone_number=NUMBER)  # another organization's: no matter

    response = admin_client.post(
        reverse("admin:assistants_phonenumber_add"),
        admin_form(organization, account_of(organization, "twilio", TWILIO), NUMBER),
    )

    assert response.status_code == 302
    assert PhoneNumber.objects.get(organization=organization).phone_number == NUMBER
    assert [request.query["PhoneNumber"] for request in fake_twilio.requests] == [[NUMBER]]


def test_the_admin_refuses_a_number_the_twilio_account_does_not_hold(
    admin_client: Any, organization: Any, fake_twilio: FakeProvider
) -> None:
    twilio_holds(fake_twilio, TWILIO_SID)
    account = account_of(organization, "twilio", TWILIO)

    response = admin_client.post(reverse("admin:assistants_phonenumber_add"), admin_form(organization, account, NUMBER))

    assert response.status_code == 200
    assert form_errors(response)["phone_number"] == [
        f"{NUMBER} is not a number of the Twilio account '{account.name}'."
    ]
    assert not PhoneNumber.objects.exists()


def test_the_admin_refuses_renumbering_onto_a_number_the_organization_holds_with_a_form_error(
    admin_client: Any, organization: Any
) -> None:
    PhoneNumberFactory(organization=organization, phone_number="+14155550101")
    mine = PhoneNumberFactory(organization=organization, phone_number="+14155550100")
    url = reverse("admin:assistants_phonenumber_change", args=[mine.pk])

    response = admin_client.post(url, admin_form(organization, mine.telephony_account, "+14155550101"))

    assert response.status_code == 200
    assert form_errors(response)["phone_number"] == [NUMBER_TAKEN]
    mine.refresh_from_db()
    assert mine.phone_number == "+14155550100"


def test_the_admin_asks_no_provider_when_neither_the_number_nor_its_account_changes(
    admin_client: Any, organization: Any, fake_twilio: FakeProvider
) -> None:
    account = account_of(organization, "twilio", TWILIO)
    number = PhoneNumberFactory(organization=organization, phone_number=NUMBER, telephony_account=account)
    url = reverse("admin:assistants_phonenumber_change", args=[number.pk])

    response = admin_client.post(url, admin_form(organization, account, NUMBER, friendly_name="Front desk"))

    assert response.status_code == 302
    assert fake_twilio.requests == []
    number.refresh_from_db()
    assert number.friendly_name == "Front desk"


# --- Vonage's optional API credentials ---------------------------------------------------------------------------


def test_a_vonage_account_takes_its_api_key_and_secret_as_write_only_credentials(
    api: Any, vonage_credentials: dict[str, str]
) -> None:
    response = api.post(
        "/api/v1/telephony/accounts",
        {"provider": "vonage", "name": "Main", "credentials": vonage_credentials},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert VONAGE_API_SECRET not in response.content.decode()
    assert TelephonyAccount.objects.get().credentials == vonage_credentials


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({"api_secret": None}, {"api_secret": ["Required with api_key."]}),
        ({"api_key": None}, {"api_key": ["Required with api_secret."]}),
        ({"api_secret": "  "}, {"api_secret": ["Must not be empty when given."]}),
    ],
)
def test_vonage_api_key_and_secret_come_together_or_not_at_all(
    api: Any, vonage_credentials: dict[str, str], change: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    credentials = {k: v for k, v in {**vonage_credentials, **change}.items() if v is not None}

    response = api.post(
        "/api/v1/telephony/accounts", {"provider": "vonage", "name": "Main", "credentials": credentials}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"]["credentials"] == errors
    assert not TelephonyAccount.objects.exists()


def test_a_whole_twilio_listing_sends_no_filter_and_asks_for_pages_of_the_cap(fake_twilio: FakeProvider) -> None:
    twilio_holds(fake_twilio, TWILIO_SID, NUMBER)

    TwilioBackend(provider="twilio", options={"API_BASE_URL": fake_twilio.url}).owned_numbers(
        ProviderAccount(id=1, provider="twilio", credentials=TWILIO)
    )

    [request] = fake_twilio.requests
    assert request.query == {"PageSize": [str(twilio.MAX_OWNED_NUMBERS)]}


# --- operators' tools ------------------------------------------------------------------------------------------


def test_place_test_call_asks_which_organization_when_several_hold_the_from_number() -> None:
    for slug in ("globex", "acme"):
        PhoneNumberFactory(organization=OrganizationFactory(slug=slug), phone_number=NUMBER)

    with pytest.raises(CommandError) as ambiguous:
        call_command("place_test_call", "--from", NUMBER, "--to", "+14155550199", stdout=StringIO())
    with pytest.raises(CommandError) as elsewhere:
        call_command("place_test_call", "--from", NUMBER, "--to", "+14155550199", "--org", "initech", stdout=StringIO())
    call_command("place_test_call", "--from", NUMBER, "--to", "+14155550199", "--org", "globex", stdout=StringIO())

    assert (
        str(ambiguous.value) == f"{NUMBER} is registered in 2 organizations (acme, globex): choose one with --org SLUG."
    )
    assert str(elsewhere.value) == f"Organization initech has no number {NUMBER}."
    assert Call.objects.get().organization.slug == "globex"
    assert len(sandbox.outbox) == 1
