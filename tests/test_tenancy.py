"""Tenant isolation across the whole API: another organization's object is a 404 that reveals nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import transaction

from assistants.models import Assistant, ConversationFlow, PhoneNumber
from burki.models import ApiKey
from calls.models import Call, Suppression
from campaigns.models import Campaign, CampaignContact
from telephony.backends import sandbox
from telephony.models import TelephonyAccount
from tests.factories import (
    ApiKeyFactory,
    CallFactory,
    ConversationFlowFactory,
    OrganizationFactory,
    PhoneNumberFactory,
)
from webhooks.models import Delivery, Event, WebhookEndpoint
from webhooks.services import event_emit, webhook_endpoint_create

pytestmark = pytest.mark.django_db

MARKER = "Zebediah"  # in every name of the other organization's objects: it must never appear in a response
LIST_ENDPOINTS = [
    "/api/v1/calls",
    "/api/v1/assistants",
    "/api/v1/flows",
    "/api/v1/phone-numbers",
    "/api/v1/telephony/accounts",
    "/api/v1/api-keys",
    "/api/v1/webhooks",
    "/api/v1/suppressions",
    "/api/v1/campaigns",
]
# Not a JSON list, but the same call log: the whole of it, streamed.
EXPORT_URL = "/api/v1/calls/export"


@pytest.fixture
def theirs() -> dict[str, Any]:
    other = OrganizationFactory(name=f"{MARKER} Inc", slug="zeb")
    flow = ConversationFlowFactory(organization=other, name=f"{MARKER} flow")
    flow.base_assistant.name = f"{MARKER} assistant"
    flow.base_assistant.save()
    number = PhoneNumberFactory(
        organization=other, phone_number="+14155550177", friendly_name=f"{MARKER} line", assistant=flow.base_assistant
    )
    number.telephony_account.name = f"{MARKER} account"
    number.telephony_account.save()
    call = CallFactory(
        organization=other,
        assistant=flow.base_assistant,
        telephony_account=number.telephony_account,
        call_sid="CAzebediah",
        status="in-progress",
        welcome_message=f"Hello {MARKER}",
    )
    key = ApiKeyFactory(organization=other, name=f"{MARKER} key")
    endpoint = webhook_endpoint_create(
        organization=other, url=f"https://hooks.example.com/{MARKER}", description=f"{MARKER} hook"
    )[0]
    with transaction.atomic():
        event = event_emit(organization_id=other.pk, type="call.ended", subject="call:0", data={"name": MARKER})
    suppression = Suppression.objects.create(
        organization=other, phone_number="+14155550177", reason=f"{MARKER} asked", source="opt-out", call=call
    )
    campaign = Campaign.objects.create(
        organization=other, name=f"{MARKER} campaign", from_numbers=[number.phone_number], status="running"
    )
    CampaignContact.objects.create(
        campaign=campaign, line=1, phone_number="+14155550178", variables={"name": MARKER}, last_call=call
    )
    return {
        "suppression": suppression,
        "campaign": campaign,
        "call": call,
        "assistant": flow.base_assistant,
        "flow": flow,
        "number": number,
        "key": key,
        "endpoint": endpoint,
        "delivery": Delivery.objects.get(endpoint=endpoint),
        "event": event,
    }


def object_urls(theirs: dict[str, Any]) -> list[tuple[str, str]]:
    call, assistant, flow, number, key = (theirs[k] for k in ("call", "assistant", "flow", "number", "key"))
    account = number.telephony_account
    return [
        ("get", f"/api/v1/calls/{call.pk}"),
        ("get", f"/api/v1/calls/sid/{call.call_sid}"),
        ("get", f"/api/v1/calls/{call.pk}/events"),
        ("post", f"/api/v1/calls/{call.call_sid}/terminate"),
        ("post", f"/api/v1/calls/{call.pk}/cancel"),
        ("get", f"/api/v1/assistants/{assistant.pk}"),
        ("patch", f"/api/v1/assistants/{assistant.pk}"),
        ("delete", f"/api/v1/assistants/{assistant.pk}"),
        ("get", f"/api/v1/flows/{flow.pk}"),
        ("patch", f"/api/v1/flows/{flow.pk}"),
        ("delete", f"/api/v1/flows/{flow.pk}"),
        ("get", f"/api/v1/phone-numbers/{number.pk}"),
        ("patch", f"/api/v1/phone-numbers/{number.pk}"),
        ("delete", f"/api/v1/phone-numbers/{number.pk}"),
        ("get", f"/api/v1/telephony/accounts/{account.pk}"),
        ("patch", f"/api/v1/telephony/accounts/{account.pk}"),
        ("delete", f"/api/v1/telephony/accounts/{account.pk}"),
        ("get", f"/api/v1/telephony/accounts/{account.pk}/numbers/available"),
        ("post", f"/api/v1/telephony/accounts/{account.pk}/numbers/import"),
        ("delete", f"/api/v1/api-keys/{key.pk}"),
        ("get", f"/api/v1/webhooks/{theirs['endpoint'].pk}"),
        ("patch", f"/api/v1/webhooks/{theirs['endpoint'].pk}"),
        ("delete", f"/api/v1/webhooks/{theirs['endpoint'].pk}"),
        ("post", f"/api/v1/webhooks/{theirs['endpoint'].pk}/rotate-secret"),
        ("get", f"/api/v1/webhooks/{theirs['endpoint'].pk}/deliveries"),
        ("post", f"/api/v1/webhooks/{theirs['endpoint'].pk}/deliveries/{theirs['delivery'].pk}/redeliver"),
        ("get", f"/api/v1/events/{theirs['event'].uid}"),
        *[
            (method, f"/api/v1/campaigns/{theirs['campaign'].pk}{suffix}")
            for method, suffix in (
                ("get", ""),
                ("patch", ""),
                ("delete", ""),
                ("get", "/contacts"),
                ("post", "/contacts"),
                ("post", "/start"),
                ("post", "/pause"),
                ("post", "/resume"),
                ("post", "/cancel"),
                ("get", "/results.csv"),
            )
        ],
        ("get", f"/api/v1/suppressions/{theirs['suppression'].pk}"),
        ("delete", f"/api/v1/suppressions/{theirs['suppression'].pk}"),
    ]


def snapshot() -> list[Any]:
    tables = [
        list(model.objects.order_by("pk").values())
        for model in (
            Call,
            Assistant,
            ConversationFlow,
            PhoneNumber,
            TelephonyAccount,
            Delivery,
            Event,
            Campaign,
            CampaignContact,
            Suppression,
        )
    ]
    # The endpoint's secrets field is ciphertext that changes on every save: compare what it decrypts to.
    tables.append([(e.pk, e.url, e.enabled, e.secrets) for e in WebhookEndpoint.objects.order_by("pk")])
    # The caller's own key records its use; nothing else of any key may change.
    return [*tables, list(ApiKey.objects.order_by("pk").values("pk", "name", "revoked_at"))]


# What a member may not do whatever the object (burki.permissions): refused with 403 before any lookup.
ADMIN_ONLY = {
    ("patch", "phone-numbers"),
    ("delete", "phone-numbers"),
    ("patch", "telephony"),
    ("delete", "telephony"),
    ("delete", "api-keys"),
    ("delete", "suppressions"),
}
# Bringing numbers in from a provider account, listing them included, is an admin's.
ADMIN_ONLY_SUFFIXES = ("/numbers/available", "/numbers/import")


@pytest.mark.parametrize("role", ["member", "admin", "owner"])
def test_every_object_url_of_another_organization_is_404_revealing_nothing(
    organization: Any, client_for: Any, theirs: dict[str, Any], role: str
) -> None:
    api = client_for(ApiKeyFactory(organization=organization, role=role).raw_key)
    before = snapshot()
    patch = {"name": "mine now", "friendly_name": "mine now", "is_active": False, "description": "x"}

    for method, url in object_urls(theirs):
        response = getattr(api, method)(url, patch, format="json")
        # A member is refused an admin's operation for what it is, whoever owns the object: nothing is revealed.
        resource = url.split("/")[3]
        refused = role == "member" and (
            (method, resource) in ADMIN_ONLY or resource in ("webhooks", "events") or url.endswith(ADMIN_ONLY_SUFFIXES)
        )
        assert response.status_code == (403 if refused else 404), (method, url, response.status_code)
        body = response.json()
        assert set(body) == ({"detail", "required_role"} if refused else {"detail"}), (method, url, body)
        text = json.dumps(body)
        assert MARKER not in text
        assert "4155550177" not in text
        assert "CAzebediah" not in text

    assert snapshot() == before
    assert sandbox.hangups == []


@pytest.mark.parametrize("url", LIST_ENDPOINTS)
def test_every_list_shows_only_the_callers_organization(api: Any, theirs: dict[str, Any], url: str) -> None:
    response = api.get(url)

    assert response.status_code == 200
    assert MARKER not in response.content.decode()
    assert "4155550177" not in response.content.decode()


@pytest.mark.parametrize("accept", ["text/csv", "application/x-ndjson"])
def test_the_export_shows_only_the_callers_organization(api: Any, theirs: dict[str, Any], accept: str) -> None:
    response = api.get(EXPORT_URL, HTTP_ACCEPT=accept)

    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    assert MARKER not in text
    assert "4155550177" not in text
    assert "CAzebediah" not in text


def test_nothing_of_another_organization_can_be_used_to_place_a_call(
    api: Any, number: Any, theirs: dict[str, Any]
) -> None:
    from_theirs = api.post(
        "/calls/initiate", {"from_phone_number": "+14155550177", "to_phone_number": "+14155550199"}, format="json"
    )
    their_assistant = api.post(
        "/calls/initiate",
        {
            "from_phone_number": "+14155550100",
            "to_phone_number": "+14155550199",
            "assistant_id": theirs["assistant"].pk,
        },
        format="json",
    )

    assert (from_theirs.status_code, their_assistant.status_code) == (404, 404)
    assert MARKER not in from_theirs.content.decode() + their_assistant.content.decode()
    assert sandbox.outbox == []


@pytest.mark.parametrize("url", LIST_ENDPOINTS)
@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=-1", "limit=abc", "skip=-1", "skip=abc"])
def test_every_list_refuses_out_of_range_pagination(api: Any, url: str, query: str) -> None:
    response = api.get(f"{url}?{query}")

    assert response.status_code == 400
    assert response.json()["detail"] == "Invalid request."
    assert set(response.json()["errors"]) <= {"skip", "limit"}


@pytest.mark.parametrize("url", LIST_ENDPOINTS)
def test_every_list_answers_in_burkis_shape(api: Any, url: str) -> None:
    body = api.get(f"{url}?skip=0&limit=100").json()

    # Burki clients read items, total, skip and limit; the cursor and the estimate flag came later, beside them.
    assert set(body) == {"items", "total", "skip", "limit", "next_cursor", "total_is_estimate"}
    assert (body["skip"], body["limit"]) == (0, 100)
    assert (body["next_cursor"], body["total_is_estimate"]) == (None, False)


@pytest.mark.parametrize("url", LIST_ENDPOINTS)
@pytest.mark.parametrize(
    "cursor",
    # Not base64, not a list, nulls, an id past the column's range, a boolean, too long.
    [
        "garbage",
        "W10",
        "eyJhIjogMX0",
        "W251bGwsIG51bGxd",
        "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgMTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwXQ",
        "W3RydWUsIDFd",
        "A" * 1100,
    ],
)
def test_every_list_answers_a_tampered_cursor_with_400(api: Any, url: str, cursor: str) -> None:
    response = api.get(f"{url}?cursor={cursor}")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"cursor"}


@pytest.mark.parametrize("url", LIST_ENDPOINTS)
def test_every_list_refuses_a_cursor_with_skip(api: Any, url: str) -> None:
    response = api.get(f"{url}?skip=1&cursor=abc")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"cursor"}
