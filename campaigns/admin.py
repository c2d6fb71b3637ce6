"""Campaigns in the admin: settings checked by the API's own rules, a progress bar, and start/pause/resume/cancel
through the same services. Contacts are imported through the API (10,000 at a time) and read here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from burki.admin_scoping import OrganizationListFilter, TenantScopedAdmin
from burki.errors import ServiceError
from burki.pagination import BoundedCountPaginator
from campaigns.models import Campaign, CampaignContact
from campaigns.selectors import FINAL_STATES, campaign_progress
from campaigns.services import (
    EDITABLE,
    SETTINGS,
    campaign_cancel,
    campaign_pause,
    campaign_resume,
    campaign_settings_errors,
    campaign_start,
)
from telephony.numbers import InvalidPhoneNumber, normalize_e164


def progress_bar(done: int, total: int) -> SafeString:
    percent = round(100 * done / total) if total else 0
    return format_html(
        '<div title="{} of {} contacts done" style="width:120px;background:#e5e5e5;border-radius:3px">'
        '<div style="width:{}%;background:#417690;height:10px;border-radius:3px"></div></div>'
        "<small>{} / {} ({}%)</small>",
        done,
        total,
        percent,
        done,
        total,
        percent,
    )


class CampaignForm(forms.ModelForm):
    """The API's checks (numbers of the organization, templates, window, caps, retries) on every save."""

    class Meta:
        model = Campaign
        fields = ["organization", *[name if name != "assistant_id" else "assistant" for name in SETTINGS]]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        if organization is None or self.errors:
            return cleaned
        numbers = cleaned.get("from_numbers")
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            self.add_error("from_numbers", 'A list of E.164 numbers, e.g. ["+14155550100"].')
            return cleaned
        try:
            cleaned["from_numbers"] = [normalize_e164(number) for number in numbers]
        except InvalidPhoneNumber as exc:
            self.add_error("from_numbers", str(exc))
            return cleaned
        values = {name: cleaned.get(name) for name in SETTINGS if name != "assistant_id"}
        assistant = cleaned.get("assistant")
        values["assistant_id"] = assistant.pk if assistant is not None else None
        values["call_options"] = values["call_options"] or {}
        values["retry_on"] = values["retry_on"] or []
        for problem_field, problems in campaign_settings_errors(organization=organization, values=values).items():
            self.add_error("assistant" if problem_field == "assistant_id" else problem_field, problems)
        return cleaned


def _action(
    service: Callable[..., Campaign], verb: str
) -> Callable[[CampaignAdmin, HttpRequest, QuerySet[Campaign]], None]:
    def act(model_admin: CampaignAdmin, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        for campaign in queryset:
            try:
                service(campaign=campaign)
            except ServiceError as exc:
                model_admin.message_user(request, f"{campaign.name}: not {verb}. {exc.detail}", messages.ERROR)
            else:
                model_admin.message_user(request, f"{campaign.name}: {verb}.", messages.SUCCESS)

    return act


@admin.register(Campaign)
class CampaignAdmin(TenantScopedAdmin):
    form = CampaignForm
    list_display = ["name", "organization", "status", "progress", "started_at", "created_at"]
    list_select_related = ["organization"]
    list_filter = ["status", ("organization", OrganizationListFilter)]
    search_fields = ["name"]
    readonly_fields = ["status", "progress_details", "contacts_link", "started_at", "completed_at"]
    actions = ["start", "pause", "resume", "cancel"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        # The list's bars: two counts per campaign in the page's one query, not a query per row.
        return (
            super()
            .get_queryset(request)
            .annotate(
                contacts_total=Count("contacts"),
                contacts_done=Count("contacts", filter=Q(contacts__state__in=FINAL_STATES)),
            )
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status not in EDITABLE:
            # Running or finished: its settings are what its calls were placed with. Pause it to change them.
            return [*readonly, "organization", *[n if n != "assistant_id" else "assistant" for n in SETTINGS]]
        return readonly if obj is None else ["organization", *readonly]

    @admin.display(description="progress")
    def progress(self, campaign: Campaign) -> SafeString:
        return progress_bar(getattr(campaign, "contacts_done", 0), getattr(campaign, "contacts_total", 0))

    @admin.display(description="progress")
    def progress_details(self, campaign: Campaign) -> SafeString:
        if campaign.pk is None:
            return format_html("{}", "-")
        progress = campaign_progress(campaign=campaign)
        done = sum(progress.counts[state] for state in FINAL_STATES)
        counts = ", ".join(f"{state} {count}" for state, count in progress.counts.items())
        rate = "-" if progress.answer_rate is None else f"{progress.answer_rate:.0%}"
        finish = progress.estimated_finish_at.isoformat() if progress.estimated_finish_at else "-"
        return format_html(
            "{}<br>{}<br>calls placed {}, answer rate {}, estimated finish {}",
            progress_bar(done, progress.total),
            counts,
            progress.calls_placed,
            rate,
            finish,
        )

    @admin.display(description="contacts")
    def contacts_link(self, campaign: Campaign) -> SafeString:
        if campaign.pk is None:
            return format_html("{}", "-")
        url = reverse("admin:campaigns_campaigncontact_changelist") + f"?campaign__id__exact={campaign.pk}"
        return format_html('<a href="{}">The contacts and their results</a>', url)

    start = admin.action(description="Start the selected draft campaigns")(_action(campaign_start, "started"))
    pause = admin.action(description="Pause the selected campaigns")(_action(campaign_pause, "paused"))
    resume = admin.action(description="Resume the selected campaigns")(_action(campaign_resume, "resumed"))
    cancel = admin.action(description="Cancel the selected campaigns")(_action(campaign_cancel, "canceled"))


@admin.register(CampaignContact)
class CampaignContactAdmin(TenantScopedAdmin):
    """Read only: contacts change through imports and the dispatcher."""

    organization_lookup = "campaign__organization"
    list_display = ["line", "phone_number", "campaign", "state", "reason", "attempts", "last_call_link", "updated_at"]
    list_select_related = ["campaign"]
    list_filter = ["state"]
    search_fields = ["=phone_number"]
    search_help_text = "An exact number in E.164 (+14155550199)."
    show_full_result_count = False
    paginator = BoundedCountPaginator
    ordering = ["campaign", "line", "id"]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # A campaign's page links to its contacts; the queryset is scoped already, so another's id shows none.
        return lookup == "campaign__id__exact" or super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="last call")
    def last_call_link(self, contact: CampaignContact) -> SafeString:
        if contact.last_call_id is None:
            return format_html("{}", "-")
        url = reverse("admin:calls_call_change", args=[contact.last_call_id])
        return format_html('<a href="{}">{}</a>', url, contact.last_call_id)
