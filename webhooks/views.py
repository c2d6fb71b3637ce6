from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from burki.errors import NotFound
from burki.pagination import PageParams, paginated_response
from burki.schema import ErrorSerializer, page_of
from burki.tenancy import OrganizationAPIView
from webhooks.models import WebhookEndpoint
from webhooks.selectors import delivery_get, delivery_list, event_get, webhook_endpoint_get, webhook_endpoint_list
from webhooks.serializers import (
    DeliveryListParams,
    DeliveryOutput,
    EventOutput,
    WebhookEndpointCreateInput,
    WebhookEndpointOutput,
    WebhookEndpointSecretOutput,
    WebhookEndpointUpdateInput,
)
from webhooks.services import (
    delivery_redeliver,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)


class WebhookEndpointApi(OrganizationAPIView):
    resource = "webhooks"

    def _endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        endpoint = webhook_endpoint_get(organization=self.organization, endpoint_id=endpoint_id)
        if endpoint is None:
            raise NotFound("Webhook endpoint not found.")
        return endpoint


class WebhookEndpointListApi(WebhookEndpointApi):
    @extend_schema(
        operation_id="webhooks_list",
        summary="List webhook endpoints",
        parameters=[PageParams],
        responses=page_of(WebhookEndpointOutput, "WebhookEndpointPage"),
    )
    def get(self, request: Request) -> Response:
        return paginated_response(request, webhook_endpoint_list(organization=self.organization), WebhookEndpointOutput)

    @extend_schema(
        operation_id="webhooks_create",
        summary="Add a webhook endpoint (its signing secret is in this response only)",
        request=WebhookEndpointCreateInput,
        responses={201: WebhookEndpointSecretOutput, 409: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        data = WebhookEndpointCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = webhook_endpoint_create(organization=self.organization, **data.validated_data)
        return Response({**WebhookEndpointOutput(endpoint).data, "secret": secret}, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailApi(WebhookEndpointApi):
    @extend_schema(operation_id="webhooks_get", summary="Get a webhook endpoint", responses=WebhookEndpointOutput)
    def get(self, request: Request, endpoint_id: int) -> Response:
        return Response(WebhookEndpointOutput(self._endpoint(endpoint_id)).data)

    @extend_schema(
        operation_id="webhooks_update",
        summary="Change a webhook endpoint, or enable it again",
        request=WebhookEndpointUpdateInput,
        responses=WebhookEndpointOutput,
    )
    def patch(self, request: Request, endpoint_id: int) -> Response:
        endpoint = self._endpoint(endpoint_id)
        data = WebhookEndpointUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_update(endpoint=endpoint, **data.validated_data)
        return Response(WebhookEndpointOutput(endpoint).data)

    @extend_schema(
        operation_id="webhooks_delete", summary="Delete a webhook endpoint and its delivery log", responses={204: None}
    )
    def delete(self, request: Request, endpoint_id: int) -> Response:
        webhook_endpoint_delete(endpoint=self._endpoint(endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateSecretApi(WebhookEndpointApi):
    @extend_schema(
        operation_id="webhooks_rotate_secret",
        summary="Replace the signing secret (the old one keeps signing beside it for 24 hours)",
        request=None,
        responses=WebhookEndpointSecretOutput,
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        endpoint, secret = webhook_endpoint_rotate_secret(endpoint=self._endpoint(endpoint_id))
        return Response({**WebhookEndpointOutput(endpoint).data, "secret": secret})


class DeliveryListApi(WebhookEndpointApi):
    @extend_schema(
        operation_id="webhooks_deliveries",
        summary="An endpoint's delivery log, newest first, with every attempt",
        parameters=[PageParams, DeliveryListParams],
        responses=page_of(DeliveryOutput, "DeliveryPage"),
    )
    def get(self, request: Request, endpoint_id: int) -> Response:
        endpoint = self._endpoint(endpoint_id)
        params = DeliveryListParams(data={k: v for k, v in request.query_params.items() if k == "state"})
        params.is_valid(raise_exception=True)
        return paginated_response(
            request, delivery_list(endpoint=endpoint, state=params.validated_data.get("state")), DeliveryOutput
        )


class DeliveryRedeliverApi(WebhookEndpointApi):
    @extend_schema(
        operation_id="webhooks_redeliver",
        summary="Send a delivery's event to its endpoint again, now",
        description=(
            "A pending delivery is attempted now instead of at its next retry; a finished one (succeeded, failed or "
            "abandoned) is sent again as a new delivery, which this returns. Events of one call still arrive in order."
        ),
        request=None,
        responses={202: DeliveryOutput, 409: ErrorSerializer},
    )
    def post(self, request: Request, endpoint_id: int, delivery_id: int) -> Response:
        delivery = delivery_get(endpoint=self._endpoint(endpoint_id), delivery_id=delivery_id)
        if delivery is None:
            raise NotFound("Delivery not found.")
        again = delivery_redeliver(delivery=delivery)
        again = delivery_get(endpoint=again.endpoint, delivery_id=again.pk) or again
        return Response(DeliveryOutput(again).data, status=status.HTTP_202_ACCEPTED)


class EventDetailApi(OrganizationAPIView):
    resource = "events"

    @extend_schema(
        operation_id="events_get",
        summary="Get an event, exactly as webhook endpoints receive it",
        responses=EventOutput,
    )
    def get(self, request: Request, event_id: str) -> Response:
        event = event_get(organization=self.organization, event_id=event_id)
        if event is None:
            raise NotFound("Event not found.")
        return Response(event.envelope())
