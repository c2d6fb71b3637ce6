from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from burki.errors import NotFound
from burki.pagination import PageParams, paginated_response
from burki.schema import ErrorSerializer, page_of
from burki.tenancy import OrganizationAPIView
from telephony.models import TelephonyAccount
from telephony.selectors import telephony_account_get, telephony_account_list
from telephony.serializers import TelephonyAccountCreateInput, TelephonyAccountOutput, TelephonyAccountUpdateInput
from telephony.services import telephony_account_create, telephony_account_delete, telephony_account_update


class TelephonyAccountListApi(OrganizationAPIView):
    resource = "telephony_accounts"

    @extend_schema(
        operation_id="telephony_accounts_list",
        summary="List telephony accounts (never their credentials)",
        parameters=[PageParams],
        responses=page_of(TelephonyAccountOutput, "TelephonyAccountPage"),
    )
    def get(self, request: Request) -> Response:
        return paginated_response(
            request, telephony_account_list(organization=self.organization), TelephonyAccountOutput
        )

    @extend_schema(
        operation_id="telephony_accounts_create",
        summary="Add a telephony account with its credentials (write-only)",
        request=TelephonyAccountCreateInput,
        responses={201: TelephonyAccountOutput},
    )
    def post(self, request: Request) -> Response:
        data = TelephonyAccountCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = telephony_account_create(organization=self.organization, **data.validated_data)
        return Response(TelephonyAccountOutput(account).data, status=status.HTTP_201_CREATED)


class TelephonyAccountDetailApi(OrganizationAPIView):
    resource = "telephony_accounts"

    def _account(self, account_id: int) -> TelephonyAccount:
        account = telephony_account_get(organization=self.organization, account_id=account_id)
        if account is None:
            raise NotFound("Telephony account not found.")
        return account

    @extend_schema(
        operation_id="telephony_accounts_get", summary="Get a telephony account", responses=TelephonyAccountOutput
    )
    def get(self, request: Request, account_id: int) -> Response:
        return Response(TelephonyAccountOutput(self._account(account_id)).data)

    @extend_schema(
        operation_id="telephony_accounts_update",
        summary="Change a telephony account: name, credentials, rate, active",
        request=TelephonyAccountUpdateInput,
        responses=TelephonyAccountOutput,
    )
    def patch(self, request: Request, account_id: int) -> Response:
        account = self._account(account_id)
        data = TelephonyAccountUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = telephony_account_update(account=account, **data.validated_data)
        return Response(TelephonyAccountOutput(account).data)

    @extend_schema(
        operation_id="telephony_accounts_delete",
        summary="Delete a telephony account",
        responses={
            204: None,
            409: OpenApiResponse(ErrorSerializer, description="The account still has phone numbers."),
        },
    )
    def delete(self, request: Request, account_id: int) -> Response:
        telephony_account_delete(account=self._account(account_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
