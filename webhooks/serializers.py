from __future__ import annotations

from typing import Any

from drf_spectacular.drainage import set_override
from drf_spectacular.utils import OpenApiExample, extend_schema_serializer, inline_serializer
from rest_framework import serializers

from burki.serializers import StrictCharField
from webhooks.models import MAX_EVENT_TYPES, MAX_URL_LENGTH, Delivery, DeliveryAttempt, WebhookEndpoint

EVENT_TYPES_HELP = 'Event types to receive, e.g. ["call.ended"]. Empty: every type, including types added later.'


class EventTypesField(serializers.ListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            child=StrictCharField(max_length=64), max_length=MAX_EVENT_TYPES, help_text=EVENT_TYPES_HELP, **kwargs
        )


STAMP = "2026-11-30T09:40:05.330000Z"
ENDPOINT = {
    "id": 5,
    "organization_id": 1,
    "url": "https://crm.example.com/burki",
    "description": "CRM",
    "event_types": ["call.ended"],
    "enabled": True,
    "disabled_reason": "",
    "disabled_at": None,
    "failing_since": None,
    "previous_secret_expires_at": None,
    "created_at": STAMP,
    "updated_at": STAMP,
}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 (an example in the documentation)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Ended calls to the CRM",
            value={"url": "https://crm.example.com/burki", "description": "CRM", "event_types": ["call.ended"]},
            request_only=True,
        )
    ]
)
class WebhookEndpointCreateInput(serializers.Serializer[Any]):
    # Scheme, credentials and literal addresses are checked by the service, so the admin gets the same rules.
    url = StrictCharField(max_length=MAX_URL_LENGTH)
    description = StrictCharField(max_length=500, required=False, allow_blank=True, default="")
    event_types = EventTypesField(required=False, default=list)
    enabled = serializers.BooleanField(required=False, default=True)


@extend_schema_serializer(
    examples=[
        OpenApiExample("Enabled again", value={"enabled": True}, request_only=True),
        OpenApiExample("Every event type", value={"event_types": []}, request_only=True),
    ]
)
class WebhookEndpointUpdateInput(serializers.Serializer[Any]):
    url = StrictCharField(max_length=MAX_URL_LENGTH, required=False)
    description = StrictCharField(max_length=500, required=False, allow_blank=True)
    event_types = EventTypesField(required=False)
    enabled = serializers.BooleanField(
        required=False, help_text="Enabling again clears why Burki disabled it; disabling abandons pending deliveries."
    )


@extend_schema_serializer(examples=[OpenApiExample("The CRM's endpoint", value=ENDPOINT, response_only=True)])
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


@extend_schema_serializer(
    examples=[OpenApiExample("With its secret, this once", value={**ENDPOINT, "secret": SECRET}, response_only=True)]
)
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


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Delivered on the second attempt",
            value={
                "id": 311,
                "endpoint_id": 5,
                "event_id": "evt_01JD3V2N7Q8W5X6Y7Z8A9B0C1D",
                "event_type": "call.ended",
                "sequence": 4,
                "state": "succeeded",
                "attempt_count": 2,
                "next_attempt_at": None,
                "created_at": "2026-11-30T10:48:00.440000Z",
                "completed_at": "2026-11-30T10:48:05.912000Z",
                "attempts": [
                    {
                        "id": 901,
                        "started_at": "2026-11-30T10:48:00.452000Z",
                        "status_code": 503,
                        "latency_ms": 212,
                        "error": "",
                        "response_body": "Service Unavailable",
                    },
                    {
                        "id": 907,
                        "started_at": "2026-11-30T10:48:05.460000Z",
                        "status_code": 204,
                        "latency_ms": 48,
                        "error": "",
                        "response_body": "",
                    },
                ],
            },
            response_only=True,
            status_codes=["200", "202"],
        )
    ]
)
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
set_override(
    type(EventOutput),
    "examples",
    [
        OpenApiExample(
            "A call ended",
            value={
                "id": "evt_01JD3V2N7Q8W5X6Y7Z8A9B0C1D",
                "type": "call.ended",
                "created_at": "2026-11-30T10:48:00.123456Z",
                "sequence": 4,
                "data": {"id": 42, "status": "completed", "end_reason": "hangup", "duration": 42, "metadata": {}},
            },
            response_only=True,
        )
    ],
)
