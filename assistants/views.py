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
    AvailableNumbersOutput,
    FlowCreateInput,
    FlowOutput,
    FlowUpdateInput,
    PhoneNumberCreateInput,
    PhoneNumberImportInput,
    PhoneNumberImportOutput,
    PhoneNumberOutput,
    PhoneNumberUpdateInput,
)
from assistants.services import (
    ImportOutcome,
    assistant_create,
    assistant_delete,
    assistant_update,
    flow_create,
    flow_delete,
    flow_update,
    phone_number_create,
    phone_number_delete,
    phone_number_update,
    phone_numbers_available,
    phone_numbers_import,
)
from burki.errors import NotFound
from burki.pagination import PageParams, paginated_response
from burki.schema import ErrorSerializer, page_of
from burki.tenancy import OrganizationAPIView
from telephony.models import TelephonyAccount
from telephony.selectors import telephony_account_get

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


# Listing an account's numbers asks its provider, as registering one does.
PROVIDER_LISTING_RESPONSES = {
    400: OpenApiResponse(
        ErrorSerializer, description="Invalid input, or the account's credentials cannot list numbers."
    ),
    404: OpenApiResponse(ErrorSerializer, description="No such telephony account in your organization."),
    429: OpenApiResponse(
        ErrorSerializer, description='The provider is rate limiting (`"limit": "provider"`, see Retry-After).'
    ),
    502: OpenApiResponse(ErrorSerializer, description="The provider refused to list the account's numbers."),
    504: OpenApiResponse(ErrorSerializer, description="The provider could not be reached."),
}


class _AccountNumbersApi(OrganizationAPIView):
    resource = "phone_number_import"

    def _account(self, account_id: int) -> TelephonyAccount:
        account = telephony_account_get(organization=self.organization, account_id=account_id)
        if account is None:
            raise NotFound("Telephony account not found.")
        return account


class AccountNumbersAvailableApi(_AccountNumbersApi):
    @extend_schema(
        operation_id="telephony_account_numbers_available",
        summary="The numbers the provider lists for the account",
        description="Asks the provider (Twilio's incoming phone numbers, Telnyx's phone numbers, Vonage's account "
        "numbers; the sandbox lists +14155550100 to +14155550109) for the numbers the account holds, at most 1000, "
        "and says which your organization has registered already. Import them with POST …/numbers/import.",
        responses={200: AvailableNumbersOutput, **PROVIDER_LISTING_RESPONSES},
    )
    def get(self, request: Request, account_id: int) -> Response:
        account = self._account(account_id)
        available = phone_numbers_available(account=account)
        items = [
            {
                "phone_number": item.phone_number,
                "friendly_name": item.friendly_name,
                "provider_id": item.provider_id,
                "registered": item.registered is not None,
                "phone_number_id": item.registered.pk if item.registered is not None else None,
            }
            for item in available
        ]
        body = {"telephony_account_id": account.pk, "provider": account.provider, "items": items, "total": len(items)}
        return Response(AvailableNumbersOutput(body).data)


class AccountNumbersImportApi(_AccountNumbersApi):
    @extend_schema(
        operation_id="telephony_account_numbers_import",
        summary="Register numbers the provider lists for the account",
        description="Registers on this account the chosen numbers (`phone_numbers`, or `all`) that its provider lists "
        "for it, optionally assigned to an assistant or a flow. A number your organization holds already is left as "
        "it is (`already_registered`). A chosen number the provider does not list, or any invalid input, is a 400 "
        "and nothing is registered; so is a provider that cannot be asked (429, 502, 504).",
        request=PhoneNumberImportInput,
        responses={200: PhoneNumberImportOutput, **PROVIDER_LISTING_RESPONSES},
    )
    def post(self, request: Request, account_id: int) -> Response:
        account = self._account(account_id)
        data = PhoneNumberImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        results = phone_numbers_import(
            account=account,
            phone_numbers=fields.get("phone_numbers"),
            import_all=fields["all"],
            assistant_id=fields.get("assistant_id"),
            flow_id=fields.get("flow_id"),
        )
        body = {
            "telephony_account_id": account.pk,
            "provider": account.provider,
            **{outcome.value: sum(r.outcome == outcome for r in results) for outcome in ImportOutcome},
            "results": [
                {
                    "phone_number": result.phone_number,
                    "outcome": result.outcome.value,
                    "phone_number_id": result.number.pk if result.number is not None else None,
                    "detail": result.detail,
                }
                for result in results
            ],
        }
        return Response(PhoneNumberImportOutput(body).data)


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
