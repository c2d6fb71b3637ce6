from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from burki.errors import ServiceError
from webhooks.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from webhooks.registry import event_types
from webhooks.services import (
    delivery_redeliver,
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
    webhook_url_check,
)

ENDPOINT_STATE_FIELDS = ("disabled_reason", "disabled_at", "failing_since", "previous_secret_expires_at")


class ReadOnlyAdminMixin:
    """Events, deliveries and attempts are written by the delivery machinery only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _show_secret(request: HttpRequest, endpoint: WebhookEndpoint, secret: str, what: str) -> None:
    messages.warning(
        request,
        format_html(
            "The {} signing secret of {} is <code>{}</code>. Copy it now: it is shown only this once.",
            what,
            endpoint.url,
            secret,
        ),
    )


class WebhookEndpointForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        choices=(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every type, including types added later.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["organization", "url", "description", "event_types", "enabled"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["event_types"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(name, f"{name}: {description}") for name, description in sorted(event_types().items())]

    def clean_url(self) -> str:
        try:
            return webhook_url_check(self.cleaned_data["url"])
        except ServiceError as exc:
            raise forms.ValidationError((exc.errors or {}).get("url") or exc.detail) from None


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Made and changed through the services; the secret is shown once, when made or rotated, and never again."""

    form = WebhookEndpointForm
    list_display = ["url", "organization", "enabled", "failing_since", "disabled_reason", "created_at"]
    list_select_related = ["organization"]
    search_fields = ["url", "description", "organization__name", "organization__slug"]
    list_filter = ["enabled", "organization"]
    autocomplete_fields = ["organization"]
    actions = ["rotate_secrets"]
    readonly_fields = (*ENDPOINT_STATE_FIELDS, "delivery_log", "created_at", "updated_at")

    def get_fields(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> tuple[str, ...]:
        editable = ("organization", "url", "description", "event_types", "enabled")
        return editable if obj is None else (*editable, *self.readonly_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> tuple[str, ...]:
        # An endpoint stays in its organization: its events and deliveries are that organization's.
        return () if obj is None else ("organization", *self.readonly_fields)

    @admin.display(description="deliveries")
    def delivery_log(self, obj: WebhookEndpoint) -> str:
        url = reverse("admin:webhooks_delivery_changelist") + f"?endpoint__id__exact={obj.pk}"
        return format_html('<a href="{}">Delivery log</a>', url)

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        data = form.cleaned_data
        fields = {name: data[name] for name in ("url", "description", "event_types", "enabled")}
        if change:
            # The form has set the posted values on `obj` already; the service must see what changes (enabling again
            # clears Burki's reason, disabling abandons what waits), so it starts from the stored endpoint.
            endpoint = webhook_endpoint_update(endpoint=WebhookEndpoint.objects.get(pk=obj.pk), **fields)
        else:
            endpoint, secret = webhook_endpoint_create(organization=data["organization"], **fields)
            _show_secret(request, endpoint, secret, "new")
        # The admin goes on with `obj` (log entry, redirect): make it the endpoint the service saved.
        for field in WebhookEndpoint._meta.concrete_fields:
            setattr(obj, field.attname, getattr(endpoint, field.attname))
        obj._state.adding = False
        obj._state.db = endpoint._state.db

    @admin.action(
        description="Rotate the signing secret (the old one keeps signing for 24 hours)", permissions=["change"]
    )
    def rotate_secrets(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            endpoint, secret = webhook_endpoint_rotate_secret(endpoint=endpoint)
            _show_secret(request, endpoint, secret, "new")


class DeliveryAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    fields = readonly_fields = ("started_at", "status_code", "latency_ms", "error", "response_body")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "endpoint",
        "event_type",
        "sequence",
        "state",
        "attempt_count",
        "next_attempt_at",
        "created_at",
    ]
    list_select_related = ["endpoint", "event"]
    search_fields = ["event__uid", "subject", "endpoint__url"]
    list_filter = ["state", "endpoint"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "endpoint",
        "event",
        "subject",
        "sequence",
        "state",
        "attempt_count",
        "next_attempt_at",
        "queued_at",
        "locked_until",
        "created_at",
        "completed_at",
    )
    inlines = [DeliveryAttemptInline]
    actions = ["redeliver"]

    @admin.display(description="event type")
    def event_type(self, obj: Delivery) -> str:
        return obj.event.type

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.change_webhookendpoint")

    @admin.action(description="Redeliver the selected deliveries now", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        done, refused = 0, 0
        for delivery in queryset.select_related("endpoint"):
            try:
                delivery_redeliver(delivery=delivery)
            except ServiceError:
                refused += 1
            else:
                done += 1
        self.message_user(request, f"Redelivering {done} delivery(ies).", messages.SUCCESS)
        if refused:
            self.message_user(
                request, f"{refused} not redelivered: their endpoint is disabled (enable it first).", messages.WARNING
            )


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["uid", "type", "subject", "sequence", "organization", "created_at"]
    list_select_related = ["organization"]
    search_fields = ["uid", "subject"]
    list_filter = ["type", "organization"]
    date_hierarchy = "created_at"
    fields = readonly_fields = ("uid", "organization", "type", "subject", "sequence", "created_at", "data")
