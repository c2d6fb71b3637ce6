from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from rest_framework_simplejwt.token_blacklist import admin as token_blacklist_admin
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from burki.admin_scoping import OrganizationListFilter, TenantScopedAdmin, administered_roles, owns
from burki.errors import ServiceError
from burki.models import ApiKey, Membership, Organization
from burki.permissions import role_at_least
from burki.services import api_key_create, api_key_revoke, concurrency_limit_error

# The operator's: an organization's own admins do not rename the slug scripts know it by. Its settings they change
# as the API lets them (PATCH /api/v1/organization): its limit up to the platform's maximum, its destination policy.
OPERATOR_FIELDS = ("slug",)


class MembershipInline(admin.TabularInline):
    """Editable by superusers only: everyone else manages members in the Membership admin, one checked at a time."""

    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)


class OrganizationForm(forms.ModelForm):
    # Set per request by OrganizationAdmin.get_form: a superuser sets any limit, an organization's admin up to the
    # platform's maximum (burki.services.concurrency_limit_error, as the API).
    by_operator = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("max_concurrent_calls")
        if field is not None and not self.by_operator:
            field.help_text = (
                f"Live calls at once, at most {settings.BURKI_MAX_CONCURRENT_CALLS_LIMIT} (the platform's maximum). "
                f"Empty: the server default ({settings.BURKI_MAX_CONCURRENT_CALLS})."
            )

    def clean_max_concurrent_calls(self) -> int | None:
        value: int | None = self.cleaned_data.get("max_concurrent_calls")
        if not self.by_operator:
            problem = concurrency_limit_error(current=self.instance.max_concurrent_calls, requested=value)
            if problem:
                raise forms.ValidationError(problem)
        return value


@admin.register(Organization)
class OrganizationAdmin(TenantScopedAdmin):
    form = OrganizationForm
    organization_lookup = "pk"
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    list_filter = ["created_at"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["calls_redacted_before", "created_at", "updated_at"]
    inlines = [MembershipInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Organizations are the operator's to create and delete; their admins run them.
        return request.user.is_superuser and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Organization | None = None) -> list[str]:
        readonly = [str(name) for name in super().get_readonly_fields(request, obj)]
        return readonly if request.user.is_superuser else [*OPERATOR_FIELDS, *readonly]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"by_operator": request.user.is_superuser})

    def get_prepopulated_fields(self, request: HttpRequest, obj: Organization | None = None) -> dict[str, Any]:
        # The slug is filled in from the name only where it can be edited.
        return dict(super().get_prepopulated_fields(request, obj)) if request.user.is_superuser else {}


class MembershipForm(forms.ModelForm):
    # Set per request by MembershipAdmin.get_form: where this user may name owners (None: everywhere).
    owned_organization_ids: frozenset[int] | None = None

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        organization = cleaned.get("organization")
        organization_id = organization.pk if organization is not None else self.instance.organization_id
        was_owner = self.instance.pk is not None and self.instance.role == Membership.Role.OWNER
        is_owner = cleaned.get("role") == Membership.Role.OWNER
        owners = self.owned_organization_ids
        if (was_owner or is_owner) and owners is not None and organization_id not in owners:
            self.add_error("role", "Only an owner of the organization makes or changes its owners.")
        return cleaned


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    form = MembershipForm
    list_display = ["user", "organization", "role", "created_at"]
    list_select_related = ["user", "organization"]
    search_fields = ["user__username", "user__email", "organization__name", "organization__slug"]
    list_filter = ["role", ("organization", OrganizationListFilter)]
    autocomplete_fields = ["user", "organization"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str]:
        readonly = [str(name) for name in super().get_readonly_fields(request, obj)]
        # A membership never moves to another organization: that would be a new one, checked as such.
        return readonly if obj is None else ["organization", *readonly]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        roles = administered_roles(request)
        owned = None if roles is None else frozenset(pk for pk, role in roles.items() if role == Membership.Role.OWNER)
        return type(form.__name__, (form,), {"owned_organization_ids": owned})

    def has_change_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_touch(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_touch(request, obj)

    def _may_touch(self, request: HttpRequest, obj: Membership | None) -> bool:
        # An admin may not demote or remove an owner (and then take the organization over).
        return obj is None or obj.role != Membership.Role.OWNER or owns(request, obj.organization_id)


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
    # {organization id: role} of the staff user adding the key; None for a superuser (set per request by the admin).
    creator_roles: dict[int, str] | None = None

    class Meta:
        model = ApiKey
        fields = ["organization", "name", "role"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].required = False  # left out: the model's default (admin), as in the API

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        cleaned["role"] = cleaned.get("role") or ApiKey._meta.get_field("role").get_default()
        self.instance.role = cleaned["role"]
        organization, role = cleaned.get("organization"), cleaned["role"]
        if self.creator_roles is not None and organization is not None and role:
            mine = self.creator_roles.get(organization.pk)
            if mine is None or not role_at_least(mine, role):
                self.add_error("role", f"At most your own role in {organization} ({mine or 'none'}).")
        return cleaned


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    """Keys are created by the service (which alone sees the raw key) and afterwards only revoked.

    The hash is never shown: nobody needs it, and the prefix is enough to tell keys apart.
    """

    list_display = [
        "name",
        "organization",
        "role",
        "shown_prefix",
        "active",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_select_related = ["organization"]
    search_fields = ["name", "prefix", "organization__name", "organization__slug"]
    list_filter = [ApiKeyStatusFilter, "role", ("organization", OrganizationListFilter)]
    autocomplete_fields = ["organization"]
    actions = ["revoke_selected_keys"]
    view_fields = (
        "organization",
        "name",
        "role",
        "shown_prefix",
        "created_by",
        "bound_to_creator",
        "created_at",
        "last_used_at",
        "revoked_at",
    )

    @admin.display(description="prefix")
    def shown_prefix(self, obj: ApiKey) -> str:
        return f"{obj.prefix}…"

    @admin.display(boolean=True, description="active")
    def active(self, obj: ApiKey) -> bool:
        return obj.is_active

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        return ("organization", "name", "role") if obj is None else self.view_fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        return () if obj is None else self.view_fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        form = super().get_form(request, obj, change, **kwargs)
        if obj is None:
            form.creator_roles = administered_roles(request)  # type: ignore[attr-defined]  # an ApiKeyAddForm
        return form

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        # Model-level change permission is what the revoke action needs; a single key is never edited.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        # Revoked, never deleted: a key's record (who made it, when it was last used) outlives it.
        return False

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        self.ensure_administered(request, obj)
        user = request.user if isinstance(request.user, User) else None
        # A superuser is the operator: its keys belong to the organization. An organization's admin acts as a member:
        # never above their role, and the key lives only as long as their membership (as through the API).
        roles = administered_roles(request)
        creator_role = None if roles is None else roles.get(obj.organization_id)
        try:
            key, raw = api_key_create(
                organization=obj.organization,
                name=obj.name,
                role=obj.role,
                created_by=user,
                bound_to_creator=roles is not None,
                creator_role=creator_role,
            )
        except ServiceError as exc:  # the form checked the role already: only a forged request gets here
            raise PermissionDenied(exc.detail) from exc
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
        roles = administered_roles(request)
        for key in queryset.filter(revoked_at__isnull=True):
            try:
                api_key_revoke(api_key=key, revoker_role=None if roles is None else roles.get(key.organization_id))
            except ServiceError as exc:
                self.message_user(request, f"{key}: {exc.detail}", messages.ERROR)
                continue
            revoked += 1
        self.message_user(request, f"Revoked {revoked} key{'s' if revoked != 1 else ''}.", messages.SUCCESS)


# simplejwt's admin for its token records, less the token column: Burki leaves it empty (burki.tokens.RefreshToken).
admin.site.unregister(OutstandingToken)


@admin.register(OutstandingToken)
class OutstandingTokenAdmin(token_blacklist_admin.OutstandingTokenAdmin):
    exclude = ["token"]

    def get_readonly_fields(self, *args: Any, **kwargs: Any) -> list[Any]:
        return [field for field in super().get_readonly_fields(*args, **kwargs) if field != "token"]
