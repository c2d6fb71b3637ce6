from __future__ import annotations

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from assistants.models import PhoneNumber
from assistants.selectors import phone_number_get, phone_number_list
from assistants.serializers import PhoneNumberCreateInput, PhoneNumberOutput, PhoneNumberUpdateInput
from assistants.services import phone_number_create, phone_number_delete, phone_number_update
from burki.errors import NotFound
from burki.pagination import page_params, paginate
from burki.tenancy import OrganizationAPIView


class PhoneNumberListApi(OrganizationAPIView):
    def get(self, request: Request) -> Response:
        skip, limit = page_params(request)
        return Response(
            paginate(
                phone_number_list(organization=self.organization),
                skip=skip,
                limit=limit,
                serialize=lambda numbers: list(PhoneNumberOutput(numbers, many=True).data),
            )
        )

    def post(self, request: Request) -> Response:
        data = PhoneNumberCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        number = phone_number_create(organization=self.organization, **data.validated_data)
        return Response(PhoneNumberOutput(number).data, status=status.HTTP_201_CREATED)


class PhoneNumberDetailApi(OrganizationAPIView):
    def _number(self, number_id: int) -> PhoneNumber:
        number = phone_number_get(organization=self.organization, number_id=number_id)
        if number is None:
            raise NotFound("Phone number not found.")
        return number

    def get(self, request: Request, number_id: int) -> Response:
        return Response(PhoneNumberOutput(self._number(number_id)).data)

    def patch(self, request: Request, number_id: int) -> Response:
        number = self._number(number_id)
        data = PhoneNumberUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        number = phone_number_update(number=number, **data.validated_data)
        return Response(PhoneNumberOutput(number).data)

    def delete(self, request: Request, number_id: int) -> Response:
        phone_number_delete(number=self._number(number_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
