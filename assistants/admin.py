from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.forms.fields import InvalidJSONInput
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from assistants.models import Assistant, ConversationFlow, PhoneNumber
from assistants.secrets import mask_secrets
from assistants.services import (
    AvailableNumber,
    ImportOutcome,
    assistant_settings_checked,
    phone_number_registration_check,
    phone_numbers_available,
    phone_numbers_import,
)
from burki.admin_scoping import OrganizationListFilter, TenantScopedAdmin, administered
from burki.errors import ServiceError
from burki.models import Organization
from burki.text import unstorable_paths
from telephony.models import TelephonyAccount
from telephony.numbers import InvalidPhoneNumber, normalize_e164

# Served by the Call admin: the calls app owns placing calls, and nothing outside it may import it.
PLACE_TEST_CALL_URL = "admin:calls_call_place_test_call"
SETTINGS_FIELDS = ("llm_settings", "tts_settings", "stt_settings", "custom_settings")


class OrganizationLabelledChoiceField(forms.ModelChoiceField):
    """Add forms offer every organization's objects: the label says whose each one is."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj} ({obj.organization})"


class OrganizationScopedForm(forms.ModelForm):
    """Once the object exists, its relations are chosen among its own organization's objects only.

    Model.clean() still checks every combination; this only keeps the wrong choices off the page.
    """

    scoped_fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            return
        for name in self.scoped_fields:
            field = self.fields.get(name)
            if isinstance(field, forms.ModelChoiceField) and field.queryset is not None:
                field.queryset = field.queryset.filter(organization_id=self.instance.organization_id)


class StorableJSONFormField(forms.JSONField):
    """Shows JSON holding text no database stores (refused by the model's validators) back as it was sent, escapes
    and all: decoded, a lone surrogate could not even be written into the page.
    """

    def bound_data(self, data: Any, initial: Any) -> Any:
        value = super().bound_data(data, initial)
        if isinstance(data, str) and not isinstance(value, InvalidJSONInput) and unstorable_paths(value):
            return InvalidJSONInput(data)
        return value


class OrganizationScopedAdmin(TenantScopedAdmin):
    form = OrganizationScopedForm
    formfield_overrides = {models.JSONField: {"form_class": StorableJSONFormField}}

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        scoped: tuple[str, ...] = getattr(self.form, "scoped_fields", ())
        if db_field.name in scoped:
            kwargs["form_class"] = OrganizationLabelledChoiceField
            kwargs["queryset"] = db_field.remote_field.model.objects.select_related("organization")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: models.Model | None = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        # An object never moves between organizations: what it is linked to (and its calls) would not follow.
        return readonly if obj is None else ["organization", *readonly]


class AssistantForm(OrganizationScopedForm):
    """Settings are shown with their secrets masked, and a mask sent back keeps the stored secret: as in the API."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only what the page starts from is masked: what was just typed is shown back as typed, or a new
        # secret would come back as the mask on the next save and silently be the old one again.
        for name in SETTINGS_FIELDS:
            if name in self.initial:
                self.initial[name] = mask_secrets(self.initial[name])

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        for name in SETTINGS_FIELDS:
            if name in cleaned:
                value, problems = assistant_settings_checked(
                    submitted=cleaned[name], stored=getattr(self.instance, name)
                )
                if problems:
                    self.add_error(name, problems)
                else:
                    cleaned[name] = value
        return cleaned


def _masked_json(value: Any) -> str:
    return json.dumps(mask_secrets(value), ensure_ascii=False)


@admin.register(Assistant)
class AssistantAdmin(OrganizationScopedAdmin):
    form = AssistantForm
    list_display = ["name", "organization", "is_active", "max_call_length", "updated_at"]
    list_select_related = ["organization"]
    search_fields = ["name", "description", "organization__name", "organization__slug"]
    list_filter = ["is_active", ("organization", OrganizationListFilter)]
    autocomplete_fields = ["organization"]
    readonly_fields = ["created_at", "updated_at"]

    def get_fields(self, request: HttpRequest, obj: Assistant | None = None) -> tuple[str, ...]:
        fields = tuple(str(name) for name in super().get_fields(request, obj))
        if obj is None or self.has_change_permission(request, obj):
            return fields
        # A view-only page shows each field as stored: the settings are shown through their masked copies.
        return tuple(f"masked_{name}" if name in SETTINGS_FIELDS else name for name in fields)

    @admin.display(description="LLM settings")
    def masked_llm_settings(self, obj: Assistant) -> str:
        return _masked_json(obj.llm_settings)

    @admin.display(description="TTS settings")
    def masked_tts_settings(self, obj: Assistant) -> str:
        return _masked_json(obj.tts_settings)

    @admin.display(description="STT settings")
    def masked_stt_settings(self, obj: Assistant) -> str:
        return _masked_json(obj.stt_settings)

    @admin.display(description="custom settings")
    def masked_custom_settings(self, obj: Assistant) -> str:
        return _masked_json(obj.custom_settings)


class ConversationFlowForm(OrganizationScopedForm):
    scoped_fields = ("base_assistant",)

    class Meta:
        model = ConversationFlow
        fields = ["organization", "name", "base_assistant", "is_active", "definition"]


@admin.register(ConversationFlow)
class ConversationFlowAdmin(OrganizationScopedAdmin):
    form = ConversationFlowForm
    list_display = ["name", "organization", "base_assistant", "is_active", "updated_at"]
    list_select_related = ["organization", "base_assistant"]
    search_fields = ["name", "base_assistant__name", "organization__name", "organization__slug"]
    list_filter = ["is_active", ("organization", OrganizationListFilter)]
    autocomplete_fields = ["organization"]
    readonly_fields = ["created_at", "updated_at"]


class PhoneNumberForm(OrganizationScopedForm):
    scoped_fields = ("telephony_account", "assistant", "flow")

    class Meta:
        model = PhoneNumber
        fields = [
            "organization",
            "phone_number",
            "friendly_name",
            "telephony_account",
            "assistant",
            "flow",
            "is_active",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        # What the API checks too: not already in the organization, and held by the account at its provider.
        organization = self.instance.organization if self.instance.pk else cleaned.get("organization")
        account = cleaned.get("telephony_account")
        try:
            phone_number = normalize_e164(cleaned.get("phone_number"))
        except InvalidPhoneNumber:
            return cleaned  # the model field says why
        if organization is None or account is None or account.organization_id != organization.pk:
            return cleaned  # PhoneNumber.clean() says why; no provider is asked about another organization's account
        candidate = PhoneNumber(
            pk=self.instance.pk, organization=organization, phone_number=phone_number, telephony_account=account
        )
        registered = (self.instance.phone_number, self.instance.telephony_account_id) if self.instance.pk else None
        try:
            phone_number_registration_check(number=candidate, registered=registered)
        except ServiceError as exc:
            if not exc.errors:
                self.add_error(None, exc.detail)
            for name, messages in (exc.errors or {}).items():
                self.add_error("telephony_account" if name == "telephony_account_id" else "phone_number", messages)
        return cleaned


class _ChosenNumbersField(forms.MultipleChoiceField):
    """Offers the numbers listed when the page was shown; takes any: the import asks the provider again, and refuses
    what it does not list."""

    def valid_value(self, value: str) -> bool:
        return True


class ImportNumbersForm(forms.Form):
    numbers = _ChosenNumbersField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Numbers to import",
        help_text="The numbers your organization has not registered yet.",
    )
    import_all = forms.BooleanField(
        required=False, label="All of them", help_text="Every number the provider lists for the account."
    )
    assistant = forms.ModelChoiceField(queryset=Assistant.objects.none(), required=False, empty_label="None")
    flow = forms.ModelChoiceField(queryset=ConversationFlow.objects.none(), required=False, empty_label="None")

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, model in (("assistant", Assistant), ("flow", ConversationFlow)):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = model.objects.filter(organization=organization).order_by("name")

    def offer(self, available: list[AvailableNumber]) -> None:
        """Show the listed numbers the organization has not registered yet as the choices."""
        numbers = self.fields["numbers"]
        assert isinstance(numbers, forms.MultipleChoiceField)
        numbers.choices = [
            (item.phone_number, f"{item.phone_number} {item.friendly_name}".strip())
            for item in available
            if item.registered is None
        ]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if cleaned.get("assistant") and cleaned.get("flow"):
            self.add_error("flow", "Choose an assistant or a flow, not both.")
        if not cleaned.get("numbers") and not cleaned.get("import_all"):
            self.add_error("numbers", "Choose the numbers to import, or all of them.")
        return cleaned


IMPORT_ERROR_FIELDS = {"phone_numbers": "numbers", "assistant_id": "assistant", "flow_id": "flow"}


@admin.register(PhoneNumber)
class PhoneNumberAdmin(OrganizationScopedAdmin):
    form = PhoneNumberForm
    # Listed with telephony in the admin's menus (burki.admin_site), where people look for numbers.
    admin_section = "telephony"
    # The test call right after the number: the last column is the first cut off on a narrow screen.
    list_display = [
        "phone_number",
        "test_call",
        "friendly_name",
        "organization",
        "telephony_account",
        "assistant",
        "flow",
        "is_active",
    ]
    list_select_related = ["organization", "telephony_account", "assistant", "flow"]
    search_fields = ["phone_number", "friendly_name", "organization__name", "organization__slug"]
    list_filter = ["is_active", "telephony_account__provider", ("organization", OrganizationListFilter)]
    autocomplete_fields = ["organization"]
    readonly_fields = ["created_at", "updated_at"]
    # The number's page offers "Place test call" among its buttons (templates/admin/assistants/phonenumber/).

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        # Without the transaction Django puts around a POST: validating the form asks the number's provider whether
        # the account holds it, and no provider is called inside an open transaction. The number is saved in one
        # statement, its log entry in another. (_changeform_view is the body Django wraps; the stubs leave it out.)
        response: HttpResponse = self._changeform_view(  # type: ignore[attr-defined]
            request, object_id, form_url, extra_context
        )
        return response

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "import/<int:account_id>/",
                self.admin_site.admin_view(self.import_view),
                name="assistants_phonenumber_import",
            )
        ]
        return custom + super().get_urls()

    def import_view(self, request: HttpRequest, account_id: int) -> HttpResponse:
        """Register numbers the account's provider lists for it (the telephony accounts' "Import numbers" action),
        exactly as POST /api/v1/telephony/accounts/{id}/numbers/import does. No transaction around it: the provider
        is asked first, then the numbers are registered in one."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        accounts = TelephonyAccount.objects.select_related("organization")
        # Another organization's account is not found, like an unknown one.
        account = get_object_or_404(administered(request, accounts, lookup="organization"), pk=account_id)
        form = ImportNumbersForm(request.POST or None, organization=account.organization)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                results = phone_numbers_import(
                    account=account,
                    phone_numbers=None if data["import_all"] else data["numbers"],
                    import_all=data["import_all"],
                    assistant_id=data["assistant"].pk if data["assistant"] else None,
                    flow_id=data["flow"].pk if data["flow"] else None,
                )
            except ServiceError as exc:
                _add_import_error(form, exc)
            else:
                counts = {outcome: sum(r.outcome == outcome for r in results) for outcome in ImportOutcome}
                skipped = [f"{r.phone_number} ({r.detail})" for r in results if r.outcome == ImportOutcome.SKIPPED]
                self.message_user(
                    request,
                    f"{_numbers(counts[ImportOutcome.IMPORTED])} imported from {account.name}; "
                    f"{counts[ImportOutcome.ALREADY_REGISTERED]} already registered"
                    + (f"; skipped: {', '.join(skipped)}" if skipped else "")
                    + ".",
                    messages.SUCCESS,
                )
                changelist = reverse("admin:assistants_phonenumber_changelist")
                return HttpResponseRedirect(f"{changelist}?telephony_account__id__exact={account.pk}")

        available: list[AvailableNumber] = []
        listing_error = ""
        try:
            available = phone_numbers_available(account=account)
        except ServiceError as exc:
            listing_error = exc.detail
        form.offer(available)
        context = {
            **self.admin_site.each_context(request),
            "title": "Import numbers from the provider",
            "subtitle": str(account),
            "opts": self.opts,
            "account": account,
            "account_url": reverse("admin:telephony_telephonyaccount_change", args=[account.pk]),
            "available": available,
            "registered": [item for item in available if item.registered is not None],
            "listing_error": listing_error,
            "form": form,
        }
        return TemplateResponse(request, "admin/assistants/phonenumber/import.html", context)

    @admin.display(description="test")
    def test_call(self, obj: PhoneNumber) -> str:
        if obj.pk is None:
            return "—"
        return format_html(
            '<a href="{}" title="Place a test call from {}" style="white-space: nowrap">Call</a>',
            reverse(PLACE_TEST_CALL_URL, args=[obj.pk]),
            obj.phone_number,
        )


def _add_import_error(form: ImportNumbersForm, exc: ServiceError) -> None:
    form.add_error(None, exc.detail)
    for name, problems in (exc.errors or {}).items():
        field = IMPORT_ERROR_FIELDS.get(name)
        listed = problems.values() if isinstance(problems, dict) else [problems]
        for group in listed:
            for problem in group if isinstance(group, list) else [group]:
                form.add_error(field, str(problem) if field else f"{name}: {problem}")


def _numbers(count: int) -> str:
    return f"{count} number{'' if count == 1 else 's'}"
