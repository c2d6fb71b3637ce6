from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from burki.errors import NotFound
from burki.pagination import page_params, paginate
from burki.tenancy import OrganizationAPIView
from calls.selectors import call_get, call_list
from calls.serializers import CallInitiateInput, CallInitiateOutput, CallOutput
from calls.services import call_initiate


class CallInitiateApi(OrganizationAPIView):
    def post(self, request: Request) -> Response:
        data = CallInitiateInput(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        call = call_initiate(
            organization=self.organization,
            from_number=body["from_phone_number"],
            to_number=body["to_phone_number"],
            assistant_id=body.get("assistant_id"),
            welcome_message=body.get("welcome_message"),
            agenda=body.get("agenda"),
            variables=body.get("variables"),
        )
        return Response(CallInitiateOutput(call).data)


class CallListApi(OrganizationAPIView):
    def get(self, request: Request) -> Response:
        skip, limit = page_params(request)
        return Response(
            paginate(
                call_list(organization=self.organization),
                skip=skip,
                limit=limit,
                serialize=lambda calls: list(CallOutput(calls, many=True).data),
            )
        )


class CallDetailApi(OrganizationAPIView):
    def get(self, request: Request, call_id: int) -> Response:
        call = call_get(organization=self.organization, call_id=call_id)
        if call is None:
            raise NotFound("Call not found.")
        return Response(CallOutput(call).data)
