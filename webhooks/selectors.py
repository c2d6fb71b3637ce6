from __future__ import annotations

from django.db.models import QuerySet

from burki.models import Organization
from webhooks.models import Delivery, Event, WebhookEndpoint


def webhook_endpoint_list(*, organization: Organization) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(organization=organization).order_by("-created_at", "-id")


def webhook_endpoint_get(*, organization: Organization, endpoint_id: int) -> WebhookEndpoint | None:
    return webhook_endpoint_list(organization=organization).filter(pk=endpoint_id).first()


def delivery_list(*, endpoint: WebhookEndpoint, state: str | None = None) -> QuerySet[Delivery]:
    """An endpoint's delivery log, newest first, each with its event and every attempt."""
    deliveries = (
        Delivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related("attempts")
        .order_by("-created_at", "-id")
    )
    return deliveries.filter(state=state) if state else deliveries


def delivery_get(*, endpoint: WebhookEndpoint, delivery_id: int) -> Delivery | None:
    return delivery_list(endpoint=endpoint).filter(pk=delivery_id).first()


def event_get(*, organization: Organization, event_id: str) -> Event | None:
    return Event.objects.filter(organization=organization, uid=event_id).first()
