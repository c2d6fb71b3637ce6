"""/api/v1/webhooks and /api/v1/events: endpoints with a secret shown once, rotation, the delivery log, redelivery."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from tests.factories import OrganizationFactory
from webhooks.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from webhooks.services import MAX_ENDPOINTS, event_emit, webhook_endpoint_create

pytestmark = pytest.mark.django_db
URL = "https://hooks.example.com/burki"


def create(api: Any, **body: Any) -> Any:
    return api.post("/api/v1/webhooks", {"url": URL, **body}, format="json")


def emit(organization: Any, subject: str = "call:1", type: str = "call.ended") -> Event:
    event = event_emit(organization_id=organization.pk, type=type, subject=subject, data={"id": 1, "status": "done"})
    assert event is not None
    return event


def test_an_endpoint_is_created_with_its_secret_shown_in_that_response_only(api: Any) -> None:
    response = create(api, description="CRM", event_types=["call.ended", "call.answered"])

    assert response.status_code == 201, response.content
    body = response.json()
    secret = body.pop("secret")
    assert secret.startswith("whsec_")
    Webhook(secret)  # the published library accepts it
    assert body["url"] == URL
    assert body["event_types"] == ["call.ended", "call.answered"]
    assert (body["enabled"], body["disabled_reason"], body["description"]) == (True, "", "CRM")
    shown = [api.get(f"/api/v1/webhooks/{body['id']}").content, api.get("/api/v1/webhooks").content]
    for content in shown:
        assert b"whsec_" not in content
        assert secret.encode() not in content


def test_the_list_is_paginated_newest_first(api: Any) -> None:
    first, second = create(api).json(), create(api, url=URL + "/2").json()

    body = api.get("/api/v1/webhooks?limit=1").json()

    assert (body["total"], body["limit"]) == (2, 1)
    assert [item["id"] for item in body["items"]] == [second["id"]]
    assert first["id"] != second["id"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"url": "http://hooks.example.com/"}, "url", "must use https://"),
        ({"url": "ftp://hooks.example.com/"}, "url", "must start with https://"),
        ({"url": "https://127.0.0.1/hook"}, "url", "private or internal"),
        ({"url": "https://[::ffff:10.0.0.1]/hook"}, "url", "private or internal"),
        ({"url": "https://169.254.169.254/latest/meta-data"}, "url", "private or internal"),
        ({"url": "https://localhost:8000/"}, "url", "this machine"),
        ({"url": "https://u:p@hooks.example.com/"}, "url", "credentials"),
        ({"url": "https://hooks.example.com/" + "a" * 2048}, "url", "2048"),
        ({"url": 5}, "url", "string"),
        ({"event_types": ["call.teleported"]}, "event_types", "Unknown event type: call.teleported"),
        ({"event_types": "call.ended"}, "event_types", "list"),
        ({"enabled": "maybe"}, "enabled", "boolean"),
    ],
)
def test_invalid_endpoints_are_400_naming_the_field(api: Any, body: dict[str, Any], field: str, message: str) -> None:
    response = api.post("/api/v1/webhooks", {"url": URL, **body}, format="json")

    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()["errors"][field])
    assert WebhookEndpoint.objects.count() == 0


def test_plain_http_and_local_receivers_are_accepted_when_the_settings_allow_them(api: Any, settings: Any) -> None:
    settings.WEBHOOK_REQUIRE_HTTPS = False
    settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = True

    assert create(api, url="http://127.0.0.1:9000/hooks").status_code == 201


def test_an_organization_has_a_bounded_number_of_endpoints(api: Any, organization: Any) -> None:
    for n in range(MAX_ENDPOINTS):
        webhook_endpoint_create(organization=organization, url=f"{URL}/{n}")

    response = create(api)

    assert response.status_code == 409
    assert str(MAX_ENDPOINTS) in response.json()["detail"]


def test_an_endpoint_is_changed_with_patch(api: Any) -> None:
    endpoint = create(api).json()

    response = api.patch(
        f"/api/v1/webhooks/{endpoint['id']}",
        {"url": URL + "/v2", "event_types": ["call.ringing"], "description": "new"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert (response.json()["url"], response.json()["event_types"]) == (URL + "/v2", ["call.ringing"])
    assert (
        api.patch(f"/api/v1/webhooks/{endpoint['id']}", {"url": "https://10.0.0.1/"}, format="json").status_code == 400
    )
    assert WebhookEndpoint.objects.get().url == URL + "/v2"


def test_disabling_abandons_what_waits_and_enabling_again_clears_burkis_reason(api: Any, organization: Any) -> None:
    endpoint_id = create(api).json()["id"]
    emit(organization)

    disabled = api.patch(f"/api/v1/webhooks/{endpoint_id}", {"enabled": False}, format="json").json()

    assert disabled["enabled"] is False
    assert disabled["disabled_at"]
    assert Delivery.objects.get().state == "abandoned"
    assert event_emit(organization_id=organization.pk, type="call.ended", subject="call:2", data={}) is None

    WebhookEndpoint.objects.filter(pk=endpoint_id).update(disabled_reason="The endpoint answered 410 Gone.")
    enabled = api.patch(f"/api/v1/webhooks/{endpoint_id}", {"enabled": True}, format="json").json()

    assert (enabled["enabled"], enabled["disabled_reason"], enabled["disabled_at"]) == (True, "", None)
    assert emit(organization, subject="call:3") is not None


def test_deleting_an_endpoint_deletes_its_delivery_log_but_not_the_events(api: Any, organization: Any) -> None:
    endpoint_id = create(api).json()["id"]
    emit(organization)

    assert api.delete(f"/api/v1/webhooks/{endpoint_id}").status_code == 204

    assert api.get(f"/api/v1/webhooks/{endpoint_id}").status_code == 404
    assert (Delivery.objects.count(), Event.objects.count()) == (0, 1)


def test_rotating_the_secret_shows_the_new_one_once_and_keeps_the_old_one_for_24_hours(api: Any) -> None:
    created = create(api).json()

    response = api.post(f"/api/v1/webhooks/{created['id']}/rotate-secret")

    assert response.status_code == 200
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["secret"] != created["secret"]
    expires = timezone.datetime.fromisoformat(body["previous_secret_expires_at"])
    assert timedelta(hours=23, minutes=59) < expires - timezone.now() <= timedelta(hours=24)
    stored = WebhookEndpoint.objects.get().secrets
    assert stored == {"current": body["secret"], "previous": created["secret"]}
    assert b"whsec_" not in api.get(f"/api/v1/webhooks/{created['id']}").content


def test_the_delivery_log_lists_every_attempt_with_status_latency_and_error(api: Any, organization: Any) -> None:
    endpoint_id = create(api).json()["id"]
    event = emit(organization)
    delivery = Delivery.objects.get()
    now = timezone.now()
    DeliveryAttempt.objects.create(
        delivery=delivery, started_at=now, status_code=None, latency_ms=10001, error="Timed out after 10 s."
    )
    DeliveryAttempt.objects.create(
        delivery=delivery, started_at=now, status_code=500, latency_ms=35, response_body="oops"
    )
    Delivery.objects.filter(pk=delivery.pk).update(attempt_count=2)

    response = api.get(f"/api/v1/webhooks/{endpoint_id}/deliveries")

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 1
    [item] = body["items"]
    assert (item["event_id"], item["event_type"], item["sequence"]) == (event.uid, "call.ended", 1)
    assert (item["state"], item["attempt_count"]) == ("pending", 2)
    assert [(a["status_code"], a["latency_ms"], a["error"], a["response_body"]) for a in item["attempts"]] == [
        (None, 10001, "Timed out after 10 s.", ""),
        (500, 35, "", "oops"),
    ]


def test_the_delivery_log_filters_by_state_and_refuses_unknown_states(api: Any, organization: Any) -> None:
    endpoint_id = create(api).json()["id"]
    emit(organization, subject="call:1")
    emit(organization, subject="call:2")
    Delivery.objects.filter(sequence=1, subject="call:1").update(state="succeeded")

    succeeded = api.get(f"/api/v1/webhooks/{endpoint_id}/deliveries?state=succeeded").json()

    assert [i["state"] for i in succeeded["items"]] == ["succeeded"]
    assert api.get(f"/api/v1/webhooks/{endpoint_id}/deliveries?state=lost").status_code == 400


def test_the_delivery_log_stays_at_a_fixed_number_of_queries(
    api: Any, organization: Any, django_assert_max_num_queries: Any
) -> None:
    endpoint_id = create(api).json()["id"]
    for n in range(20):
        emit(organization, subject=f"call:{n}")
        DeliveryAttempt.objects.create(
            delivery=Delivery.objects.latest("pk"), started_at=timezone.now(), status_code=500
        )

    with django_assert_max_num_queries(8):
        assert len(api.get(f"/api/v1/webhooks/{endpoint_id}/deliveries").json()["items"]) == 20


def test_redeliver_sends_a_finished_delivery_again_as_a_new_one(api: Any, organization: Any) -> None:
    endpoint_id = create(api).json()["id"]
    emit(organization)
    done = Delivery.objects.get()
    Delivery.objects.filter(pk=done.pk).update(state="failed", next_attempt_at=None)

    response = api.post(f"/api/v1/webhooks/{endpoint_id}/deliveries/{done.pk}/redeliver")

    assert response.status_code == 202, response.content
    again = response.json()
    assert again["id"] != done.pk
    assert (again["state"], again["event_id"], again["attempts"]) == ("pending", done.event.uid, [])


def test_redeliver_on_a_disabled_endpoint_is_409(api: Any, organization: Any) -> None:
    endpoint_id = create(api).json()["id"]
    emit(organization)
    WebhookEndpoint.objects.update(enabled=False)

    response = api.post(f"/api/v1/webhooks/{endpoint_id}/deliveries/{Delivery.objects.get().pk}/redeliver")

    assert response.status_code == 409
    assert "enable it" in response.json()["detail"]


def test_a_delivery_is_reached_only_through_its_own_endpoint(api: Any, organization: Any) -> None:
    first = create(api).json()["id"]
    second = create(api, url=URL + "/2", event_types=["call.ringing"]).json()["id"]
    emit(organization)
    delivery = Delivery.objects.get()

    assert api.post(f"/api/v1/webhooks/{second}/deliveries/{delivery.pk}/redeliver").status_code == 404
    assert api.post(f"/api/v1/webhooks/{first}/deliveries/{delivery.pk}/redeliver").status_code == 202


def test_an_event_is_shown_exactly_as_endpoints_receive_it(api: Any, organization: Any) -> None:
    create(api)
    event = emit(organization)

    response = api.get(f"/api/v1/events/{event.uid}")

    assert response.status_code == 200
    assert response.json() == {
        "id": event.uid,
        "type": "call.ended",
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "sequence": 1,
        "data": {"id": 1, "status": "done"},
    }
    assert api.get("/api/v1/events/evt_unknown").status_code == 404


def test_event_ids_are_unique_and_sort_by_creation(api: Any, organization: Any) -> None:
    create(api)
    events = [emit(organization, subject=f"call:{n}") for n in range(5)]

    uids = [e.uid for e in events]
    assert len(set(uids)) == 5
    assert all(u.startswith("evt_") and len(u) == 30 for u in uids)
    times = [u[4:14] for u in uids]  # the first ten characters after evt_ are the milliseconds
    assert times == sorted(times)


def test_another_organizations_event_is_404(api: Any) -> None:
    other = OrganizationFactory()
    webhook_endpoint_create(organization=other, url=URL)
    event = emit(other)

    assert api.get(f"/api/v1/events/{event.uid}").status_code == 404


def test_the_views_declare_their_resource_for_roles() -> None:
    from webhooks import views

    webhook_views = [
        views.WebhookEndpointListApi,
        views.WebhookEndpointDetailApi,
        views.WebhookEndpointRotateSecretApi,
        views.DeliveryListApi,
        views.DeliveryRedeliverApi,
    ]
    assert {view.resource for view in webhook_views} == {"webhooks"}
    assert views.EventDetailApi.resource == "events"
