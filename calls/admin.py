from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from assistants.models import Assistant, PhoneNumber
from burki.admin_scoping import OrganizationListFilter, TenantScopedAdmin, administered, administered_roles
from burki.admin_site import BurkiAdminSite
from burki.errors import ServiceError
from burki.models import Organization
from burki.pagination import BoundedCountPaginator
from calls.models import Call, CallEvent, Suppression
from calls.selectors import OUTCOMES, CallsToday, calls_today
from calls.services import call_cancel, call_initiate, call_sandbox_play_start
from calls.suppressions import MAX_BULK_ROWS, MAX_REASON, csv_rows, suppressions_add_bulk
from telephony.backends import get_backend
from telephony.backends.base import TelephonyError
from telephony.backends.sandbox import SandboxBackend
from telephony.detection import MachineDetection
from telephony.numbers import MAX_INPUT_LENGTH, InvalidPhoneNumber, normalize_e164
from telephony.status import CallStatus

CALL_FIELDS = (
    "organization",
    "direction",
    "status",
    "from_number",
    "to_number",
    "provider",
    "call_sid",
    "phone_number",
    "telephony_account",
    "assistant",
    "flow",
    "campaign_id",
    "dispatch_key",
    "welcome_message",
    "agenda",
    "variables",
    "metadata",
    "machine_detection",
    "voicemail_message",
    "record",
    "max_duration_seconds",
    "ring_timeout_seconds",
    "error_message",
    "end_reason",
    "answered_by",
    "voicemail_left_at",
    "recording_url",
    "recording_duration",
    "duration",
    "started_at",
    "answered_at",
    "ended_at",
    "created_at",
    "updated_at",
)
# The CSV import's file: the API's bulk body limit.
MAX_IMPORT_FILE = 4 * 1024 * 1024
CALL_EVENT_FIELDS = ("call", "received_at", "provider", "event_type", "status", "key", "payload")

# The service names its inputs as the API does; errors land on the form field the operator filled in.
SERVICE_ERROR_FIELDS = {
    "to_phone_number": "to_number",
    "assistant_id": "assistant",
    "welcome_message": "welcome_message",
    "agenda": "agenda",
    "variables": "variables",
    "machine_detection": "machine_detection",
    "voicemail_message": "voicemail_message",
    "record": "record",
}


class ReadOnlyAdminMixin:
    """History is written by the call services and provider webhooks only, never by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CallEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CallEvent
    extra = 0
    fields = CALL_EVENT_FIELDS[1:]
    readonly_fields = CALL_EVENT_FIELDS[1:]


class PlaceTestCallForm(forms.Form):
    to_number = forms.CharField(
        label="Destination number", max_length=MAX_INPUT_LENGTH, help_text="E.164, e.g. +14155550199."
    )
    assistant = forms.ModelChoiceField(
        queryset=Assistant.objects.none(), required=False, empty_label="The number's own (its flow or assistant)"
    )
    welcome_message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Blank: the assistant's own. Supports {{variable}} placeholders.",
    )
    agenda = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    variables = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='A JSON object, e.g. {"name": "Ada"}.',
    )
    machine_detection = forms.ChoiceField(
        choices=[("", "The assistant's"), *MachineDetection.choices],
        required=False,
        help_text="What to do when an answering machine answers (sandbox: +14155550195 is one).",
    )
    voicemail_message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Said after the beep in leave_message mode. Blank: the assistant's. Supports {{variable}}.",
    )
    record = forms.BooleanField(required=False, help_text="Record this call (unticked: as the assistant says).")

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assistant = self.fields["assistant"]
        assert isinstance(assistant, forms.ModelChoiceField)
        assistant.queryset = Assistant.objects.filter(organization=organization)

    def clean_variables(self) -> dict[str, Any]:
        value = self.cleaned_data.get("variables")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Must be a JSON object.")
        return value


class ProviderFilter(admin.SimpleListFilter):
    """The configured providers, not Django's default (a SELECT DISTINCT over every call on each page view)."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in settings.TELEPHONY_BACKENDS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(provider=self.value()) if self.value() else queryset


class EventStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in CallStatus.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(status=self.value()) if self.value() else queryset


@admin.register(Call)
class CallAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["id", "created_at", "organization", "from_number", "to_number", "status", "provider", "duration"]
    list_select_related = ["organization"]
    # Call history runs to millions of rows: exact matches only (each has an index; a number's is per organization,
    # so pick the organization first), a count bounded like the API's, and a date filter that needs no query of its
    # own (date_hierarchy reads every matching row's date to draw its links).
    search_fields = ["=call_sid", "=to_number"]
    search_help_text = "An exact provider call id, or an exact destination number in E.164 (+14155550199)."
    list_filter = [
        ("created_at", admin.DateFieldListFilter),
        "status",
        ProviderFilter,
        "direction",
        ("organization", OrganizationListFilter),
    ]
    show_full_result_count = False
    paginator = BoundedCountPaginator
    # The page's time is its rows' rendering (about half a millisecond each), not its queries.
    list_per_page = 50
    fields = CALL_FIELDS
    readonly_fields = CALL_FIELDS
    inlines = [CallEventInline]
    # The page of a live call offers "Hang up" (and "Simulate" for a sandbox call): templates/admin/calls/call/.

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "place-test-call/<int:number_id>/",
                self.admin_site.admin_view(self.place_test_call_view),
                name="calls_call_place_test_call",
            ),
            path("<int:call_id>/hang-up/", self.admin_site.admin_view(self.hang_up_view), name="calls_call_hang_up"),
            path("<int:call_id>/simulate/", self.admin_site.admin_view(self.simulate_view), name="calls_call_simulate"),
        ]
        return custom + super().get_urls()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        call = self.get_object(request, object_id)
        actions = {}
        if call is not None and not call.is_over and self.may_act_on_calls(request):
            actions = {"can_hang_up": True, "can_simulate": is_sandbox_call(call)}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **actions})

    def may_act_on_calls(self, request: HttpRequest) -> bool:
        # The admin never edits a call's record (ReadOnlyAdminMixin); the permission says who may act on the call.
        return request.user.has_perm("calls.change_call")

    def acted_on(self, request: HttpRequest, call_id: int) -> Call:
        if not self.may_act_on_calls(request):
            raise PermissionDenied
        # Another organization's call is not found, like an unknown one.
        return get_object_or_404(administered(request, Call.objects.all(), lookup="organization"), pk=call_id)

    @method_decorator(require_POST)
    def hang_up_view(self, request: HttpRequest, call_id: int) -> HttpResponse:
        """End a live call through the API's own service: hung up through its provider, or canceled at once when
        the provider never named it (queued, or unknown after a dial that timed out)."""
        call = self.acted_on(request, call_id)
        try:
            call = call_cancel(call=call)
        except ServiceError as exc:
            self.message_user(request, f"Call {call.pk} was not hung up: {exc.detail}", messages.ERROR)
        else:
            self.message_user(request, f"Call {call.pk} is {call.status}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:calls_call_change", args=[call.pk]))

    @method_decorator(require_POST)
    def simulate_view(self, request: HttpRequest, call_id: int) -> HttpResponse:
        """Queue a live sandbox call's script on the worker (what SANDBOX_AUTOPLAY does by itself when on)."""
        call = self.acted_on(request, call_id)
        try:
            call_sandbox_play_start(call=call)
        except ServiceError as exc:
            self.message_user(request, f"Call {call.pk} cannot be simulated: {exc.detail}", messages.ERROR)
        else:
            self.message_user(
                request,
                f"Call {call.pk}'s sandbox script is queued: a worker plays it step by step (reload to follow).",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:calls_call_change", args=[call.pk]))

    def place_test_call_view(self, request: HttpRequest, number_id: int) -> HttpResponse:
        """Place a call from this number exactly as POST /calls/initiate would, as the number's organization."""
        # Calls cannot be added by hand (see has_add_permission); the permission still says who may place one.
        if not request.user.has_perm("calls.add_call"):
            raise PermissionDenied
        numbers = PhoneNumber.objects.select_related("organization", "telephony_account", "assistant", "flow")
        # Another organization's number is not found, like an unknown one.
        number = get_object_or_404(administered(request, numbers, lookup="organization"), pk=number_id)
        form = PlaceTestCallForm(request.POST if request.method == "POST" else None, organization=number.organization)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                call = call_initiate(
                    organization=number.organization,
                    from_number=number.phone_number,
                    to_number=data["to_number"],
                    assistant_id=data["assistant"].pk if data["assistant"] else None,
                    welcome_message=data["welcome_message"] or None,
                    agenda=data["agenda"] or None,
                    variables=data["variables"],
                    machine_detection=data["machine_detection"] or None,
                    voicemail_message=data["voicemail_message"] or None,
                    record=True if data["record"] else None,
                )
            except ServiceError as exc:
                _add_service_error(form, exc)
            else:
                self.message_user(
                    request,
                    f"Call {call.pk} placed from {call.from_number} to {call.to_number}: "
                    f"provider call id {call.call_sid or '—'}, status {call.status}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:calls_call_change", args=[call.pk]))

        context = {
            **self.admin_site.each_context(request),
            "title": "Place a test call",
            "subtitle": number.phone_number,
            "opts": self.opts,
            "number": number,
            "number_url": reverse("admin:assistants_phonenumber_change", args=[number.pk]),
            "form": form,
        }
        return TemplateResponse(request, "admin/calls/place_test_call.html", context)


def _add_service_error(form: PlaceTestCallForm, exc: ServiceError) -> None:
    form.add_error(None, exc.detail)
    for name, problems in (exc.errors or {}).items():
        field = SERVICE_ERROR_FIELDS.get(name)
        for problem in problems if isinstance(problems, list) else [problems]:
            form.add_error(field, str(problem) if field else f"{name}: {problem}")
    if "call_id" in exc.extra:
        form.add_error(None, f"Call {exc.extra['call_id']} is recorded as {exc.extra['status']}.")


@admin.register(CallEvent)
class CallEventAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    organization_lookup = "call__organization"
    list_display = ["call", "event_type", "status", "provider", "received_at"]
    list_select_related = ["call"]
    # As for calls: newest first by id (its index), exact search, filters that need no query, a bounded count.
    ordering = ["-id"]
    search_fields = ["=call__call_sid", "=event_type", "=key"]
    search_help_text = "An exact provider call id, event type or event key."
    list_filter = [ProviderFilter, EventStatusFilter]
    show_full_result_count = False
    paginator = BoundedCountPaginator
    fields = CALL_EVENT_FIELDS
    readonly_fields = CALL_EVENT_FIELDS


def is_sandbox_call(call: Call) -> bool:
    try:
        return isinstance(get_backend(call.provider), SandboxBackend) and bool(call.call_sid)
    except TelephonyError:
        return False  # a provider no longer configured


# The chart's colours, one per outcome (calls.selectors.OUTCOMES), readable on the light and the dark theme.
OUTCOME_COLOURS = {
    "completed": "#2e7d32",
    "busy": "#f9a825",
    "no-answer": "#ef6c00",
    "failed": "#c62828",
    "canceled": "#78909c",
    "other": "#1e88e5",
}
OUTCOME_LABELS = {"other": "live or unknown"}
CHART_HEIGHT, BAR_WIDTH, BAR_GAP = 120, 18, 4


def calls_today_panel(request: HttpRequest) -> SafeString | None:
    """The index page's dashboard: today's calls at a glance, for the organizations the user administers."""
    if not request.user.has_perm("calls.view_call"):
        return None
    roles = administered_roles(request)
    if roles == {}:
        return None
    today = calls_today(organization_ids=None if roles is None else list(roles))
    return render_to_string("admin/calls/today.html", calls_today_context(today), request=request)


def calls_today_context(today: CallsToday) -> dict[str, Any]:
    """Where each bar of the chart goes: stacked by outcome, scaled to the busiest hour."""
    busiest = max((hour.total for hour in today.hours), default=0) or 1
    bars = []
    for index, hour in enumerate(today.hours):
        top: float = CHART_HEIGHT
        segments = []
        for outcome in OUTCOMES:
            count = hour.outcomes[outcome]
            if not count:
                continue
            height = count * CHART_HEIGHT / busiest
            top -= height
            segments.append(
                {
                    "outcome": OUTCOME_LABELS.get(outcome, outcome),
                    "count": count,
                    "y": round(top, 2),
                    "height": round(height, 2),
                    "colour": OUTCOME_COLOURS[outcome],
                }
            )
        bars.append(
            {
                "x": index * (BAR_WIDTH + BAR_GAP),
                "start": hour.start,
                "total": hour.total,
                "segments": segments,
                "label": index % 3 == 0,
            }
        )
    totals = {outcome: sum(hour.outcomes[outcome] for hour in today.hours) for outcome in OUTCOMES}
    return {
        "today": today,
        "bars": bars,
        "busiest": busiest if any(hour.total for hour in today.hours) else 0,
        "legend": [
            {
                "outcome": OUTCOME_LABELS.get(outcome, outcome),
                "count": totals[outcome],
                "colour": OUTCOME_COLOURS[outcome],
            }
            for outcome in OUTCOMES
        ],
        "answer_rate": None if today.answer_rate is None else round(today.answer_rate * 100),
        "chart_width": len(bars) * (BAR_WIDTH + BAR_GAP) - BAR_GAP,
        "chart_height": CHART_HEIGHT,
        "bar_width": BAR_WIDTH,
    }


if isinstance(admin.site, BurkiAdminSite):
    admin.site.register_index_panel(calls_today_panel)


class SuppressionForm(forms.ModelForm):
    # As people write numbers (the model's 16 characters are E.164's): normalized below.
    phone_number = forms.CharField(max_length=MAX_INPUT_LENGTH, help_text="E.164, e.g. +14155550199.")

    class Meta:
        model = Suppression
        fields = ["organization", "phone_number", "reason"]

    def clean_phone_number(self) -> str:
        # As the API stores it: E.164 with initiate's rules and messages, so the unique check sees the same number.
        try:
            return normalize_e164(self.cleaned_data.get("phone_number"))
        except InvalidPhoneNumber as exc:
            raise forms.ValidationError(str(exc)) from None


class SuppressionImportForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none())
    file = forms.FileField(
        help_text=f"A UTF-8 CSV file: a header with a phone_number column, optionally reason; at most "
        f"{MAX_BULK_ROWS:,} rows. All or nothing: one invalid row and nothing is added."
    )
    reason = forms.CharField(max_length=MAX_REASON, required=False, help_text="For the rows that give none.")

    def __init__(self, *args: Any, organizations: QuerySet[Organization], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        organization = self.fields["organization"]
        assert isinstance(organization, forms.ModelChoiceField)
        organization.queryset = organizations


@admin.register(Suppression)
class SuppressionAdmin(TenantScopedAdmin):
    form = SuppressionForm
    list_display = ["phone_number", "organization", "source", "reason", "created_at"]
    list_select_related = ["organization"]
    search_fields = ["=phone_number"]
    search_help_text = "An exact number in E.164 (+14155550199)."
    list_filter = ["source", ("organization", OrganizationListFilter)]
    show_full_result_count = False
    paginator = BoundedCountPaginator
    # The changelist offers "Import CSV": templates/admin/calls/suppression/change_list.html.

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = ["organization", "phone_number", "reason"]
        return fields if obj is None else [*fields, "source", "call", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # An entry's number is what it is: another number is another entry (delete this one, add that one).
        return [] if obj is None else ["organization", "phone_number", "source", "call", "created_at"]

    def save_model(self, request: HttpRequest, obj: Suppression, form: Any, change: bool) -> None:
        if not change:
            obj.source = Suppression.Source.ADMIN
        super().save_model(request, obj, form, change)

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path("import/", self.admin_site.admin_view(self.import_view), name="calls_suppression_import"),
        ]
        return custom + super().get_urls()

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Add a CSV file's numbers through the API's own bulk service (source csv), to one administered
        organization."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        organizations = administered(request, Organization.objects.order_by("name"), lookup="pk")
        form = SuppressionImportForm(
            request.POST if request.method == "POST" else None,
            request.FILES if request.method == "POST" else None,
            organizations=organizations,
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                rows = csv_rows(data["file"].read(MAX_IMPORT_FILE + 1))
                result = suppressions_add_bulk(
                    organization=data["organization"],
                    rows=rows,
                    source=Suppression.Source.CSV,
                    default_reason=data["reason"],
                )
            except ServiceError as exc:
                form.add_error("file", exc.detail)
                for refused in exc.extra.get("refused", [])[:20]:
                    form.add_error("file", f"Line {refused['line']} ({refused['phone_number']}): {refused['reason']}")
            else:
                already = len(result.already_suppressed)
                self.message_user(
                    request,
                    f"{result.created} numbers added to {data['organization']}'s do-not-call list; {already} were on "
                    f"it already, {result.duplicates_merged} duplicate rows merged.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:calls_suppression_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import a do-not-call list (CSV)",
            "opts": self.opts,
            "form": form,
        }
        return TemplateResponse(request, "admin/calls/suppression/import.html", context)
