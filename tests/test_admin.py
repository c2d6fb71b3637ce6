"""The Django admin: every model browsable, calls read-only, credentials write-only, keys shown once."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assistants.models import Assistant, ConversationFlow, PhoneNumber
from burki.models import ApiKey, Membership, Organization, api_key_hash
from calls.models import Call, CallEvent
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

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "auth-token-that-must-never-be-rendered"
RAW_KEY = re.compile(r"burki_[A-Za-z0-9_-]{43}")


def admin_url(model: type[Any], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def place_test_call_url(number: PhoneNumber | int) -> str:
    return reverse("admin:calls_call_place_test_call", args=[getattr(number, "pk", number)])


def page_text(response: Any) -> str:
    return response.content.decode()


def form_errors(response: Any) -> dict[str, list[str]]:
    form = response.context["adminform"].form if "adminform" in response.context else response.context["form"]
    return {name: list(errors) for name, errors in form.errors.items()}


# --- every model: changelist (searched and filtered) and add page ---------------------------------------------


def _organizations() -> tuple[Any, dict[str, str]]:
    match = OrganizationFactory(name="Acme Robotics", slug="acme-robotics")
    old = OrganizationFactory(name="Robotics of Old", slug="old-robotics")
    Organization.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    OrganizationFactory(name="Globex", slug="globex")
    since = (timezone.now() - timedelta(days=1)).isoformat()
    return match, {"q": "robotics", "created_at__gte": since}


def _memberships() -> tuple[Any, dict[str, str]]:
    match = MembershipFactory(user=UserFactory(username="ada.lovelace"), role=Membership.Role.ADMIN)
    MembershipFactory(user=UserFactory(username="ada.byron"), role=Membership.Role.MEMBER)
    MembershipFactory(user=UserFactory(username="grace"), role=Membership.Role.ADMIN)
    return match, {"q": "ada", "role__exact": "admin"}


def _api_keys() -> tuple[Any, dict[str, str]]:
    match = ApiKeyFactory(name="ci deploy")
    ApiKeyFactory(name="ci deploy (old)", revoked_at=timezone.now())
    ApiKeyFactory(name="billing")
    return match, {"q": "deploy", "status": "active"}


def _telephony_accounts() -> tuple[Any, dict[str, str]]:
    match = TelephonyAccountFactory(name="Main line", provider="twilio")
    TelephonyAccountFactory(name="Main line (sandbox)", provider="sandbox")
    TelephonyAccountFactory(name="Support", provider="twilio")
    return match, {"q": "main", "provider__exact": "twilio"}


def _assistants() -> tuple[Any, dict[str, str]]:
    match = AssistantFactory(name="Sales bot")
    AssistantFactory(name="Sales bot (retired)", is_active=False)
    AssistantFactory(name="Support bot")
    return match, {"q": "sales", "is_active__exact": "1"}


def _flows() -> tuple[Any, dict[str, str]]:
    match = ConversationFlowFactory(name="Onboarding")
    ConversationFlowFactory(name="Onboarding v0", is_active=False)
    ConversationFlowFactory(name="Renewal")
    return match, {"q": "onboarding", "is_active__exact": "1"}


def _phone_numbers() -> tuple[Any, dict[str, str]]:
    match = PhoneNumberFactory(phone_number="+14155550123", friendly_name="Front desk")
    PhoneNumberFactory(phone_number="+14155550124", friendly_name="Front desk (old)", is_active=False)
    PhoneNumberFactory(phone_number="+14155550125", friendly_name="Back office")
    return match, {"q": "front", "is_active__exact": "1"}


def _calls() -> tuple[Any, dict[str, str]]:
    match = CallFactory(to_number="+14155550177", status="completed")
    CallFactory(to_number="+14155550177", status="failed")
    CallFactory(to_number="+14155550178", status="completed")
    return match, {"q": "+14155550177", "status__exact": "completed"}


def _call_events() -> tuple[Any, dict[str, str]]:
    call = CallFactory()
    match = CallEvent.objects.create(
        call=call, provider="sandbox", event_type="answered", status="in-progress", key="1"
    )
    CallEvent.objects.create(call=call, provider="sandbox", event_type="answered", status="", key="2")
    CallEvent.objects.create(call=call, provider="sandbox", event_type="ringing", status="in-progress", key="3")
    return match, {"q": "answered", "status": "in-progress"}


CHANGELISTS: list[tuple[type[Any], Callable[[], tuple[Any, dict[str, str]]]]] = [
    (Organization, _organizations),
    (Membership, _memberships),
    (ApiKey, _api_keys),
    (TelephonyAccount, _telephony_accounts),
    (Assistant, _assistants),
    (ConversationFlow, _flows),
    (PhoneNumber, _phone_numbers),
    (Call, _calls),
    (CallEvent, _call_events),
]


@pytest.mark.parametrize(("model", "make"), CHANGELISTS, ids=[m._meta.model_name for m, _ in CHANGELISTS])
def test_every_changelist_loads_searched_and_filtered(
    admin_client: Any, model: type[Any], make: Callable[[], tuple[Any, dict[str, str]]]
) -> None:
    match, params = make()

    response = admin_client.get(admin_url(model, "changelist"), params)

    assert response.status_code == 200
    # An unknown filter parameter makes the admin redirect with ?e=1, so a 200 means the filter was understood.
    assert list(response.context["cl"].result_list) == [match]


@pytest.mark.parametrize(
    "model", [Organization, Membership, ApiKey, TelephonyAccount, Assistant, ConversationFlow, PhoneNumber]
)
def test_every_editable_model_has_an_add_page(admin_client: Any, model: type[Any]) -> None:
    response = admin_client.get(admin_url(model, "add"))

    assert response.status_code == 200
    assert "adminform" in response.context


@pytest.mark.parametrize(
    ("model", "make", "add_rows"),
    [
        (PhoneNumber, PhoneNumberFactory, lambda: PhoneNumberFactory(flow=None)),
        (Call, CallFactory, CallFactory),
        (ApiKey, ApiKeyFactory, ApiKeyFactory),
        (Membership, MembershipFactory, MembershipFactory),
        (TelephonyAccount, TelephonyAccountFactory, TelephonyAccountFactory),
        (ConversationFlow, ConversationFlowFactory, ConversationFlowFactory),
    ],
)
def test_changelist_queries_do_not_grow_with_the_rows(
    admin_client: Any, model: type[Any], make: Callable[[], Any], add_rows: Callable[[], Any]
) -> None:
    make()
    with CaptureQueriesContext(connection) as one_row:
        assert admin_client.get(admin_url(model, "changelist")).status_code == 200
    for _ in range(4):
        add_rows()
    with CaptureQueriesContext(connection) as five_rows:
        response = admin_client.get(admin_url(model, "changelist"))

    assert len(response.context["cl"].result_list) == 5
    # The organization filter's choices grow with organizations, not with rows: they are one query either way.
    assert len(five_rows) == len(one_row)


# --- organizations and memberships ----------------------------------------------------------------------------


def test_an_organization_is_created_with_its_members_inline(admin_client: Any) -> None:
    owner = UserFactory(username="founder")

    response = admin_client.post(
        admin_url(Organization, "add"),
        {
            "name": "Initech",
            "slug": "initech",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-user": str(owner.pk),
            "memberships-0-role": "owner",
        },
    )

    assert response.status_code == 302
    organization = Organization.objects.get(slug="initech")
    assert list(organization.memberships.values_list("user__username", "role")) == [("founder", "owner")]
    assert "founder" in page_text(admin_client.get(admin_url(Organization, "change", organization.pk)))


# --- calls are read-only --------------------------------------------------------------------------------------


def test_a_call_is_shown_read_only(admin_client: Any) -> None:
    call = CallFactory(to_number="+14155550166")
    CallEvent.objects.create(call=call, provider="sandbox", event_type="ringing", status="ringing", key="k1")

    response = admin_client.get(admin_url(Call, "change", call.pk))

    assert response.status_code == 200
    text = page_text(response)
    assert "View call" in text
    assert "+14155550166" in text
    assert "ringing" in text
    assert 'name="to_number"' not in text
    assert 'name="status"' not in text
    assert 'name="_save"' not in text


def test_a_call_cannot_be_added_changed_or_deleted(admin_client: Any) -> None:
    call = CallFactory(status="queued")

    assert admin_client.get(admin_url(Call, "add")).status_code == 403
    assert admin_client.post(admin_url(Call, "add"), {"to_number": "+14155550199"}).status_code == 403
    assert admin_client.post(admin_url(Call, "change", call.pk), {"status": "completed"}).status_code == 403
    assert admin_client.get(admin_url(Call, "delete", call.pk)).status_code == 403
    assert admin_client.post(admin_url(Call, "delete", call.pk), {"post": "yes"}).status_code == 403

    call.refresh_from_db()
    assert call.status == "queued"


def test_calls_cannot_be_deleted_in_bulk(admin_client: Any) -> None:
    call = CallFactory()

    response = admin_client.get(admin_url(Call, "changelist"))
    admin_client.post(admin_url(Call, "changelist"), {"action": "delete_selected", "_selected_action": [call.pk]})

    assert "delete_selected" not in page_text(response)
    assert Call.objects.filter(pk=call.pk).exists()


def test_call_events_cannot_be_added_or_changed(admin_client: Any) -> None:
    event = CallEvent.objects.create(call=CallFactory(), provider="sandbox", event_type="ringing", key="k")

    assert admin_client.get(admin_url(CallEvent, "add")).status_code == 403
    assert admin_client.post(admin_url(CallEvent, "change", event.pk), {"status": "x"}).status_code == 403
    assert admin_client.get(admin_url(CallEvent, "change", event.pk)).status_code == 200


# --- telephony credentials are write-only ---------------------------------------------------------------------


@pytest.fixture
def twilio_account(organization: Any) -> Any:
    return TelephonyAccountFactory(
        organization=organization,
        provider="twilio",
        name="Twilio main",
        credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
    )


def edit_account(client: Any, account: TelephonyAccount, **changes: str) -> Any:
    data = {"provider": account.provider, "name": account.name, "is_active": "on", "credentials": ""}
    data.update(changes)
    return client.post(admin_url(TelephonyAccount, "change", account.pk), data)


def test_the_account_page_shows_the_credentials_hint_and_never_their_values(
    admin_client: Any, twilio_account: TelephonyAccount
) -> None:
    response = admin_client.get(admin_url(TelephonyAccount, "change", twilio_account.pk))

    assert response.status_code == 200
    text = page_text(response)
    assert TWILIO_TOKEN not in text
    assert TWILIO_SID[:-4] not in text
    assert "…cdef" in text
    assert 'name="credentials"' in text


def test_the_account_list_shows_only_the_hint(admin_client: Any, twilio_account: TelephonyAccount) -> None:
    text = page_text(admin_client.get(admin_url(TelephonyAccount, "changelist")))

    assert "…cdef" in text
    assert TWILIO_TOKEN not in text
    assert TWILIO_SID[:-4] not in text


def test_a_view_only_staff_user_does_not_see_the_credentials_either(
    client: Any, twilio_account: TelephonyAccount
) -> None:
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_telephonyaccount"))
    # A staff user who is not a superuser sees only the organizations they administer.
    MembershipFactory(user=viewer, organization=twilio_account.organization, role=Membership.Role.ADMIN)
    client.force_login(viewer)

    response = client.get(admin_url(TelephonyAccount, "change", twilio_account.pk))

    assert response.status_code == 200
    text = page_text(response)
    assert "View telephony account" in text
    assert TWILIO_TOKEN not in text
    assert TWILIO_SID[:-4] not in text
    assert "…cdef" in text


def test_blank_credentials_on_edit_keep_the_current_ones(admin_client: Any, twilio_account: TelephonyAccount) -> None:
    response = edit_account(admin_client, twilio_account, name="Twilio renamed")

    assert response.status_code == 302
    twilio_account.refresh_from_db()
    assert twilio_account.name == "Twilio renamed"
    assert twilio_account.credentials == {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN}


def test_new_credentials_replace_the_current_ones(admin_client: Any, twilio_account: TelephonyAccount) -> None:
    new = {"account_sid": "AC" + "f" * 32, "auth_token": "rotated-token"}

    response = edit_account(admin_client, twilio_account, credentials=json.dumps(new))

    assert response.status_code == 302
    twilio_account.refresh_from_db()
    assert twilio_account.credentials == new


def test_invalid_credentials_are_a_form_error_and_are_not_echoed_back(
    admin_client: Any, twilio_account: TelephonyAccount
) -> None:
    typed = {"account_sid": "AC" + "e" * 32, "auth_token": "", "region": "typed-secret-value"}

    response = edit_account(admin_client, twilio_account, credentials=json.dumps(typed))

    assert response.status_code == 200
    errors = form_errors(response)["credentials"]
    assert "auth_token: This credential is required." in errors
    assert any(error.startswith("region: Not a twilio credential") for error in errors)
    text = page_text(response)
    assert "typed-secret-value" not in text
    assert "e" * 32 not in text
    assert TWILIO_TOKEN not in text
    twilio_account.refresh_from_db()
    assert twilio_account.credentials == {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN}


def test_credentials_that_are_not_json_are_a_form_error(admin_client: Any, twilio_account: TelephonyAccount) -> None:
    response = edit_account(admin_client, twilio_account, credentials="{account_sid: nope")

    assert response.status_code == 200
    assert form_errors(response)["credentials"] == ["Enter a valid JSON."]


def test_changing_the_provider_requires_its_credentials(admin_client: Any, twilio_account: TelephonyAccount) -> None:
    response = edit_account(admin_client, twilio_account, provider="telnyx")

    assert response.status_code == 200
    assert "api_key: This credential is required." in form_errors(response)["credentials"]
    twilio_account.refresh_from_db()
    assert twilio_account.provider == "twilio"


def test_a_new_account_is_created_with_validated_credentials(admin_client: Any, organization: Any) -> None:
    url = admin_url(TelephonyAccount, "add")
    base = {"organization": organization.pk, "provider": "twilio", "name": "New line", "is_active": "on"}

    missing = admin_client.post(url, {**base, "credentials": ""})
    created = admin_client.post(
        url, {**base, "credentials": json.dumps({"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN})}
    )

    assert missing.status_code == 200
    assert "account_sid: This credential is required." in form_errors(missing)["credentials"]
    assert created.status_code == 302
    account = TelephonyAccount.objects.get(name="New line")
    assert account.organization == organization
    assert account.credentials == {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN}


# --- API keys: created by the service, shown once, revoked --------------------------------------------------


def test_a_key_added_in_the_admin_is_shown_once_and_stored_only_as_a_hash(
    admin_client: Any, admin_user: Any, organization: Any, client_for: Any
) -> None:
    response = admin_client.post(
        admin_url(ApiKey, "add"), {"organization": organization.pk, "name": "zapier"}, follow=True
    )

    assert response.status_code == 200
    [raw] = RAW_KEY.findall(page_text(response))
    key = ApiKey.objects.get()
    assert (key.organization, key.name, key.created_by) == (organization, "zapier", admin_user)
    assert key.hashed_key == api_key_hash(raw)
    assert key.prefix == raw[:12]
    assert raw not in [getattr(key, field.attname) for field in ApiKey._meta.concrete_fields]
    assert client_for(raw).get("/api/v1/calls").status_code == 200
    assert LogEntry.objects.get().object_id == str(key.pk)

    again = page_text(admin_client.get(admin_url(ApiKey, "changelist")))
    assert "zapier" in again
    assert raw not in again


def test_the_key_page_shows_the_prefix_but_never_the_hash(admin_client: Any, api_key: Any) -> None:
    response = admin_client.get(admin_url(ApiKey, "change", api_key.pk))

    assert response.status_code == 200
    text = page_text(response)
    assert api_key.prefix in text
    assert api_key.hashed_key not in text
    assert api_key.raw_key not in text
    assert 'name="name"' not in text


def test_an_existing_key_cannot_be_edited_or_deleted(admin_client: Any, api_key: Any) -> None:
    changed = admin_client.post(
        admin_url(ApiKey, "change", api_key.pk), {"organization": api_key.organization_id, "name": "renamed"}
    )
    deleted = admin_client.post(admin_url(ApiKey, "delete", api_key.pk), {"post": "yes"})

    assert changed.status_code == 403
    assert deleted.status_code == 403
    api_key.refresh_from_db()
    assert api_key.name == "test key"


def test_the_revoke_action_revokes_only_the_selected_keys(admin_client: Any, api_key: Any, client_for: Any) -> None:
    other = ApiKeyFactory(organization=api_key.organization)

    response = admin_client.post(
        admin_url(ApiKey, "changelist"),
        {"action": "revoke_selected_keys", "_selected_action": [api_key.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Revoked 1 key." in page_text(response)
    api_key.refresh_from_db()
    other.refresh_from_db()
    assert api_key.revoked_at is not None
    assert other.revoked_at is None
    assert client_for(api_key.raw_key).get("/api/v1/calls").status_code == 401
    assert client_for(other.raw_key).get("/api/v1/calls").status_code == 200


# --- relations stay inside one organization ------------------------------------------------------------------


def test_a_number_with_an_assistant_of_another_organization_is_rejected(admin_client: Any, organization: Any) -> None:
    account = TelephonyAccountFactory(organization=organization)
    foreign_assistant = AssistantFactory(organization=OrganizationFactory())

    response = admin_client.post(
        admin_url(PhoneNumber, "add"),
        {
            "organization": organization.pk,
            "phone_number": "+14155550142",
            "friendly_name": "",
            "telephony_account": account.pk,
            "assistant": foreign_assistant.pk,
            "flow": "",
            "is_active": "on",
        },
    )

    assert response.status_code == 200
    assert form_errors(response)["assistant"] == ["Must belong to the same organization as the number."]
    assert not PhoneNumber.objects.filter(phone_number="+14155550142").exists()


def test_a_numbers_change_form_offers_only_its_organizations_assistants(admin_client: Any, number: Any) -> None:
    own = AssistantFactory(organization=number.organization)
    foreign = AssistantFactory(organization=OrganizationFactory())
    url = admin_url(PhoneNumber, "change", number.pk)

    offered = admin_client.get(url).context["adminform"].form.fields["assistant"].queryset
    response = admin_client.post(
        url,
        {
            "phone_number": number.phone_number,
            "friendly_name": "",
            "telephony_account": number.telephony_account_id,
            "assistant": foreign.pk,
            "flow": "",
            "is_active": "on",
        },
    )

    assert own in offered
    assert number.assistant in offered
    assert foreign not in offered
    assert response.status_code == 200
    assert "assistant" in form_errors(response)
    number.refresh_from_db()
    assert number.assistant != foreign


def test_a_flow_with_a_base_assistant_of_another_organization_is_rejected(admin_client: Any, organization: Any) -> None:
    foreign_assistant = AssistantFactory(organization=OrganizationFactory())

    response = admin_client.post(
        admin_url(ConversationFlow, "add"),
        {
            "organization": organization.pk,
            "name": "Cross-tenant",
            "base_assistant": foreign_assistant.pk,
            "is_active": "on",
            "definition": json.dumps(SIMPLE_FLOW),
        },
    )

    assert response.status_code == 200
    assert form_errors(response)["base_assistant"] == ["The base assistant must belong to the same organization."]
    assert not ConversationFlow.objects.filter(name="Cross-tenant").exists()


# --- placing a test call from a number ----------------------------------------------------------------------


def place(client: Any, number: Any, **fields: Any) -> Any:
    data = {"to_number": "+14155550199", "assistant": "", "welcome_message": "", "agenda": "", "variables": ""}
    data.update(fields)
    return client.post(place_test_call_url(number), data, follow=True)


def test_the_number_pages_link_to_the_test_call_form(admin_client: Any, number: Any) -> None:
    url = place_test_call_url(number)

    assert url in page_text(admin_client.get(admin_url(PhoneNumber, "changelist")))
    assert url in page_text(admin_client.get(admin_url(PhoneNumber, "change", number.pk)))


def test_the_test_call_form_shows_the_number(admin_client: Any, number: Any) -> None:
    response = admin_client.get(place_test_call_url(number))

    assert response.status_code == 200
    text = page_text(response)
    assert number.phone_number in text
    assert 'name="to_number"' in text
    assert str(number.organization) in text


def test_a_test_call_is_placed_through_the_service_and_reported(admin_client: Any, number: Any) -> None:
    response = place(admin_client, number)

    assert response.status_code == 200
    [sent] = sandbox.outbox
    assert sent.request.to_number == "+14155550199"
    assert sent.request.from_number == number.phone_number
    call = Call.objects.get()
    assert (call.status, call.phone_number, call.organization) == ("queued", number, number.organization)
    assert call.call_sid == sent.call_sid
    assert response.redirect_chain[-1][0] == admin_url(Call, "change", call.pk)
    assert f"Call {call.pk} placed from {number.phone_number} to +14155550199" in page_text(response)
    assert f"provider call id {call.call_sid}, status queued" in page_text(response)


def test_a_test_call_passes_the_chosen_assistant_agenda_and_variables(admin_client: Any, number: Any) -> None:
    chosen = AssistantFactory(organization=number.organization, welcome_message="Hi {{name}}")

    place(
        admin_client,
        number,
        assistant=chosen.pk,
        agenda="Confirm {{name}}'s booking",
        variables=json.dumps({"name": "Ada"}),
    )

    call = Call.objects.get()
    assert call.assistant == chosen
    assert call.welcome_message == "Hi Ada"
    assert call.agenda == "Confirm Ada's booking"
    assert call.variables == {"name": "Ada"}
    assert len(sandbox.outbox) == 1


def test_an_invalid_destination_re_renders_the_form_and_dials_nothing(admin_client: Any, number: Any) -> None:
    response = place(admin_client, number, to_number="12345")

    assert response.status_code == 200
    assert response.redirect_chain == []
    assert form_errors(response)["to_number"] == ["Must start with + and the country code (E.164), e.g. +14155550100."]
    assert "Invalid request." in page_text(response)
    assert sandbox.outbox == []
    assert not Call.objects.exists()


def test_a_refused_destination_shows_the_providers_refusal(admin_client: Any, number: Any) -> None:
    backends = copy.deepcopy(settings.TELEPHONY_BACKENDS)
    backends["sandbox"]["OPTIONS"] = {"REFUSE_PREFIXES": ["+1415555019"]}

    with override_settings(TELEPHONY_BACKENDS=backends):
        response = place(admin_client, number)

    assert response.status_code == 200
    assert sandbox.outbox == []
    call = Call.objects.get()
    assert call.status == "failed"
    errors = form_errors(response)["__all__"]
    assert any("Sandbox refuses calls to this destination." in error for error in errors)
    assert f"Call {call.pk} is recorded as failed." in errors


def test_a_missing_template_variable_is_shown_on_its_field(admin_client: Any, number: Any) -> None:
    response = place(admin_client, number, welcome_message="Hello {{name}}")

    assert form_errors(response)["welcome_message"] == ["Missing variable: name"]
    assert "Missing template variables: name." in form_errors(response)["__all__"]
    assert sandbox.outbox == []


def test_variables_must_be_a_json_object(admin_client: Any, number: Any) -> None:
    response = place(admin_client, number, variables='["Ada"]')

    assert form_errors(response)["variables"] == ["Must be a JSON object."]
    assert sandbox.outbox == []


def test_an_assistant_of_another_organization_cannot_be_chosen(admin_client: Any, number: Any) -> None:
    foreign = AssistantFactory(organization=OrganizationFactory())

    response = place(admin_client, number, assistant=foreign.pk)

    assert "assistant" in form_errors(response)
    assert foreign not in response.context["form"].fields["assistant"].queryset
    assert sandbox.outbox == []


def test_an_unknown_number_is_404(admin_client: Any) -> None:
    assert admin_client.get(place_test_call_url(999_999)).status_code == 404
    assert admin_client.post(place_test_call_url(999_999), {"to_number": "+14155550199"}).status_code == 404


def test_the_test_call_form_needs_an_admin_login(client: Any, number: Any) -> None:
    response = client.post(place_test_call_url(number), {"to_number": "+14155550199"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert sandbox.outbox == []


def test_the_test_call_form_needs_permission_to_place_calls(client: Any, number: Any) -> None:
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_phonenumber"))
    client.force_login(staff)

    response = client.post(place_test_call_url(number), {"to_number": "+14155550199"})

    assert response.status_code == 403
    assert sandbox.outbox == []


def test_an_organizations_limits_and_destination_policy_are_set_in_the_admin(admin_client: Any) -> None:
    organization = OrganizationFactory(name="Limits", slug="limits")
    url = reverse("admin:burki_organization_change", args=[organization.pk])

    response = admin_client.post(
        url,
        {
            "name": "Limits",
            "slug": "limits",
            "max_concurrent_calls": "3",
            "allowed_destination_countries": '["US", "CA"]',
            "block_premium_destinations": "on",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    bad = admin_client.post(
        url,
        {
            "name": "Limits",
            "slug": "limits",
            "allowed_destination_countries": '["USA"]',
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content
    organization.refresh_from_db()
    assert (organization.max_concurrent_calls, organization.allowed_destination_countries) == (3, ["US", "CA"])
    assert organization.block_premium_destinations is True
    assert bad.status_code == 200
    assert b"ISO 3166" in bad.content
