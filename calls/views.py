from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.drainage import get_override
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from burki.authentication import ApiKeyPrincipal
from burki.errors import Conflict, InvalidInput, NotFound
from burki.idempotency import idempotent
from burki.pagination import PageParams, paginated_response
from burki.parsers import CSVParser, SafeJSONParser
from burki.schema import VOICE_ENGINE_TAG, ErrorSerializer, page_of
from burki.tenancy import OrganizationAPIView
from calls.export import calls_csv, calls_ndjson, csv_lines
from calls.models import Call, Suppression
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
    CallOptOutInput,
    CallOutput,
    CallRowOutput,
    CallTerminateOutput,
    CallValidateOutput,
    SuppressionBulkInput,
    SuppressionBulkOutput,
    SuppressionCreateInput,
    SuppressionListFilters,
    SuppressionOutput,
)
from calls.services import CallRequest, call_cancel, call_initiate, call_terminate, call_validate
from calls.streams import InvalidStreamToken, stream_token_call_id, stream_token_matches
from calls.suppressions import (
    MAX_REASON,
    csv_rows,
    json_rows,
    suppression_add,
    suppression_delete,
    suppression_get,
    suppression_list,
    suppression_opt_out,
    suppressions_add_bulk,
)

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


def stream_call(request: Request, call_id: int, calls: QuerySet[Call] | None = None) -> Call:
    """The call whose stream token authenticated the request, which must be the call of the path: a token opens its
    own call only, and another call's id is a 404 (as an unknown one)."""
    principal = request.user
    if not isinstance(principal, StreamPrincipal) or principal.call_id != call_id:
        raise NotFound("Call not found.")
    call = (calls if calls is not None else Call.objects.all()).filter(pk=call_id).first()
    if call is None:
        raise NotFound("Call not found.")
    if not stream_token_matches(str(request.auth), call):
        raise AuthenticationFailed("Invalid stream token.")
    return call


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
        call = stream_call(request, call_id, Call.objects.select_related("assistant", "flow"))
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


# --- the do-not-call list (suppressions) ------------------------------------------------------------------------

SUPPRESSION_INPUT_ERRORS = {
    400: OpenApiResponse(
        ErrorSerializer,
        description="Invalid input, per field: a number is normalized to E.164 with initiate's rules and messages.",
        examples=[
            OpenApiExample(
                "A number that is not one",
                value={
                    "detail": "Invalid request.",
                    "errors": {"phone_number": ["Must start with + and the country code (E.164), e.g. +14155550100."]},
                },
            )
        ],
    ),
}


class SuppressionApi(OrganizationAPIView):
    resource = "suppressions"

    def _suppression(self, suppression_id: int) -> Suppression:
        suppression = suppression_get(organization=self.organization, suppression_id=suppression_id)
        if suppression is None:
            raise NotFound("Suppression not found.")
        return suppression


class SuppressionListApi(SuppressionApi):
    @extend_schema(
        operation_id="suppressions_list",
        summary="List the do-not-call list, newest first",
        parameters=[PageParams, SuppressionListFilters],
        responses=page_of(SuppressionOutput, "SuppressionPage"),
    )
    def get(self, request: Request) -> Response:
        filters = SuppressionListFilters(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        rows = suppression_list(organization=self.organization, **filters.validated_data)
        return paginated_response(request, rows, SuppressionOutput)

    @extend_schema(
        operation_id="suppressions_create",
        summary="Add a number to the do-not-call list (200 when it is on it already)",
        description=(
            "The number is normalized to E.164 and is never called again by this organization: initiate, validate "
            'and campaigns refuse it (403, `"limit": "suppressed"`). Adding a number that is on the list '
            "already is idempotent: **200** with its entry, left as it was; a new entry is a **201**."
        ),
        request=SuppressionCreateInput,
        responses={201: SuppressionOutput, 200: SuppressionOutput, **SUPPRESSION_INPUT_ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = SuppressionCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        suppression, created = suppression_add(
            organization=self.organization, source=Suppression.Source.API, **data.validated_data
        )
        return Response(SuppressionOutput(suppression).data, status=201 if created else 200)


NO_PLUS = "Must start with + and the country code (E.164), e.g. +14155550100."
CSV_UPLOAD_EXAMPLE = "phone_number,reason\n+14155550199,Asked on the phone\n+1 415 555 0198,\n"


class SuppressionBulkApi(SuppressionApi):
    # 10,000 rows with reasons: more than the API's usual 64 KB.
    max_body_size = 4 * 1024 * 1024
    parser_classes = [SafeJSONParser, CSVParser, MultiPartParser]

    @extend_schema(
        operation_id="suppressions_bulk",
        summary="Add up to 10,000 numbers at once, from JSON or a CSV file (all or nothing)",
        description=(
            "The rows come as JSON (`items`), as a `text/csv` body, or as a CSV file uploaded in the `file` field of "
            "a `multipart/form-data` form. A CSV file's first line names its columns: `phone_number`, and "
            "optionally `reason` (other columns are ignored); its rows get source `csv`, JSON rows source `api`.\n\n"
            "Every row is checked before anything is written: if any is refused (not a valid number, a reason over "
            "500 characters), the answer is a **400** listing each refused row with its line (CSV: the file's line, "
            "the header being line 1; JSON: the item's position from 1) and reason, and **nothing is added**. A "
            "number given twice in the request is added once (the first reason given wins). A number already on "
            "the list is reported in `already_suppressed` and left as it is. The answer is a 200 either way."
        ),
        request={
            "application/json": SuppressionBulkInput,
            "text/csv": OpenApiTypes.STR,
            "multipart/form-data": inline_serializer(
                name="SuppressionCsvUpload",
                fields={
                    "file": serializers.FileField(help_text="A UTF-8 CSV file with a phone_number column."),
                    "reason": serializers.CharField(
                        max_length=MAX_REASON, required=False, help_text="For the rows that give none."
                    ),
                },
            ),
        },
        examples=[
            *[
                OpenApiExample(e.name, value=e.value, request_only=True, media_type="application/json")
                for e in get_override(SuppressionBulkInput, "examples", [])
            ],
            OpenApiExample("A CSV file", value=CSV_UPLOAD_EXAMPLE, request_only=True, media_type="text/csv"),
            *get_override(SuppressionBulkOutput, "examples", []),
        ],
        responses={
            200: SuppressionBulkOutput,
            400: OpenApiResponse(
                ErrorSerializer,
                description="Rows refused (nothing was added), too many rows, or a body that is not such a list or "
                "CSV file.",
                examples=[
                    OpenApiExample(
                        "Two rows refused",
                        value={
                            "detail": "2 of 3 rows refused: nothing was added. Fix them and send the whole list again.",
                            "refused": [
                                {"line": 2, "phone_number": "4155550199", "reason": NO_PLUS},
                                {"line": 4, "phone_number": "+1415", "reason": "Not a valid phone number."},
                            ],
                            "refused_count": 2,
                        },
                    )
                ],
            ),
            415: OpenApiResponse(ErrorSerializer, description="Neither JSON nor CSV."),
        },
    )
    def post(self, request: Request) -> Response:
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        default_reason = ""
        source = Suppression.Source.API
        if media_type == "text/csv":
            body: object = request.data  # bytes (burki.parsers.CSVParser), or an empty form when there is no body
            rows, source = csv_rows(body if isinstance(body, bytes) else b""), Suppression.Source.CSV
        elif media_type == "multipart/form-data":
            upload = request.FILES.get("file")
            if upload is None:
                raise InvalidInput("Upload the CSV file in a field named file.", errors={"file": ["Required."]})
            rows, source = csv_rows(upload.read()), Suppression.Source.CSV
            default_reason = request.data.get("reason") or ""
        else:
            rows, default_reason = json_rows(request.data)
        result = suppressions_add_bulk(
            organization=self.organization, rows=rows, source=source, default_reason=default_reason
        )
        return Response(SuppressionBulkOutput(result).data)


class SuppressionDetailApi(SuppressionApi):
    @extend_schema(operation_id="suppressions_get", summary="Get a do-not-call entry", responses=SuppressionOutput)
    def get(self, request: Request, suppression_id: int) -> Response:
        return Response(SuppressionOutput(self._suppression(suppression_id)).data)

    @extend_schema(
        operation_id="suppressions_delete",
        summary="Take a number off the do-not-call list (admins only): it may be called again",
        responses={204: None},
    )
    def delete(self, request: Request, suppression_id: int) -> Response:
        suppression_delete(suppression=self._suppression(suppression_id))
        return Response(status=204)


class CallOptOutApi(APIView):
    """The callee asked never to be called again: the voice engine serving the call records it, and the number is
    on the organization's do-not-call list at once (source `opt-out`, this call linked).

    Authenticated with the call's stream token, which opens its own call only. Allowed while the call is live and
    for 10 minutes after it ended (the engine may report once the line is down); later, a **409**. Idempotent:
    a callee already on the list is a **200** with the entry as it was; a new entry is a **201**."""

    openapi_tag = VOICE_ENGINE_TAG
    authentication_classes = [StreamTokenAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="calls_opt_out",
        summary="Record the callee's spoken opt-out: never call them again (stream token only)",
        request=CallOptOutInput,
        responses={
            201: SuppressionOutput,
            200: SuppressionOutput,
            409: OpenApiResponse(
                ErrorSerializer, description="The call ended more than 10 minutes ago: add the number instead."
            ),
        },
    )
    def post(self, request: Request, call_id: int) -> Response:
        call = stream_call(request, call_id)
        data = CallOptOutInput(data=request.data)
        data.is_valid(raise_exception=True)
        suppression, created = suppression_opt_out(call=call, reason=data.validated_data.get("reason") or "")
        return Response(SuppressionOutput(suppression).data, status=201 if created else 200)
