"""The organization's own resources: its API keys, and itself."""

from __future__ import annotations

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from burki.authentication import ApiKeyPrincipal
from burki.errors import NotFound
from burki.pagination import PageParams, paginated_response
from burki.schema import page_of
from burki.selectors import api_key_get, api_key_list
from burki.serializers import (
    ApiKeyCreatedOutput,
    ApiKeyCreateInput,
    ApiKeyOutput,
    OrganizationOutput,
    OrganizationUpdateInput,
)
from burki.services import api_key_create, api_key_revoke, organization_update
from burki.tenancy import OrganizationAPIView


class ApiKeyListApi(OrganizationAPIView):
    resource = "api_keys"

    @extend_schema(
        operation_id="api_keys_list",
        summary="List API keys (never the keys themselves)",
        parameters=[PageParams],
        responses=page_of(ApiKeyOutput, "ApiKeyPage"),
    )
    def get(self, request: Request) -> Response:
        return paginated_response(request, api_key_list(organization=self.organization), ApiKeyOutput)

    @extend_schema(
        operation_id="api_keys_create",
        summary="Create an API key (the raw key is in this response only)",
        request=ApiKeyCreateInput,
        responses={201: ApiKeyCreatedOutput},
    )
    def post(self, request: Request) -> Response:
        data = ApiKeyCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        principal = request.user
        # A key minted by a member, or by a key bound to one, lives only as long as that membership.
        if isinstance(principal, ApiKeyPrincipal):
            creator, bound = principal.api_key.created_by, principal.api_key.bound_to_creator
        else:
            creator, bound = (principal if isinstance(principal, User) else None), True
        key, raw = api_key_create(
            organization=self.organization,
            name=data.validated_data["name"],
            role=data.validated_data["role"],
            created_by=creator,
            bound_to_creator=bound,
            creator_role=self.role,
        )
        # The only response that ever carries the raw key.
        return Response({**ApiKeyOutput(key).data, "key": raw}, status=status.HTTP_201_CREATED)


class ApiKeyDetailApi(OrganizationAPIView):
    resource = "api_keys"

    @extend_schema(operation_id="api_keys_revoke", summary="Revoke an API key", responses={204: None})
    def delete(self, request: Request, key_id: int) -> Response:
        key = api_key_get(organization=self.organization, key_id=key_id)
        if key is None:
            raise NotFound("API key not found.")
        api_key_revoke(api_key=key, revoker_role=self.role)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrganizationApi(OrganizationAPIView):
    resource = "organization"

    @extend_schema(
        operation_id="organization_get",
        summary="Get your organization and its settings",
        description="Limits and policies as they apply: the organization's own, else the server's defaults.",
        responses=OrganizationOutput,
    )
    def get(self, request: Request) -> Response:
        return Response(OrganizationOutput(self.organization).data)

    @extend_schema(
        operation_id="organization_update",
        summary="Change your organization's limits, destination policy and retention",
        description=(
            "Only the fields sent change. `max_concurrent_calls` goes up to the platform's maximum "
            "(`max_concurrent_calls_maximum`, BURKI_MAX_CONCURRENT_CALLS_LIMIT), and null returns it to the server "
            "default; the next initiate counts against the new limit. An unknown field is a 400."
        ),
        request=OrganizationUpdateInput,
        responses=OrganizationOutput,
    )
    def patch(self, request: Request) -> Response:
        data = OrganizationUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        organization = organization_update(organization=self.organization, **data.validated_data)
        return Response(OrganizationOutput(organization).data)


class OrganizationAliasApi(OrganizationApi):
    """Burki's historical path, for reading only: changes go to /api/v1/organization."""

    http_method_names = ["get", "head", "options"]

    @extend_schema(
        operation_id="organization_get_alias",
        summary="Get your organization (Burki's historical path)",
        responses=OrganizationOutput,
    )
    def get(self, request: Request) -> Response:
        return super().get(request)
