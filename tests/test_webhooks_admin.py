"""Webhooks in the admin: endpoints made by the service with the secret shown once, deliveries read-only, redelivery."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse

from webhooks.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from webhooks.services import event_emit, webhook_endpoint_create

pytestmark = pytest.mark.django_db
SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{44}")
URL = "https://hooks.example.com/burki"


def admin_url(model: type[Any], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def emit(organization: Any, subject: str = "call:1") -> Event:
    with transaction.atomic():
        event = event_emit(organization_id=organization.pk, type="call.ended", subject=subject, data={"id": 1})
    assert event is not None
    return event


@pytest.fixture
def endpoint(organization: Any) -> WebhookEndpoint:
    return webhook_endpoint_create(organization=organization, url=URL)[0]


def test_an_endpoint_added_in_the_admin_shows_its_secret_once(admin_client: Any, organization: Any) -> None:
    response = admin_client.post(
        admin_url(WebhookEndpoint, "add"),
        {
            "organization": organization.pk,
            "url": URL,
            "description": "CRM",
            "event_types": ["call.ended"],
            "enabled": "on",
        },
        follow=True,
    )

    assert response.status_code == 200
    [secret] = SECRET.findall(response.content.decode())
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.url, endpoint.event_types, endpoint.secrets["current"]) == (URL, ["call.ended"], secret)
    for page in (admin_url(WebhookEndpoint, "changelist"), admin_url(WebhookEndpoint, "change", endpoint.pk)):
        text = admin_client.get(page).content.decode()
        assert secret not in text
        assert "whsec_" not in text


def test_an_internal_url_is_a_form_error(admin_client: Any, organization: Any) -> None:
    response = admin_client.post(
        admin_url(WebhookEndpoint, "add"),
        {"organization": organization.pk, "url": "https://169.254.169.254/latest", "enabled": "on"},
    )

    assert response.status_code == 200
    assert "private or internal" in str(response.context["adminform"].form.errors["url"])
    assert WebhookEndpoint.objects.count() == 0


def test_disabling_in_the_admin_abandons_pending_deliveries_and_enabling_clears_the_reason(
    admin_client: Any, endpoint: WebhookEndpoint
) -> None:
    emit(endpoint.organization)
    form = {"url": URL, "description": "", "event_types": []}

    admin_client.post(admin_url(WebhookEndpoint, "change", endpoint.pk), form)
    assert Delivery.objects.get().state == "abandoned"

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(disabled_reason="The endpoint answered 410 Gone.")
    admin_client.post(admin_url(WebhookEndpoint, "change", endpoint.pk), {**form, "enabled": "on"})
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_reason) == (True, "")


def test_the_rotate_action_shows_each_new_secret_once(admin_client: Any, endpoint: WebhookEndpoint) -> None:
    old = endpoint.secrets["current"]

    response = admin_client.post(
        admin_url(WebhookEndpoint, "changelist"),
        {"action": "rotate_secrets", "_selected_action": [endpoint.pk]},
        follow=True,
    )

    [secret] = SECRET.findall(response.content.decode())
    endpoint.refresh_from_db()
    assert endpoint.secrets == {"current": secret, "previous": old}
    assert endpoint.previous_secret_expires_at is not None


def test_deliveries_are_read_only_with_their_attempts_inline(admin_client: Any, endpoint: WebhookEndpoint) -> None:
    emit(endpoint.organization)
    delivery = Delivery.objects.get()
    DeliveryAttempt.objects.create(delivery=delivery, started_at=delivery.created_at, status_code=503, latency_ms=12)

    page = admin_client.get(admin_url(Delivery, "change", delivery.pk))
    listed = admin_client.get(admin_url(Delivery, "changelist"), {"state__exact": "pending"})

    assert page.status_code == 200
    assert "503" in page.content.decode()
    assert list(listed.context["cl"].result_list) == [delivery]
    assert admin_client.post(admin_url(Delivery, "delete", delivery.pk), {"post": "yes"}).status_code == 403
    assert admin_client.get(admin_url(Delivery, "add")).status_code == 403


def test_the_endpoint_page_links_to_its_delivery_log(admin_client: Any, endpoint: WebhookEndpoint) -> None:
    text = admin_client.get(admin_url(WebhookEndpoint, "change", endpoint.pk)).content.decode()

    assert f"endpoint__id__exact={endpoint.pk}" in text


def test_the_redeliver_action_sends_finished_deliveries_again(admin_client: Any, endpoint: WebhookEndpoint) -> None:
    emit(endpoint.organization)
    Delivery.objects.update(state="failed", next_attempt_at=None)

    response = admin_client.post(
        admin_url(Delivery, "changelist"),
        {"action": "redeliver", "_selected_action": [Delivery.objects.get().pk]},
        follow=True,
    )

    assert "Redelivering 1 delivery(ies)." in response.content.decode()
    assert sorted(Delivery.objects.values_list("state", flat=True)) == ["failed", "pending"]


def test_events_are_searchable_by_id(admin_client: Any, endpoint: WebhookEndpoint) -> None:
    event = emit(endpoint.organization)
    emit(endpoint.organization, subject="call:2")

    response = admin_client.get(admin_url(Event, "changelist"), {"q": event.uid})

    assert list(response.context["cl"].result_list) == [event]
