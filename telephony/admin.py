from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from burki.admin_scoping import OrganizationListFilter, TenantScopedAdmin
from telephony.credentials import CREDENTIAL_FIELDS, OPTIONAL_CREDENTIAL_FIELDS
from telephony.models import TelephonyAccount

# Served by the phone number admin: the assistants app registers numbers, and nothing here may import it.
IMPORT_NUMBERS_URL = "admin:assistants_phonenumber_import"

CREDENTIALS_HELP = (
    "A JSON object. Leave blank to keep the current credentials; they are never shown again. Keys: "
    + "; ".join(
        f"{provider}: {', '.join(keys) or 'none'}"
        + (
            f" (optional: {', '.join(OPTIONAL_CREDENTIAL_FIELDS[provider])})"
            if provider in OPTIONAL_CREDENTIAL_FIELDS
            else ""
        )
        for provider, keys in CREDENTIAL_FIELDS.items()
    )
    + "."
)


class WriteOnlyTextarea(forms.Textarea):
    """Never renders a value, neither the stored one nor one just typed (like PasswordInput(render_value=False))."""

    def format_value(self, value: Any) -> str | None:
        return None


class TelephonyAccountForm(forms.ModelForm):
    # Named like the model field so that the model's own validation (credentials_errors against the provider,
    # in TelephonyAccount.clean) lands on this input.
    credentials = forms.JSONField(
        required=False, widget=WriteOnlyTextarea(attrs={"rows": 4}), help_text=CREDENTIALS_HELP
    )

    class Meta:
        model = TelephonyAccount
        fields = ["organization", "provider", "name", "is_active", "credentials"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.pop("credentials", None)

    def clean_credentials(self) -> Any:
        value = self.cleaned_data.get("credentials")
        if value is None or value == "":
            return self.instance.credentials
        return value


@admin.register(TelephonyAccount)
class TelephonyAccountAdmin(TenantScopedAdmin):
    form = TelephonyAccountForm
    list_display = ["name", "organization", "provider", "is_active", "credentials_hint", "created_at"]
    list_select_related = ["organization"]
    search_fields = ["name", "organization__name", "organization__slug"]
    list_filter = ["provider", "is_active", ("organization", OrganizationListFilter)]
    autocomplete_fields = ["organization"]
    actions = ["import_numbers"]

    @admin.action(description="Import numbers from the provider", permissions=["import_numbers"])
    def import_numbers(self, request: HttpRequest, queryset: QuerySet[TelephonyAccount]) -> HttpResponse | None:
        accounts = list(queryset[:2])
        if len(accounts) != 1:
            self.message_user(request, "Choose one telephony account to import its numbers.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse(IMPORT_NUMBERS_URL, args=[accounts[0].pk]))

    def has_import_numbers_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("assistants.add_phonenumber")

    @admin.display(description="numbers")
    def numbers_import(self, obj: TelephonyAccount) -> str:
        return format_html(
            '<a href="{}">Import numbers from the provider</a>', reverse(IMPORT_NUMBERS_URL, args=[obj.pk])
        )

    @admin.display(description="current credentials")
    def credentials_hint(self, obj: TelephonyAccount) -> str:
        return obj.credentials_hint or "—"

    def get_fields(self, request: HttpRequest, obj: TelephonyAccount | None = None) -> tuple[str, ...]:
        settings = tuple(
            field.name
            for field in TelephonyAccount._meta.concrete_fields
            if field.editable and not field.primary_key and field.name != "credentials"
        )
        if obj is None:
            return (*settings, "credentials")
        # A view-only page shows every field's value: the credentials input must not be among them.
        secret = ("credentials",) if self.has_change_permission(request, obj) else ()
        importing = ("numbers_import",) if self.has_import_numbers_permission(request) else ()
        return (*settings, "credentials_hint", *secret, *importing, "created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: TelephonyAccount | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        # An account never moves between organizations: its numbers and calls stay where they are.
        return ("organization", "credentials_hint", "numbers_import", "created_at", "updated_at")
