"""The admin keeps organizations apart.

A superuser (the operator) sees everything. Any other staff user manages only the organizations where they are
owner or admin: to them every other organization's objects do not exist (a 404), in lists, pages, choices,
autocompletes, filters and actions alike. Django's model permissions still decide what they may do at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django import forms
from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from burki.models import Membership, Organization
from burki.selectors import organizations_administered

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise

# Cached on the request: the pages ask many times (each permission, each choice), the answer is one query.
CACHE_ATTRIBUTE = "burki_organizations_administered"

M = TypeVar("M", bound=models.Model)


def administered_roles(request: HttpRequest) -> dict[int, str] | None:
    """{organization id: role} of what the request's user administers; None for a superuser, who has them all."""
    user = request.user
    if user.is_superuser:
        return None
    roles: dict[int, str] | None = getattr(request, CACHE_ATTRIBUTE, None)
    if roles is None:
        roles = organizations_administered(user_id=user.pk) if user.is_authenticated else {}
        setattr(request, CACHE_ATTRIBUTE, roles)
    return roles


def administers(request: HttpRequest, organization_id: int | None) -> bool:
    roles = administered_roles(request)
    return roles is None or organization_id in roles


def owns(request: HttpRequest, organization_id: int | None) -> bool:
    roles = administered_roles(request)
    return roles is None or (organization_id is not None and roles.get(organization_id) == Membership.Role.OWNER)


def administered(request: HttpRequest, queryset: QuerySet[M], *, lookup: str) -> QuerySet[M]:
    """`queryset` narrowed to the administered organizations; `lookup` leads from its model to the organization."""
    roles = administered_roles(request)
    if roles is None:
        return queryset
    return queryset.filter(**{f"{lookup}__in": list(roles)})


class OrganizationListFilter(admin.RelatedFieldListFilter):
    """Django's own filter lists every organization by name: this one lists those the user administers."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list[tuple[str, _StrOrPromise]]:
        roles = administered_roles(request)
        if roles is None:
            return super().field_choices(field, request, model_admin)
        ordering = self.field_admin_ordering(field, request, model_admin)
        choices: list[tuple[str, _StrOrPromise]] = field.get_choices(
            include_blank=False, limit_choices_to={"pk__in": list(roles)}, ordering=ordering
        )
        return choices


class TenantScopedAdmin(admin.ModelAdmin):
    """Base of every model admin of ours: objects, choices and permissions within the administered organizations."""

    # The lookup from this model to its organization ("pk" when the objects are organizations).
    organization_lookup = "organization"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return administered(request, super().get_queryset(request), lookup=self.organization_lookup)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            # Another organization's object and an unknown id get the same answer: neither exists here.
            raise Http404
        return obj

    def organization_id_of(self, obj: models.Model) -> int | None:
        *hops, last = self.organization_lookup.split("__")
        value: Any = obj
        for hop in hops:
            value = getattr(value, hop)
        return value.pk if last == "pk" else getattr(value, f"{last}_id")

    def administers_object(self, request: HttpRequest, obj: models.Model | None) -> bool:
        return obj is None or administers(request, self.organization_id_of(obj))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and administered_roles(request) != {}

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and self.administers_object(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self.administers_object(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self.administers_object(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        return self._administered_choices(request, super().formfield_for_foreignkey(db_field, request, **kwargs))

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        return self._administered_choices(request, super().formfield_for_manytomany(db_field, request, **kwargs))

    def _administered_choices(self, request: HttpRequest, formfield: Any) -> Any:
        # The choices are also what the submitted value is validated against: a forged id is "not a valid choice".
        if isinstance(formfield, forms.ModelChoiceField) and formfield.queryset is not None:
            lookup = self._organization_lookup_of(formfield.queryset.model)
            if lookup is not None:
                formfield.queryset = administered(request, formfield.queryset, lookup=lookup)
        return formfield

    def _organization_lookup_of(self, model: type[models.Model]) -> str | None:
        try:
            related = self.admin_site.get_model_admin(model)
        except NotRegistered:
            related = None
        if isinstance(related, TenantScopedAdmin):
            return related.organization_lookup
        if model is Organization:
            return "pk"
        if any(field.name == "organization" for field in model._meta.get_fields()):
            return "organization"
        return None  # not an organization's (users)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        self.ensure_administered(request, obj)
        super().save_model(request, obj, form, change)

    def ensure_administered(self, request: HttpRequest, obj: models.Model) -> None:
        """The last word before a save: the form's choices already refuse another organization."""
        if not self.administers_object(request, obj):
            raise PermissionDenied
