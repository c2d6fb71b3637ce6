from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from assistants.models import Assistant, ConversationFlow, PhoneNumber
from assistants.selectors import assistant_get, assistant_list, flow_get, flow_list, phone_number_get, phone_number_list
from assistants.serializers import (
    AssistantCreateInput,
    AssistantListParams,
    AssistantOutput,
    AssistantUpdateInput,
    FlowCreateInput,
    FlowOutput,
    FlowUpdateInput,
    PhoneNumberCreateInput,
    PhoneNumberOutput,
    PhoneNumberUpdateInput,
)
from assistants.services import (
    assistant_create,
    assistant_delete,
    assistant_update,
    flow_create,
    flow_delete,
    flow_update,
    phone_number_create,
    phone_number_delete,
    phone_number_update,
)
from burki.errors import NotFound
from burki.pagination import PageParams, paginated_response
from burki.schema import ErrorSerializer, page_of
from burki.tenancy import OrganizationAPIView

# Registering a number (or moving it to another number or account) asks the account's provider whether it holds it.
OWNERSHIP_CHECK_RESPONSES = {
    429: OpenApiResponse(ErrorSerializer, description="The provider is rate limiting (see Retry-After); not saved."),
    502: OpenApiResponse(ErrorSerializer, description="The provider refused to list the account's numbers."),
    504: OpenApiResponse(ErrorSerializer, description="The provider could not be reached; not saved."),
}


class PhoneNumberListApi(OrganizationAPIView):
    resource = "phone_numbers"

    @extend_schema(
        operation_id="phone_numbers_list",
        summary="List phone numbers",
        parameters=[PageParams],
        responses=page_of(PhoneNumberOutput, "PhoneNumberPage"),
    )
    def get(self, request: Request) -> Response:
        return paginated_response(request, phone_number_list(organization=self.organization), PhoneNumberOutput)

    @extend_schema(
        operation_id="phone_numbers_create",
        summary="Register a phone number (its provider is asked whether the account holds it)",
        request=PhoneNumberCreateInput,
        responses={201: PhoneNumberOutput, **OWNERSHIP_CHECK_RESPONSES},
    )
    def post(self, request: Request) -> Response:
        data = PhoneNumberCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        number = phone_number_create(organization=self.organization, **data.validated_data)
        return Response(PhoneNumberOutput(number).data, status=status.HTTP_201_CREATED)


class PhoneNumberDetailApi(OrganizationAPIView):
    resource = "phone_numbers"

    def _number(self, number_id: int) -> PhoneNumber:
        number = phone_number_get(organization=self.organization, number_id=number_id)
        if number is None:
            raise NotFound("Phone number not found.")
        return number

    @extend_schema(operation_id="phone_numbers_get", summary="Get a phone number", responses=PhoneNumberOutput)
    def get(self, request: Request, number_id: int) -> Response:
        return Response(PhoneNumberOutput(self._number(number_id)).data)

    @extend_schema(
        operation_id="phone_numbers_update",
        summary="Change a phone number: its assistant or flow, name, account or number",
        request=PhoneNumberUpdateInput,
        responses={200: PhoneNumberOutput, **OWNERSHIP_CHECK_RESPONSES},
    )
    def patch(self, request: Request, number_id: int) -> Response:
        number = self._number(number_id)
        data = PhoneNumberUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        number = phone_number_update(number=number, **data.validated_data)
        return Response(PhoneNumberOutput(number).data)

    @extend_schema(
        operation_id="phone_numbers_delete", summary="Delete a phone number (its calls are kept)", responses={204: None}
    )
    def delete(self, request: Request, number_id: int) -> Response:
        phone_number_delete(number=self._number(number_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AssistantListApi(OrganizationAPIView):
    resource = "assistants"

    @extend_schema(
        operation_id="assistants_list",
        summary="List assistants",
        parameters=[PageParams, AssistantListParams],
        responses=page_of(AssistantOutput, "AssistantPage"),
    )
    def get(self, request: Request) -> Response:
        params = AssistantListParams(data={k: v for k, v in request.query_params.items() if k == "active_only"})
        params.is_valid(raise_exception=True)
        return paginated_response(
            request, assistant_list(organization=self.organization, **params.validated_data), AssistantOutput
        )

    @extend_schema(
        operation_id="assistants_create",
        summary="Create an assistant",
        request=AssistantCreateInput,
        responses={201: AssistantOutput},
    )
    def post(self, request: Request) -> Response:
        data = AssistantCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        assistant = assistant_create(organization=self.organization, **data.validated_data)
        return Response(AssistantOutput(assistant).data, status=status.HTTP_201_CREATED)


class AssistantDetailApi(OrganizationAPIView):
    resource = "assistants"

    def _assistant(self, assistant_id: int) -> Assistant:
        assistant = assistant_get(organization=self.organization, assistant_id=assistant_id)
        if assistant is None:
            raise NotFound("Assistant not found.")
        return assistant

    @extend_schema(operation_id="assistants_get", summary="Get an assistant", responses=AssistantOutput)
    def get(self, request: Request, assistant_id: int) -> Response:
        return Response(AssistantOutput(self._assistant(assistant_id)).data)

    @extend_schema(
        operation_id="assistants_update",
        summary="Change an assistant (send ******** to keep a stored secret)",
        request=AssistantUpdateInput,
        responses=AssistantOutput,
    )
    def patch(self, request: Request, assistant_id: int) -> Response:
        assistant = self._assistant(assistant_id)
        data = AssistantUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        assistant = assistant_update(assistant=assistant, **data.validated_data)
        return Response(AssistantOutput(assistant).data)

    @extend_schema(
        operation_id="assistants_delete",
        summary="Delete an assistant (409 while a number or flow uses it)",
        responses={204: None, 409: ErrorSerializer},
    )
    def delete(self, request: Request, assistant_id: int) -> Response:
        assistant_delete(assistant=self._assistant(assistant_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class FlowListApi(OrganizationAPIView):
    resource = "flows"

    # A definition alone may be 256 KB of JSON: the flow's own validation should be what says it is too big.
    max_body_size = 1024 * 1024

    @extend_schema(
        operation_id="flows_list",
        summary="List conversation flows",
        parameters=[PageParams],
        responses=page_of(FlowOutput, "FlowPage"),
    )
    def get(self, request: Request) -> Response:
        return paginated_response(request, flow_list(organization=self.organization), FlowOutput)

    @extend_schema(
        operation_id="flows_create",
        summary="Create a conversation flow",
        request=FlowCreateInput,
        responses={201: FlowOutput},
    )
    def post(self, request: Request) -> Response:
        data = FlowCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        flow = flow_create(organization=self.organization, **data.validated_data)
        return Response(FlowOutput(flow).data, status=status.HTTP_201_CREATED)


class FlowDetailApi(OrganizationAPIView):
    resource = "flows"

    # A definition alone may be 256 KB of JSON: the flow's own validation should be what says it is too big.
    max_body_size = 1024 * 1024

    def _flow(self, flow_id: int) -> ConversationFlow:
        flow = flow_get(organization=self.organization, flow_id=flow_id)
        if flow is None:
            raise NotFound("Flow not found.")
        return flow

    @extend_schema(operation_id="flows_get", summary="Get a conversation flow", responses=FlowOutput)
    def get(self, request: Request, flow_id: int) -> Response:
        return Response(FlowOutput(self._flow(flow_id)).data)

    @extend_schema(
        operation_id="flows_update",
        summary="Change a conversation flow",
        request=FlowUpdateInput,
        responses=FlowOutput,
    )
    def patch(self, request: Request, flow_id: int) -> Response:
        flow = self._flow(flow_id)
        data = FlowUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        flow = flow_update(flow=flow, **data.validated_data)
        return Response(FlowOutput(flow).data)

    @extend_schema(
        operation_id="flows_delete",
        summary="Delete a conversation flow (409 while a number uses it)",
        responses={204: None, 409: ErrorSerializer},
    )
    def delete(self, request: Request, flow_id: int) -> Response:
        flow_delete(flow=self._flow(flow_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
