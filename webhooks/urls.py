from __future__ import annotations

from django.urls import path

from webhooks import views

# Mounted under /api/v1/.
urlpatterns = [
    path("webhooks", views.WebhookEndpointListApi.as_view(), name="webhook-list"),
    path("webhooks/<int:endpoint_id>", views.WebhookEndpointDetailApi.as_view(), name="webhook-detail"),
    path(
        "webhooks/<int:endpoint_id>/rotate-secret",
        views.WebhookEndpointRotateSecretApi.as_view(),
        name="webhook-rotate-secret",
    ),
    path("webhooks/<int:endpoint_id>/deliveries", views.DeliveryListApi.as_view(), name="webhook-deliveries"),
    path(
        "webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver",
        views.DeliveryRedeliverApi.as_view(),
        name="webhook-redeliver",
    ),
    path("events/<str:event_id>", views.EventDetailApi.as_view(), name="event-detail"),
]
