from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from burki.models import ApiKey, Membership, Organization
from burki.services import api_key_create, api_key_revoke


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    list_filter = ["created_at"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["calls_redacted_before", "created_at", "updated_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_select_related = ["user", "organization"]
    search_fields = ["user__username", "user__email", "organization__name", "organization__slug"]
    list_filter = ["role", "organization"]
    autocomplete_fields = ["user", "organization"]
    readonly_fields = ["created_at"]


class ApiKeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class ApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["organization", "name"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created by the service (which alone sees the raw key) and afterwards only revoked.

    The hash is never shown: nobody needs it, and the prefix is enough to tell keys apart.
    """

    list_display = ["name", "organization", "shown_prefix", "active", "created_at", "last_used_at", "revoked_at"]
    list_select_related = ["organization"]
    search_fields = ["name", "prefix", "organization__name", "organization__slug"]
    list_filter = [ApiKeyStatusFilter, "organization"]
    autocomplete_fields = ["organization"]
    actions = ["revoke_selected_keys"]
    view_fields = ("organization", "name", "shown_prefix", "created_by", "created_at", "last_used_at", "revoked_at")

    @admin.display(description="prefix")
    def shown_prefix(self, obj: ApiKey) -> str:
        return f"{obj.prefix}…"

    @admin.display(boolean=True, description="active")
    def active(self, obj: ApiKey) -> bool:
        return obj.is_active

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        return ("organization", "name") if obj is None else self.view_fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        return () if obj is None else self.view_fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        # Model-level change permission is what the revoke action needs; a single key is never edited.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        # Revoked, never deleted: a key's record (who made it, when it was last used) outlives it.
        return False

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        user = request.user if isinstance(request.user, User) else None
        key, raw = api_key_create(organization=obj.organization, name=obj.name, created_by=user)
        # The admin goes on with `obj` (log entry, redirect): make it the key the service created.
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding = False
        obj._state.db = key._state.db
        messages.warning(
            request,
            format_html(
                "The new API key is <code>{}</code>. Copy it now: it is shown only this once and cannot be recovered.",
                raw,
            ),
        )

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = 0
        for key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=key)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} key{'s' if revoked != 1 else ''}.", messages.SUCCESS)
