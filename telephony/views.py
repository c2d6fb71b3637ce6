from __future__ import annotations

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from burki.errors import NotFound
from burki.pagination import page_params, paginate
from burki.tenancy import OrganizationAPIView
from telephony.models import TelephonyAccount
from telephony.selectors import telephony_account_get, telephony_account_list
from telephony.serializers import TelephonyAccountCreateInput, TelephonyAccountOutput, TelephonyAccountUpdateInput
from telephony.services import telephony_account_create, telephony_account_delete, telephony_account_update


class TelephonyAccountListApi(OrganizationAPIView):
    def get(self, request: Request) -> Response:
        skip, limit = page_params(request)
        return Response(
            paginate(
                telephony_account_list(organization=self.organization),
                skip=skip,
                limit=limit,
                serialize=lambda accounts: list(TelephonyAccountOutput(accounts, many=True).data),
            )
        )

    def post(self, request: Request) -> Response:
        data = TelephonyAccountCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = telephony_account_create(organization=self.organization, **data.validated_data)
        return Response(TelephonyAccountOutput(account).data, status=status.HTTP_201_CREATED)


class TelephonyAccountDetailApi(OrganizationAPIView):
    def _account(self, account_id: int) -> TelephonyAccount:
        account = telephony_account_get(organization=self.organization, account_id=account_id)
        if account is None:
            raise NotFound("Telephony account not found.")
        return account

    def get(self, request: Request, account_id: int) -> Response:
        return Response(TelephonyAccountOutput(self._account(account_id)).data)

    def patch(self, request: Request, account_id: int) -> Response:
        account = self._account(account_id)
        data = TelephonyAccountUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = telephony_account_update(account=account, **data.validated_data)
        return Response(TelephonyAccountOutput(account).data)

    def delete(self, request: Request, account_id: int) -> Response:
        telephony_account_delete(account=self._account(account_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
