from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from burki.authentication import ApiKeyPrincipal
from burki.errors import Conflict, NotFound
from burki.idempotency import idempotent
from burki.pagination import PageParams, paginated_response
from burki.schema import VOICE_ENGINE_TAG, ErrorSerializer, page_of
from burki.tenancy import OrganizationAPIView
from calls.export import calls_csv, calls_ndjson, csv_lines
from calls.models import Call
from calls.selectors import call_get, call_get_by_sid, call_list
from calls.serializers import (
    CALL_EXAMPLE,
    CALL_SOURCES,
    CallCancelOutput,
    CallContextOutput,
    CallEventOutput,
    CallExportParams,
    CallInitiateInput,
    CallInitiateOutput,
    CallListFilters,
    CallOutput,
    CallRowOutput,
    CallTerminateOutput,
    CallValidateOutput,
)
from calls.services import CallRequest, call_cancel, call_initiate, call_terminate, call_validate
from calls.streams import InvalidStreamToken, stream_token_call_id, stream_token_matches

PROVIDER_ERRORS = {
    403: OpenApiResponse(
        ErrorSerializer,
        description="The destination policy refuses the number (or the caller's role is too low).",
        examples=[
            OpenApiExample(
                "A country the organization does not call",
                value={"detail": "Destination country GB is not in your organization's allowed countries (US, CA)."},
            )
        ],
    ),
    409: OpenApiResponse(ErrorSerializer, description="Inactive assistant, flow or account; key in use."),
    422: OpenApiResponse(ErrorSerializer, description="Idempotency-Key reused with a different request."),
    429: OpenApiResponse(
        ErrorSerializer,
        description="A limit of ours or the provider's: `limit` says which, `Retry-After` when to try again.",
        examples=[
            OpenApiExample(
                "The organization's live calls",
                value={
                    "detail": "Concurrent call limit reached: your organization may have 10 live calls at once.",
                    "limit": "max_concurrent_calls",
                },
            ),
            OpenApiExample(
                "The provider's own rate limit",
                value={
                    "detail": "The telephony provider is rate limiting calls: Too Many Requests",
                    "limit": "provider",
                    "call_id": 42,
                    "status": "failed",
                    "provider": "twilio",
                    "provider_code": "20429",
                },
            ),
        ],
    ),
    502: OpenApiResponse(ErrorSerializer, description="The provider refused; the call is recorded as failed."),
    504: OpenApiResponse(ErrorSerializer, description="The provider did not answer; the call is unknown."),
}
INPUT_ERRORS = {
    400: OpenApiResponse(
        ErrorSerializer,
        description="Invalid input, per field; a template variable without a value is named in `missing_variables`.",
        examples=[
            OpenApiExample(
                "A number that is not one",
                value={
                    "detail": "Invalid request.",
                    "errors": {
                        "to_phone_number": ["Must start with + and the country code (E.164), e.g. +14155550100."]
                    },
                },
            ),
            OpenApiExample(
                "A missing variable",
                value={
                    "detail": "Missing template variables: name.",
                    "errors": {"welcome_message": ["Missing variable: name"]},
                    "missing_variables": ["name"],
                },
            ),
        ],
    ),
}
HANG_UP_ERRORS = {
    429: OpenApiResponse(
        ErrorSerializer, description='The provider is rate limiting (`"limit": "provider"`, see Retry-After).'
    ),
    502: OpenApiResponse(ErrorSerializer, description="The provider refused to hang up; the call is unchanged."),
    504: OpenApiResponse(ErrorSerializer, description="The provider did not answer; the call is unchanged."),
}
# Burki's published API answers 400 to a hang-up of a call that is over, and its SDK maps 400 to a validation error:
# terminate keeps that for existing clients, and cancel, which is ours, says 409 (a conflict with the call's state).
OVER_IS_400 = (
    "A call that is already over is a **400** here, as in Burki's published API (the Burki SDK reads 400 as a "
    "validation error); `POST /api/v1/calls/{call_id}/cancel` answers **409** instead, and also stops a call that "
    "has no provider call id yet."
)


CSV_EXAMPLE = csv_lines([CALL_EXAMPLE], header=True)
NDJSON_EXAMPLE = json.dumps(CALL_EXAMPLE) + "\n"


class CallInitiateApi(OrganizationAPIView):
    resource = "calls"

    @extend_schema(
        operation_id="calls_initiate",
        summary="Place an outbound call",
        request=CallInitiateInput,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Retry safely: a repeat with the same key and body gets the first response.",
            )
        ],
        responses={200: CallInitiateOutput, **INPUT_ERRORS, **PROVIDER_ERRORS},
    )
    def post(self, request: Request) -> Response:
        return idempotent(
            self,
            request,
            organization=self.organization,
            operation="calls.initiate",
            handler=lambda: self._initiate(request),
            # Stored once a call exists (placed, refused or unknown); input errors release the key for a fix.
            keep=lambda response: isinstance(response.data, dict) and "call_id" in response.data,
        )

    def _initiate(self, request: Request) -> Response:
        call = call_initiate(
            organization=self.organization, config_version=_config_version(request), **_initiate_input(request)
        )
        return Response(CallInitiateOutput(call).data)


@extend_schema_view(
    post=extend_schema(operation_id="calls_initiate_root", summary="Place an outbound call (root path)")
)
class CallInitiateRootApi(CallInitiateApi):
    """Burki serves initiate at the root too; existing clients call it there."""


@extend_schema_view(post=extend_schema(exclude=True))
class CallInitiateSlashApi(CallInitiateApi):
    """The same operation for clients that add a trailing slash; documented once, without it."""


class CallValidateApi(OrganizationAPIView):
    resource = "calls"

    @extend_schema(
        operation_id="calls_validate",
        summary="Run every check of initiate without recording or dialling anything",
        request=CallInitiateInput,
        responses={
            200: CallValidateOutput,
            **INPUT_ERRORS,
            403: PROVIDER_ERRORS[403],
            409: PROVIDER_ERRORS[409],
            429: OpenApiResponse(
                ErrorSerializer, description="A limit of ours (`limit` says which) would refuse the call now."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        plan = call_validate(
            organization=self.organization, config_version=_config_version(request), **_initiate_input(request)
        )
        return Response(CallValidateOutput(plan).data)


def _config_version(request: Request) -> int | None:
    """The organization's configuration version read with the request's API key (burki.config), if any."""
    user = request.user
    return user.config_version if isinstance(user, ApiKeyPrincipal) else None


def _initiate_input(request: Request) -> CallRequest:
    data = CallInitiateInput(data=request.data)
    data.is_valid(raise_exception=True)
    body = data.validated_data
    return {
        "from_number": body["from_phone_number"],
        "to_number": body["to_phone_number"],
        "assistant_id": body.get("assistant_id"),
        "welcome_message": body.get("welcome_message"),
        "agenda": body.get("agenda"),
        "variables": body.get("variables"),
        "metadata": body.get("metadata"),
        "machine_detection": body.get("machine_detection"),
        "voicemail_message": body.get("voicemail_message"),
        "record": body.get("record"),
        "max_duration_seconds": body.get("max_duration_seconds"),
        "ring_timeout_seconds": body.get("ring_timeout_seconds"),
    }


class CallListApi(OrganizationAPIView):
    resource = "calls"

    @extend_schema(
        operation_id="calls_list",
        summary="List calls, newest first",
        parameters=[PageParams, CallListFilters],
        responses=page_of(CallOutput, "CallPage"),
    )
    def get(self, request: Request) -> Response:
        filters = CallListFilters(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        calls = call_list(organization=self.organization, filters=filters.filters())
        # The page's calls as plain values, not models: building and serializing 50 models was most of its time.
        return paginated_response(request, calls, CallRowOutput, values=list(CALL_SOURCES.values()))


class CallExportApi(OrganizationAPIView):
    resource = "calls"
    FORMATS: ClassVar[dict[str, tuple[str, Callable[[QuerySet[Call]], Iterator[str]]]]] = {
        "csv": ("text/csv; charset=utf-8", calls_csv),
        "ndjson": ("application/x-ndjson; charset=utf-8", calls_ndjson),
    }

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        # The export picks its own format (below); whatever else it answers, errors, is JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        operation_id="calls_export",
        summary="Export calls as CSV or NDJSON, oldest first, with the list's filters (streamed)",
        parameters=[CallExportParams],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="One row per call, a header first.",
                examples=[OpenApiExample("One call", value=CSV_EXAMPLE)],
            ),
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR,
                description="One call object a line.",
                examples=[OpenApiExample("One call", value=NDJSON_EXAMPLE)],
            ),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        params = CallExportParams(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        chosen = params.validated_data.get("format")
        if chosen is None:
            chosen = "ndjson" if "application/x-ndjson" in request.headers.get("Accept", "") else "csv"
        content_type, write = self.FORMATS[chosen]
        calls = call_list(organization=self.organization, filters=params.filters()).order_by("created_at", "id")
        response = StreamingHttpResponse(write(calls), content_type=content_type)
        filename = f"calls-{self.organization.slug}-{timezone.now():%Y%m%dT%H%M%SZ}.{chosen}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        response["X-Accel-Buffering"] = "no"  # nginx: pass each batch on as it comes
        return response


class CallDetailApi(OrganizationAPIView):
    resource = "calls"

    @extend_schema(operation_id="calls_get", summary="Get a call", responses=CallOutput)
    def get(self, request: Request, call_id: int) -> Response:
        call = call_get(organization=self.organization, call_id=call_id)
        if call is None:
            raise NotFound("Call not found.")
        return Response(CallOutput(call).data)


class CallBySidApi(OrganizationAPIView):
    resource = "calls"

    @extend_schema(operation_id="calls_get_by_sid", summary="Get a call by its provider call id", responses=CallOutput)
    def get(self, request: Request, call_sid: str) -> Response:
        call = call_get_by_sid(organization=self.organization, call_sid=call_sid)
        if call is None:
            raise NotFound("Call not found.")
        return Response(CallOutput(call).data)


class CallTerminateApi(OrganizationAPIView):
    resource = "calls"

    @extend_schema(
        operation_id="calls_terminate",
        summary="Hang up a live call by its provider call id",
        description=f"The provider hangs up the call, and its end is recorded at once.\n\n{OVER_IS_400}",
        request=None,
        responses={
            200: CallTerminateOutput,
            400: OpenApiResponse(ErrorSerializer, description="The call is already over (or invalid input)."),
            409: OpenApiResponse(ErrorSerializer, description="The call's telephony account no longer exists."),
            **HANG_UP_ERRORS,
        },
    )
    def post(self, request: Request, call_sid: str) -> Response:
        call = call_get_by_sid(organization=self.organization, call_sid=call_sid)
        if call is None:
            raise NotFound("Call not found.")
        call = call_terminate(call=call)
        return Response(CallTerminateOutput(call).data)


class CallCancelApi(OrganizationAPIView):
    resource = "calls"

    @extend_schema(
        operation_id="calls_cancel",
        summary="Cancel a call by its id, whatever it has reached",
        description=(
            "A call the provider knows (it has a `call_sid`) is hung up through the provider, as terminate does: "
            "`canceled`, or `completed` once answered. A call it does not know yet (`queued`, or `unknown` after a "
            "dial that timed out, with no `call_sid`) is recorded as `canceled` at once; should the provider have "
            "placed it after all, its answer webhook finds the call over and hangs up, and its later events change "
            "nothing. `call.ended` is sent once either way.\n\n"
            "A call that is already over is a **409** (`call_id` and `status` in the body). "
            "`POST /api/v1/calls/{call_sid}/terminate` answers 400 for the same, as Burki's published API does."
        ),
        request=None,
        responses={
            200: CallCancelOutput,
            409: OpenApiResponse(
                ErrorSerializer,
                description="The call is already over, or its telephony account no longer exists.",
                examples=[
                    OpenApiExample(
                        "Already over",
                        value={
                            "detail": "Call 42 is already over (status completed): there is nothing to cancel.",
                            "call_id": 42,
                            "status": "completed",
                        },
                    )
                ],
            ),
            **HANG_UP_ERRORS,
        },
    )
    def post(self, request: Request, call_id: int) -> Response:
        call = call_get(organization=self.organization, call_id=call_id)
        if call is None:
            raise NotFound("Call not found.")
        call = call_cancel(call=call)
        return Response(CallCancelOutput(call).data)


@dataclass(frozen=True)
class StreamPrincipal:
    call_id: int
    is_authenticated = True


class StreamTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <stream token>`: only the voice engine serving a call holds one."""

    def authenticate(self, request: Request) -> tuple[Any, str] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Invalid Authorization header: expected 'Bearer <stream token>'.")
        token = parts[1].decode("latin-1")
        try:
            call_id = stream_token_call_id(token)
        except InvalidStreamToken as exc:
            raise AuthenticationFailed(str(exc)) from None
        return StreamPrincipal(call_id=call_id), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="stream"'


class CallContextApi(APIView):
    """What the voice engine needs to begin the conversation of one call."""

    openapi_tag = VOICE_ENGINE_TAG
    authentication_classes = [StreamTokenAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="calls_context",
        summary="What the voice engine needs to begin (stream token only)",
        responses={
            200: CallContextOutput,
            409: OpenApiResponse(ErrorSerializer, description="The call is over: its stream token opens nothing."),
        },
    )
    def get(self, request: Request, call_id: int) -> Response:
        principal = request.user
        if not isinstance(principal, StreamPrincipal) or principal.call_id != call_id:
            raise NotFound("Call not found.")
        call = Call.objects.select_related("assistant", "flow").filter(pk=call_id).first()
        if call is None:
            raise NotFound("Call not found.")
        if not stream_token_matches(str(request.auth), call):
            raise AuthenticationFailed("Invalid stream token.")
        if call.is_over:
            # A token outlives its call by up to STREAM_TOKEN_TTL, and a replayed answer webhook may have minted it:
            # only a live call's engine needs the assistant's settings.
            raise Conflict(f"Call {call.pk} is over (status {call.status}).")
        return Response(CallContextOutput(call).data)


class CallEventListApi(OrganizationAPIView):
    resource = "calls"

    @extend_schema(
        operation_id="calls_events",
        summary="A call's provider events, oldest first",
        parameters=[PageParams],
        responses=page_of(CallEventOutput, "CallEventPage"),
    )
    def get(self, request: Request, call_id: int) -> Response:
        call = call_get(organization=self.organization, call_id=call_id)
        if call is None:
            raise NotFound("Call not found.")
        return paginated_response(request, call.events.order_by("received_at", "id"), CallEventOutput)
