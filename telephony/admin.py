from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from burki.admin_scoping import OrganizationListFilter, TenantScopedAdmin
from telephony.credentials import CREDENTIAL_FIELDS, OPTIONAL_CREDENTIAL_FIELDS
from telephony.models import TelephonyAccount

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
        return (*settings, "credentials_hint", *secret, "created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: TelephonyAccount | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        # An account never moves between organizations: its numbers and calls stay where they are.
        return ("organization", "credentials_hint", "created_at", "updated_at")
