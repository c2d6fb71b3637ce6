"""The management commands: seed_demo, create_api_key and place_test_call, run as an operator runs them."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import phonenumbers
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import override_settings

from assistants.demo import DEMO_NUMBERS
from assistants.models import Assistant, ConversationFlow, PhoneNumber
from burki.models import ApiKey, Organization, api_key_hash
from calls.models import Call
from telephony.backends import sandbox
from telephony.models import TelephonyAccount
from tests.factories import (
    AssistantFactory,
    ConversationFlowFactory,
    OrganizationFactory,
    PhoneNumberFactory,
    TelephonyAccountFactory,
)

pytestmark = pytest.mark.django_db

TO = "+14155550199"


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def seed(*args: str) -> dict[str, Any]:
    output = run("seed_demo", "--json", *args)
    parsed: dict[str, Any] = json.loads(output)
    return parsed


def refusal(command: str, *args: str) -> str:
    with pytest.raises(CommandError) as excinfo:
        run(command, *args)
    return str(excinfo.value)


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Organization, Assistant, ConversationFlow, TelephonyAccount, PhoneNumber)
    }


def initiate(client: Any, from_number: str, **body: Any) -> Any:
    return client.post(
        "/calls/initiate", {"from_phone_number": from_number, "to_phone_number": TO, **body}, format="json"
    )


# --- seed_demo ---------------------------------------------------------------------------------------------------


def test_seed_demo_json_prints_one_object_with_the_documented_keys() -> None:
    output = run("seed_demo", "--json")

    data = json.loads(output)  # the whole of stdout, so nothing else was printed
    assert isinstance(data, dict)
    assert data["organization"] == "demo"
    assert data["api_key"].startswith("burki_")
    assert set(data["phone_numbers"]) == {"assistant", "flow"}
    organization = Organization.objects.get(slug="demo")
    assistant = Assistant.objects.get(pk=data["assistant_id"], organization=organization)
    flow = ConversationFlow.objects.get(pk=data["flow_id"], organization=organization)
    assert flow.base_assistant == assistant
    assert assistant.is_active
    assert "{{ name | default('there') }}" in assistant.welcome_message
    assert PhoneNumber.objects.get(phone_number=data["phone_numbers"]["assistant"]).assistant == assistant
    assert PhoneNumber.objects.get(phone_number=data["phone_numbers"]["flow"]).flow == flow
    account = TelephonyAccount.objects.get(organization=organization)
    assert account.provider == "sandbox"
    assert account.credentials == {}


def test_seed_demo_key_authenticates_against_the_api(client_for: Any) -> None:
    data = seed()

    assert client_for(data["api_key"]).get("/api/v1/calls").status_code == 200
    assert client_for("burki_" + "x" * 43).get("/api/v1/calls").status_code == 401


def test_seed_demo_key_places_a_call_from_the_assistant_number(client_for: Any) -> None:
    data = seed()

    response = initiate(client_for(data["api_key"]), data["phone_numbers"]["assistant"])

    assert response.status_code == 200, response.json()
    [sent] = sandbox.outbox
    call = Call.objects.get()
    assert sent.call_sid == call.call_sid
    assert call.organization.slug == "demo"
    assert call.assistant_id == data["assistant_id"]
    assert call.flow_id is None
    assert call.welcome_message == "Hi there, this is Burki's demo assistant."


def test_seed_demo_key_places_a_call_through_the_flow_from_the_flow_number(client_for: Any) -> None:
    data = seed()

    response = initiate(client_for(data["api_key"]), data["phone_numbers"]["flow"], variables={"name": "Ada"})

    assert response.status_code == 200, response.json()
    assert len(sandbox.outbox) == 1
    call = Call.objects.get()
    assert call.flow_id == data["flow_id"]
    assert call.assistant_id == ConversationFlow.objects.get(pk=data["flow_id"]).base_assistant_id
    assert call.welcome_message == "Hi Ada, this is Burki's demo assistant."


def test_seed_demo_run_twice_reuses_everything_but_prints_a_new_key_and_keeps_the_old_one_valid(
    client_for: Any,
) -> None:
    first = seed()
    before = counts()

    second = seed()

    assert counts() == before
    assert before == {
        "Organization": 1,
        "Assistant": 1,
        "ConversationFlow": 1,
        "TelephonyAccount": 1,
        "PhoneNumber": 2,
    }
    for key in ("organization", "assistant_id", "flow_id", "phone_numbers"):
        assert second[key] == first[key]
    assert second["created"] == []
    assert second["api_key"] != first["api_key"]
    assert ApiKey.objects.filter(organization__slug="demo", revoked_at__isnull=True).count() == 2
    for key in (first["api_key"], second["api_key"]):
        assert client_for(key).get("/api/v1/calls").status_code == 200


def test_seed_demo_for_another_org_creates_a_separate_organization_with_numbers_of_its_own(client_for: Any) -> None:
    demo = seed()

    other = seed("--org", "other")

    assert Organization.objects.filter(slug__in=["demo", "other"]).count() == 2
    assert other["organization"] == "other"
    assert other["assistant_id"] != demo["assistant_id"]
    assert other["flow_id"] != demo["flow_id"]
    assert set(other["phone_numbers"].values()).isdisjoint(demo["phone_numbers"].values())
    assert PhoneNumber.objects.filter(organization__slug="other").count() == 2
    # Each key acts in its own organization only.
    response = initiate(client_for(other["api_key"]), demo["phone_numbers"]["assistant"])
    assert response.status_code == 404
    assert sandbox.outbox == []


def test_seed_demo_numbers_are_valid_e164_numbers_of_the_fictional_range() -> None:
    demo = seed()
    other = seed("--org", "other")

    numbers = [*demo["phone_numbers"].values(), *other["phone_numbers"].values()]
    assert numbers == ["+14155550100", "+14155550101", "+14155550102", "+14155550103"]
    for number in [*numbers, demo["destination"]]:
        parsed = phonenumbers.parse(number, None)
        assert phonenumbers.is_valid_number(parsed)
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == number


def test_seed_demo_skips_numbers_other_organizations_already_own(number: Any) -> None:
    assert number.phone_number == "+14155550100"

    data = seed()

    assert data["phone_numbers"] == {"assistant": "+14155550101", "flow": "+14155550102"}
    assert PhoneNumber.objects.get(phone_number="+14155550100").organization.slug == "acme"


def test_seed_demo_refuses_cleanly_when_the_demo_range_is_exhausted(organization: Any) -> None:
    account: Any = TelephonyAccountFactory(organization=organization)
    PhoneNumber.objects.bulk_create(
        PhoneNumber(organization=organization, phone_number=number, telephony_account=account)
        for number in DEMO_NUMBERS
    )

    message = refusal("seed_demo")

    assert "+14155550100 to +14155550199" in message
    assert "\n" not in message
    # One transaction: nothing half-seeded is left behind.
    assert not Organization.objects.filter(slug="demo").exists()
    assert not ApiKey.objects.exists()


def test_seed_demo_example_destination_is_none_of_the_organizations_own_numbers(organization: Any) -> None:
    account: Any = TelephonyAccountFactory(organization=organization)
    PhoneNumber.objects.bulk_create(
        PhoneNumber(organization=organization, phone_number=number, telephony_account=account)
        for number in DEMO_NUMBERS[:-2]
    )

    data = seed()

    assert data["phone_numbers"] == {"assistant": "+14155550198", "flow": "+14155550199"}
    assert data["destination"] == "+14155550197"


def test_seed_demo_prints_the_key_ids_numbers_and_a_curl_example_for_humans() -> None:
    output = run("seed_demo")

    key = ApiKey.objects.get()
    assistant = Assistant.objects.get()
    flow = ConversationFlow.objects.get()
    [key_line] = [line for line in output.splitlines() if line.strip().startswith("API key:")]
    raw = key_line.split()[-1]
    assert raw.startswith(key.prefix)
    assert ApiKey.objects.filter(hashed_key=api_key_hash(raw)).exists()
    assert f"id {assistant.pk}, answers +14155550100" in output
    assert f"id {flow.pk}, answers +14155550101" in output
    assert "curl -X POST http://127.0.0.1:8000/calls/initiate" in output
    assert f"-H 'Authorization: Bearer {raw}'" in output
    curl_body = output.split("-d '", 1)[1].split("'", 1)[0]
    assert json.loads(curl_body) == {
        "from_phone_number": "+14155550100",
        "to_phone_number": "+14155550199",
        "variables": {"name": "Ada"},
    }


def test_seed_demo_reports_demo_parts_switched_off_since_the_last_run_without_switching_them_on() -> None:
    data = seed()
    Assistant.objects.filter(pk=data["assistant_id"]).update(is_active=False)

    again = seed()

    assert again["inactive"] == ["assistant"]
    assert not Assistant.objects.get(pk=data["assistant_id"]).is_active
    assert "Switched off (calls through them are refused): assistant" in run("seed_demo")


@pytest.mark.parametrize("slug", ["Not a slug!", "x" * 65])
def test_seed_demo_refuses_an_invalid_organization_slug(slug: str) -> None:
    message = refusal("seed_demo", "--org", slug)

    assert message.startswith("Invalid organization slug")
    assert not Organization.objects.exists()


@override_settings(DEBUG=True)
def test_seed_demo_creates_an_admin_superuser_once_when_debug_is_on() -> None:
    first = seed()
    second = seed()

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    assert admin.is_staff
    assert first["admin"]["created"] is True
    assert admin.check_password(first["admin"]["password"])
    assert second["admin"] == {"username": "admin", "created": False, "password": None}
    assert get_user_model().objects.count() == 1


@override_settings(DEBUG=True)
def test_seed_demo_prints_the_admin_password_only_on_the_run_that_created_it() -> None:
    first = run("seed_demo")
    second = run("seed_demo")

    password = first.split("user admin, password ", 1)[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert password not in second
    assert "user admin (already existed, password unchanged)" in second


@override_settings(DEBUG=True)
def test_seed_demo_leaves_an_existing_admin_user_alone() -> None:
    user = get_user_model().objects.create_user(username="admin", password="kept as it was")

    data = seed()

    user.refresh_from_db()
    assert data["admin"]["created"] is False
    assert user.check_password("kept as it was")
    assert not user.is_superuser


@override_settings(DEBUG=False)
def test_seed_demo_creates_no_admin_when_debug_is_off() -> None:
    data = seed()

    assert data["admin"] is None
    assert not get_user_model().objects.exists()
    assert "Admin:" not in run("seed_demo")


# --- create_api_key ------------------------------------------------------------------------------------------


def test_create_api_key_prints_only_a_working_key(organization: Any, client_for: Any) -> None:
    output = run("create_api_key", "--org", "acme", "--name", "crm sync")

    assert output.count("\n") == 1
    raw = output.strip()
    key = ApiKey.objects.get(organization=organization, name="crm sync")
    assert raw.startswith(key.prefix)
    assert client_for(raw).get("/api/v1/calls").status_code == 200


def test_create_api_key_refuses_an_unknown_organization(organization: Any) -> None:
    message = refusal("create_api_key", "--org", "nope", "--name", "crm sync")

    assert message == "No organization with slug 'nope'."
    assert not ApiKey.objects.exists()


def test_create_api_key_accepts_a_name_of_100_characters_and_refuses_101(organization: Any) -> None:
    run("create_api_key", "--org", "acme", "--name", "n" * 100)

    message = refusal("create_api_key", "--org", "acme", "--name", "n" * 101)

    assert "at most 100 characters" in message
    assert ApiKey.objects.count() == 1


@pytest.mark.parametrize("args", [("--org", "acme"), ("--org", "acme", "--name", "  ")], ids=["missing", "blank"])
def test_create_api_key_requires_a_name(organization: Any, args: tuple[str, ...]) -> None:
    message = refusal("create_api_key", *args)

    assert "--name" in message
    assert not ApiKey.objects.exists()


# --- place_test_call -----------------------------------------------------------------------------------------


def test_place_test_call_dials_through_the_sandbox_as_the_from_numbers_organization(number: Any) -> None:
    other: Any = PhoneNumberFactory(organization=OrganizationFactory(slug="other"), phone_number="+14155550150")

    output = run(
        "place_test_call",
        "--from",
        "+1 (415) 555-0150",
        "--to",
        TO,
        "--welcome",
        "Hi {{name}} from {{ company }}",
        "--var",
        "name=Ada",
        "--var",
        "company=Acme = Best",
    )

    [sent] = sandbox.outbox
    call = Call.objects.get()
    assert call.organization == other.organization
    assert call.phone_number == other
    assert call.assistant == other.assistant
    assert call.from_number == "+14155550150"
    assert call.to_number == TO
    assert call.status == "queued"
    assert call.welcome_message == "Hi Ada from Acme = Best"
    assert call.variables == {"name": "Ada", "company": "Acme = Best"}
    assert sent.call_sid == call.call_sid
    assert sent.request.to_number == TO
    assert f"Call {call.pk} queued" in output
    assert call.call_sid is not None
    assert call.call_sid in output


def test_place_test_call_json_output_parses_and_describes_the_call(number: Any) -> None:
    output = run("place_test_call", "--from", "+14155550100", "--to", TO, "--json")

    data = json.loads(output)
    call = Call.objects.get()
    assert data["call_id"] == call.pk
    assert data["call_sid"] == call.call_sid
    assert data["status"] == "queued"
    assert data["from_number"] == "+14155550100"
    assert data["to_number"] == TO
    assert data["organization"] == "acme"
    assert data["assistant_id"] == number.assistant_id
    assert data["welcome_message"] == "Hello from the assistant."


def test_place_test_call_goes_through_the_flow_of_a_flow_number(organization: Any) -> None:
    flow: Any = ConversationFlowFactory(organization=organization)
    PhoneNumberFactory(organization=organization, phone_number="+14155550120", assistant=None, flow=flow)

    data = json.loads(run("place_test_call", "--from", "+14155550120", "--to", TO, "--json"))

    assert data["flow_id"] == flow.pk
    assert data["assistant_id"] == flow.base_assistant_id
    assert len(sandbox.outbox) == 1


def test_place_test_call_uses_the_assistant_given_and_nests_dotted_variables(number: Any) -> None:
    assistant: Any = AssistantFactory(organization=number.organization, welcome_message="Hi {{ customer.name }}")

    run(
        "place_test_call",
        "--from",
        "+14155550100",
        "--to",
        TO,
        "--assistant",
        str(assistant.pk),
        "--var",
        "customer.name=Ada",
    )

    call = Call.objects.get()
    assert call.assistant == assistant
    assert call.variables == {"customer": {"name": "Ada"}}
    assert call.welcome_message == "Hi Ada"


REFUSALS = {
    "unknown from-number": (["--from", "+14155550111", "--to", TO], "No organization owns +14155550111."),
    "invalid from-number": (["--from", "12345", "--to", TO], "--from: Must start with +"),
    "invalid destination": (["--from", "+14155550100", "--to", "12345"], "--to: Must start with +"),
    "destination is the caller": (["--from", "+14155550100", "--to", "+14155550100"], "--to: The destination"),
    "missing variable": (
        ["--from", "+14155550100", "--to", TO, "--welcome", "Hi {{name}}"],
        "Missing template variables: name. (--welcome: Missing variable: name)",
    ),
    "unknown assistant": (["--from", "+14155550100", "--to", TO, "--assistant", "999999"], "No assistant 999999"),
    "malformed var": (["--from", "+14155550100", "--to", TO, "--var", "name"], "--var 'name': expected KEY=VALUE"),
    "var without key": (["--from", "+14155550100", "--to", TO, "--var", "=Ada"], "expected KEY=VALUE"),
    "var both value and object": (
        ["--from", "+14155550100", "--to", TO, "--var", "a=1", "--var", "a.b=2"],
        "--var a.b: 'a' is already given a value",
    ),
    "assistant not a number": (["--from", "+14155550100", "--to", TO, "--assistant", "one"], "--assistant"),
}


@pytest.mark.parametrize(("args", "expected"), REFUSALS.values(), ids=REFUSALS.keys())
def test_place_test_call_refuses_with_one_line_and_dials_nothing(number: Any, args: list[str], expected: str) -> None:
    message = refusal("place_test_call", *args)

    assert expected in message
    assert "\n" not in message
    assert sandbox.outbox == []
    assert not Call.objects.exists()


def test_place_test_call_refuses_a_number_whose_assistant_is_inactive(number: Any) -> None:
    Assistant.objects.filter(pk=number.assistant_id).update(is_active=False)

    message = refusal("place_test_call", "--from", "+14155550100", "--to", TO)

    assert message == f"Assistant '{number.assistant.name}' (id {number.assistant_id}) is inactive."
    assert sandbox.outbox == []
    assert not Call.objects.exists()


def test_place_test_call_refuses_an_inactive_from_number(number: Any) -> None:
    PhoneNumber.objects.filter(pk=number.pk).update(is_active=False)

    message = refusal("place_test_call", "--from", "+14155550100", "--to", TO)

    assert message == "+14155550100 (organization acme) is inactive."
    assert sandbox.outbox == []


def test_place_test_call_reports_the_recorded_call_when_the_provider_refuses(number: Any, settings: Any) -> None:
    settings.TELEPHONY_BACKENDS = {
        **settings.TELEPHONY_BACKENDS,
        "sandbox": {"BACKEND": "telephony.backends.sandbox.SandboxBackend", "OPTIONS": {"REFUSE_PREFIXES": ["+1415"]}},
    }

    message = refusal("place_test_call", "--from", "+14155550100", "--to", TO)

    call = Call.objects.get()
    assert call.status == "failed"
    assert message.startswith("The telephony provider refused the call")
    assert message.endswith(f"Call {call.pk} is recorded as failed.")
    assert "\n" not in message
    assert sandbox.outbox == []


@pytest.mark.django_db
def test_seed_demo_makes_the_development_admin_an_owner_of_the_demo_organization(settings: Any) -> None:
    from rest_framework.test import APIClient

    from burki.models import Membership

    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", "--json", stdout=out)
    seeded = json.loads(out.getvalue())

    membership = Membership.objects.get(user__username="admin")
    assert membership.organization.slug == "demo"
    assert membership.role == "owner"
    token = (
        APIClient()
        .post("/api/v1/auth/token", {"username": "admin", "password": seeded["admin"]["password"]}, format="json")
        .json()["access"]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/calls").status_code == 200
