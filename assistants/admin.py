from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.forms.fields import InvalidJSONInput
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from assistants.models import Assistant, ConversationFlow, PhoneNumber
from burki.text import unstorable_paths

# Served by the Call admin: the calls app owns placing calls, and nothing outside it may import it.
PLACE_TEST_CALL_URL = "admin:calls_call_place_test_call"


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


class OrganizationScopedAdmin(admin.ModelAdmin):
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


@admin.register(Assistant)
class AssistantAdmin(OrganizationScopedAdmin):
    list_display = ["name", "organization", "is_active", "max_call_length", "updated_at"]
    list_select_related = ["organization"]
    search_fields = ["name", "description", "organization__name", "organization__slug"]
    list_filter = ["is_active", "organization"]
    autocomplete_fields = ["organization"]
    readonly_fields = ["created_at", "updated_at"]


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
    list_filter = ["is_active", "organization"]
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


@admin.register(PhoneNumber)
class PhoneNumberAdmin(OrganizationScopedAdmin):
    form = PhoneNumberForm
    list_display = [
        "phone_number",
        "friendly_name",
        "organization",
        "telephony_account",
        "assistant",
        "flow",
        "is_active",
        "test_call",
    ]
    list_select_related = ["organization", "telephony_account", "assistant", "flow"]
    search_fields = ["phone_number", "friendly_name", "organization__name", "organization__slug"]
    list_filter = ["is_active", "telephony_account__provider", "organization"]
    autocomplete_fields = ["organization"]
    readonly_fields = ["test_call", "created_at", "updated_at"]

    @admin.display(description="test call")
    def test_call(self, obj: PhoneNumber) -> str:
        if obj.pk is None:
            return "—"
        return format_html('<a href="{}">Place test call</a>', reverse(PLACE_TEST_CALL_URL, args=[obj.pk]))

    def get_fields(self, request: HttpRequest, obj: PhoneNumber | None = None) -> tuple[str, ...]:
        fields = tuple(str(name) for name in super().get_fields(request, obj))
        return fields if obj is not None else tuple(name for name in fields if name != "test_call")
