from __future__ import annotations

from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from burki.serializers import StrictCharField
from webhooks.models import MAX_EVENT_TYPES, MAX_URL_LENGTH, Delivery, DeliveryAttempt, WebhookEndpoint

EVENT_TYPES_HELP = 'Event types to receive, e.g. ["call.ended"]. Empty: every type, including types added later.'


class EventTypesField(serializers.ListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            child=StrictCharField(max_length=64), max_length=MAX_EVENT_TYPES, help_text=EVENT_TYPES_HELP, **kwargs
        )


class WebhookEndpointCreateInput(serializers.Serializer[Any]):
    # Scheme, credentials and literal addresses are checked by the service, so the admin gets the same rules.
    url = StrictCharField(max_length=MAX_URL_LENGTH)
    description = StrictCharField(max_length=500, required=False, allow_blank=True, default="")
    event_types = EventTypesField(required=False, default=list)
    enabled = serializers.BooleanField(required=False, default=True)


class WebhookEndpointUpdateInput(serializers.Serializer[Any]):
    url = StrictCharField(max_length=MAX_URL_LENGTH, required=False)
    description = StrictCharField(max_length=500, required=False, allow_blank=True)
    event_types = EventTypesField(required=False)
    enabled = serializers.BooleanField(
        required=False, help_text="Enabling again clears why Burki disabled it; disabling abandons pending deliveries."
    )


class WebhookEndpointOutput(serializers.ModelSerializer[WebhookEndpoint]):
    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "organization_id",
            "url",
            "description",
            "event_types",
            "enabled",
            "disabled_reason",
            "disabled_at",
            "failing_since",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WebhookEndpointSecretOutput(WebhookEndpointOutput):
    secret = serializers.CharField(help_text="The signing secret (whsec_…): shown in this response only.")

    class Meta(WebhookEndpointOutput.Meta):
        fields = [*WebhookEndpointOutput.Meta.fields, "secret"]
        read_only_fields = fields


class DeliveryListParams(serializers.Serializer[Any]):
    state = serializers.ChoiceField(choices=Delivery.State.choices, required=False)


class DeliveryAttemptOutput(serializers.ModelSerializer[DeliveryAttempt]):
    class Meta:
        model = DeliveryAttempt
        fields = ["id", "started_at", "status_code", "latency_ms", "error", "response_body"]
        read_only_fields = fields


class DeliveryOutput(serializers.ModelSerializer[Delivery]):
    event_id = serializers.CharField(source="event.uid")
    event_type = serializers.CharField(source="event.type")
    attempts = DeliveryAttemptOutput(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "endpoint_id",
            "event_id",
            "event_type",
            "sequence",
            "state",
            "attempt_count",
            "next_attempt_at",
            "created_at",
            "completed_at",
            "attempts",
        ]
        read_only_fields = fields


# Built inline: a serializer class cannot declare a field named `data` (DRF's own attribute). Documentation only: the
# view answers with Event.envelope(), the very body endpoints receive.
EventOutput = inline_serializer(
    name="Event",
    fields={
        "id": serializers.CharField(help_text="evt_…: the webhook-id header of every delivery of it."),
        "type": serializers.CharField(help_text="e.g. call.ended"),
        "created_at": serializers.DateTimeField(),
        "sequence": serializers.IntegerField(help_text="1, 2, 3… per call: the order its events happened in."),
        "data": serializers.DictField(help_text="The call as GET /api/v1/calls/{id} showed it at that moment."),
    },
)
