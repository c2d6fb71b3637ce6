from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from burki.errors import InvalidInput, NotFound
from burki.pagination import PageParams, paginated_response
from burki.parsers import SafeJSONParser
from burki.schema import ErrorSerializer, page_of
from burki.tenancy import OrganizationAPIView
from campaigns.export import campaign_results_csv, result_lines
from campaigns.imports import csv_rows, json_rows
from campaigns.models import Campaign
from campaigns.selectors import campaign_contacts, campaign_get, campaign_list
from campaigns.serializers import (
    CONTACTS_EXAMPLE,
    IMPORT_OUTPUT_EXAMPLES,
    CampaignCreateInput,
    CampaignListParams,
    CampaignOutput,
    CampaignUpdateInput,
    ContactListParams,
    ContactOutput,
    ContactsImportInput,
    ContactsUploadInput,
    ImportOutput,
)
from campaigns.services import (
    MAX_CONTACTS_PER_REQUEST,
    ContactRow,
    campaign_cancel,
    campaign_contacts_import,
    campaign_create,
    campaign_delete,
    campaign_pause,
    campaign_resume,
    campaign_start,
    campaign_update,
)

CONFLICT = OpenApiResponse(
    ErrorSerializer,
    description="The campaign's status does not allow it (`status` says what it is).",
    examples=[
        OpenApiExample(
            "Running",
            value={
                "detail": "Campaign 7 is running: it can be changed only when draft or paused.",
                "campaign_id": 7,
                "status": "running",
            },
        )
    ],
)
REFUSED = OpenApiResponse(
    ErrorSerializer,
    description="Some contacts are refused (each with its line and reason, in `refused`): nothing was imported. "
    "Or the file is not a CSV we can read, or more than 10,000 contacts.",
    examples=[
        OpenApiExample(
            "Two rows refused",
            value={
                "detail": "2 of 3 contacts refused: nothing was imported.",
                "refused_count": 2,
                "refused": [
                    {"line": 2, "phone_number": "+1415555", "reason": "Not a valid phone number."},
                    {"line": 3, "phone_number": "+14155550199", "reason": "duplicate of line 1"},
                ],
            },
        ),
        OpenApiExample(
            "Not UTF-8",
            value={
                "detail": "The CSV file must be UTF-8: invalid byte on line 3. Save it as CSV UTF-8.",
                "errors": {"file": ["The CSV file must be UTF-8: invalid byte on line 3. Save it as CSV UTF-8."]},
            },
        ),
    ],
)
CSV_UPLOAD_EXAMPLE = (
    "phone_number,timezone,first_name,day\n+14155550199,,Ann,Friday\n+33612345678,Europe/Paris,Luc,Monday\n"
)
RESULTS_EXAMPLE = result_lines(
    [
        {
            "line": 1,
            "phone_number": "+14155550199",
            "state": "completed",
            "reason": "",
            "attempts": 2,
            "last_call_id": 42,
            "last_call__status": "completed",
            "last_call__duration": 42,
            "last_call__answered_by": "human",
            "updated_at": "2026-12-01 09:12:40.118000+00:00",
        }
    ],
    header=True,
)


class CSVBodyParser(BaseParser):
    """`Content-Type: text/csv`: the body itself is the file (read as bytes; the import decodes it)."""

    media_type = "text/csv"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return stream.read() if stream is not None else b""


def _campaign(view: OrganizationAPIView, campaign_id: int) -> Campaign:
    campaign = campaign_get(organization=view.organization, campaign_id=campaign_id)
    if campaign is None:
        raise NotFound("Campaign not found.")
    return campaign


def _one(campaign: Campaign, code: int = status.HTTP_200_OK) -> Response:
    return Response(CampaignOutput(campaign, context={"progress": True}).data, status=code)


class CampaignListApi(OrganizationAPIView):
    resource = "campaigns"

    @extend_schema(
        operation_id="campaigns_list",
        summary="List campaigns, newest first",
        description="`progress` is null in the list: GET a campaign for its counts.",
        parameters=[PageParams, CampaignListParams],
        responses=page_of(CampaignOutput, "CampaignPage"),
    )
    def get(self, request: Request) -> Response:
        params = CampaignListParams(data={k: v for k, v in request.query_params.items() if k == "status"})
        params.is_valid(raise_exception=True)
        campaigns = campaign_list(organization=self.organization, status=params.validated_data.get("status"))
        return paginated_response(request, campaigns, CampaignOutput)

    @extend_schema(
        operation_id="campaigns_create",
        summary="Create a campaign (a draft: import contacts, then start it)",
        request=CampaignCreateInput,
        responses={201: CampaignOutput},
    )
    def post(self, request: Request) -> Response:
        data = CampaignCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = campaign_create(organization=self.organization, **data.validated_data)
        return _one(campaign, status.HTTP_201_CREATED)


class CampaignDetailApi(OrganizationAPIView):
    resource = "campaigns"

    @extend_schema(
        operation_id="campaigns_get",
        summary="Get a campaign with its progress",
        responses=CampaignOutput,
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        return _one(_campaign(self, campaign_id))

    @extend_schema(
        operation_id="campaigns_update",
        summary="Change a draft or paused campaign",
        request=CampaignUpdateInput,
        responses={200: CampaignOutput, 409: CONFLICT},
    )
    def patch(self, request: Request, campaign_id: int) -> Response:
        campaign = _campaign(self, campaign_id)
        data = CampaignUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _one(campaign_update(campaign=campaign, **data.validated_data))

    @extend_schema(
        operation_id="campaigns_delete",
        summary="Delete a draft or finished campaign with its contacts (their calls stay)",
        responses={204: None, 409: CONFLICT},
    )
    def delete(self, request: Request, campaign_id: int) -> Response:
        campaign_delete(campaign=_campaign(self, campaign_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CampaignContactsApi(OrganizationAPIView):
    resource = "campaigns"
    parser_classes = [SafeJSONParser, CSVBodyParser, MultiPartParser]
    # 10,000 contacts with their variables: well over the API's usual 64 KB.
    max_body_size = 16 * 1024 * 1024

    @extend_schema(
        operation_id="campaigns_contacts_list",
        summary="List a campaign's contacts, in import order",
        parameters=[PageParams, ContactListParams],
        responses=page_of(ContactOutput, "CampaignContactPage"),
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = _campaign(self, campaign_id)
        params = ContactListParams(data={k: v for k, v in request.query_params.items() if k == "state"})
        params.is_valid(raise_exception=True)
        contacts = campaign_contacts(campaign=campaign, state=params.validated_data.get("state"))
        return paginated_response(request, contacts, ContactOutput)

    @extend_schema(
        operation_id="campaigns_contacts_import",
        summary="Add contacts to a draft or paused campaign: a JSON list or a CSV file",
        description=(
            f"Up to {MAX_CONTACTS_PER_REQUEST:,} contacts a request, as JSON (`contacts`), as a CSV body "
            "(`Content-Type: text/csv`) or as a CSV upload (multipart, field `file`). A CSV has a header line "
            "naming `phone_number`, optionally `timezone`, and any other column as a template variable (an empty "
            "cell leaves it out, so a template's `default(...)` applies); metadata only through JSON.\n\n"
            "Every row is checked first: the number (E.164), its destination policy, duplicates (in the request and "
            "the campaign), its time zone (an IANA name, else the number's; the calling window must be able to "
            "hold in all of them), its variables against the templates. One refused row refuses the request: "
            "the 400 lists each refused row with its `line` (JSON: position in `contacts`; CSV: the file's line, "
            "the header being line 1) and `reason`, and nothing is imported. A number on the do-not-call list is "
            "imported as `skipped` (reason `suppressed`) and listed in `skipped`."
        ),
        request={
            "application/json": ContactsImportInput,
            "text/csv": OpenApiTypes.STR,
            "multipart/form-data": ContactsUploadInput,
        },
        examples=[
            OpenApiExample("Two contacts", value=CONTACTS_EXAMPLE, request_only=True, media_type="application/json"),
            OpenApiExample("A CSV body", value=CSV_UPLOAD_EXAMPLE, request_only=True, media_type="text/csv"),
            *IMPORT_OUTPUT_EXAMPLES,
        ],
        responses={201: ImportOutput, 400: REFUSED, 409: CONFLICT, 415: ErrorSerializer},
    )
    def post(self, request: Request, campaign_id: int) -> Response:
        campaign = _campaign(self, campaign_id)
        report = campaign_contacts_import(campaign=campaign, rows=_rows(request))
        body = {
            "imported": report.imported,
            "pending": report.pending,
            "skipped": [vars(row) for row in report.skipped],
            "total_contacts": report.total_contacts,
        }
        return Response(ImportOutput(body).data, status=status.HTTP_201_CREATED)


def _rows(request: Request) -> list[ContactRow]:
    data = request.data
    if isinstance(data, bytes):
        return csv_rows(data)
    if request.content_type.startswith("text/csv"):
        return csv_rows(b"")  # DRF parses no empty body
    upload = request.FILES.get("file") if hasattr(request, "FILES") else None
    if request.content_type.startswith("multipart/"):
        if upload is None:
            raise InvalidInput("Upload the CSV file as the field `file`.", errors={"file": ["No file was submitted."]})
        return csv_rows(upload.read())
    body = ContactsImportInput(data=data)
    body.is_valid(raise_exception=True)
    return json_rows(body.validated_data["contacts"])


def _action(name: str, summary: str, service: Callable[..., Campaign], description: str) -> type[OrganizationAPIView]:
    class CampaignActionApi(OrganizationAPIView):
        resource = "campaigns"

        @extend_schema(
            operation_id=f"campaigns_{name}",
            summary=summary,
            description=description,
            request=None,
            responses={200: CampaignOutput, 409: CONFLICT},
        )
        def post(self, request: Request, campaign_id: int) -> Response:
            return _one(service(campaign=_campaign(self, campaign_id)))

    CampaignActionApi.__name__ = CampaignActionApi.__qualname__ = f"Campaign{name.capitalize()}Api"
    return CampaignActionApi


CampaignStartApi = _action(
    "start",
    "Start a draft campaign",
    campaign_start,
    "Contacts are called from `starts_at` (or now), each in its calling window. A campaign with no contact to call, "
    "past its `ends_at`, or whose numbers or assistant are gone or inactive, is a 409.",
)
CampaignPauseApi = _action(
    "pause", "Pause a running campaign", campaign_pause, "Nothing more is dialled; calls already live finish."
)
CampaignResumeApi = _action("resume", "Resume a paused campaign", campaign_resume, "It is dialled again.")
CampaignCancelApi = _action(
    "cancel",
    "Cancel a campaign for good",
    campaign_cancel,
    "Every contact still waiting (pending, retrying) is `skipped` with reason `canceled`; calls already live finish.",
)


class CampaignResultsApi(OrganizationAPIView):
    resource = "campaigns"

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        # The file is CSV whatever is asked; errors are JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        operation_id="campaigns_results",
        summary="A campaign's results as CSV: one row per contact, in import order (streamed)",
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="line, phone_number, state, reason, attempts, last_call_id, and that call's status, "
                "duration (seconds) and who answered.",
                examples=[OpenApiExample("One contact", value=RESULTS_EXAMPLE)],
            ),
        },
    )
    def get(self, request: Request, campaign_id: int) -> StreamingHttpResponse:
        campaign = _campaign(self, campaign_id)
        response = StreamingHttpResponse(campaign_results_csv(campaign), content_type="text/csv; charset=utf-8")
        filename = f"campaign-{campaign.pk}-results-{timezone.now():%Y%m%dT%H%M%SZ}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        response["X-Accel-Buffering"] = "no"
        return response
