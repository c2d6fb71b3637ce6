"""OpenAPI: tags by resource, the bearer security schemes, examples, and the error envelope on every operation."""

from __future__ import annotations

import inspect
from typing import Any, Literal

from drf_spectacular.drainage import get_override, set_override
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import get_doc
from drf_spectacular.utils import OpenApiExample, inline_serializer
from rest_framework import serializers
from rest_framework_simplejwt.views import TokenViewBase

from burki.errors import LIMITS
from burki.models import Membership
from burki.permissions import required_role

# One tag per resource of burki.permissions, named for people. A view whose resource is not here (one added later)
# gets its resource's name as its tag; a view with no resource (logging in, the voice engine's) names its own
# `openapi_tag`.
RESOURCE_TAGS = {
    "calls": "Calls",
    "assistants": "Assistants",
    "flows": "Conversation flows",
    "campaigns": "Campaigns",
    "phone_numbers": "Phone numbers",
    "phone_number_import": "Phone numbers",
    "telephony_accounts": "Telephony accounts",
    "api_keys": "API keys",
    "organization": "Organization",
    "webhooks": "Webhooks",
    "events": "Events",
    "suppressions": "Suppressions",
}
AUTHENTICATION_TAG = "Authentication"
VOICE_ENGINE_TAG = "Voice engine"
TAG_DESCRIPTIONS = {
    "Calls": "Place, check, list, export, read, hang up and cancel outbound calls; a call's provider events.",
    "Assistants": "Who speaks on a call: greeting, maximum length, and the voice engine's settings.",
    "Conversation flows": "Scripted conversations on top of a base assistant.",
    "Campaigns": "Batches of outbound calls: contacts, each callee's calling hours, retries, progress, results.",
    "Phone numbers": "The organization's numbers, each on a telephony account, answered by an assistant or a flow.",
    "Telephony accounts": "Provider accounts (Twilio, Telnyx, Vonage, sandbox); credentials are write-only.",
    "API keys": "Keys for machines, each with a role; the raw key is shown once.",
    "Organization": "Your organization: its limits, destination policy and call retention.",
    "Webhooks": "Endpoints of yours that receive call events, signed; their delivery log.",
    "Events": "Call events as your endpoints receive them.",
    "Suppressions": "The do-not-call list: numbers your organization never calls, checked at every dial.",
    AUTHENTICATION_TAG: "JWTs for people: log in, refresh, log out, change your password.",
    VOICE_ENGINE_TAG: "For the voice engine serving a call, with the call's stream token.",
}


def resource_tag(resource: str) -> str:
    return RESOURCE_TAGS.get(resource) or resource.replace("_", " ").capitalize()


def tag_descriptions(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """A postprocessing hook: the tags in use, in the order of TAG_DESCRIPTIONS (others after), each described."""
    used = {tag for operations in result.get("paths", {}).values() for op in operations.values() for tag in op["tags"]}
    order = [tag for tag in TAG_DESCRIPTIONS if tag in used] + sorted(used - set(TAG_DESCRIPTIONS))
    result["tags"] = [
        {"name": tag, **({"description": TAG_DESCRIPTIONS[tag]} if tag in TAG_DESCRIPTIONS else {})} for tag in order
    ]
    return result


# Built inline: a serializer class cannot declare a field named `errors` (DRF's own attribute).
ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "detail": serializers.CharField(help_text="Human-readable reason."),
        "errors": serializers.DictField(
            child=serializers.JSONField(),
            required=False,
            help_text="Per-field messages, for invalid input: the field's name (dotted into objects), or "
            "`non_field_errors`, to a list of messages.",
        ),
        "limit": serializers.ChoiceField(
            choices=list(LIMITS.items()),
            required=False,
            help_text=("Which limit or rule refused the request: on a 429, a limit of calls; on a 403, `suppressed`."),
        ),
        "required_role": serializers.ChoiceField(
            choices=Membership.Role.values,
            required=False,
            help_text="On a 403 for want of a role: the role the operation needs.",
        ),
        "missing_variables": serializers.ListField(
            child=serializers.CharField(),
            required=False,
            help_text="On a 400 from initiate or validate: every template variable that has no value.",
        ),
        "call_id": serializers.IntegerField(
            required=False,
            help_text="When a call was recorded (a provider's refusal, time-out or rate limit), or "
            "on a 409 from cancel: the call.",
        ),
        "status": serializers.CharField(
            required=False, help_text="With `call_id`: the call's status now; with `campaign_id`: the campaign's."
        ),
        "campaign_id": serializers.IntegerField(
            required=False, help_text="On a 409 from a campaign's action: the campaign (`status` is its status)."
        ),
        "refused_count": serializers.IntegerField(
            required=False,
            help_text="On a 400 from a contacts import or a bulk add of suppressions: how many rows are refused.",
        ),
        "refused": serializers.ListField(
            child=serializers.DictField(),
            required=False,
            help_text="On a 400 from a contacts import or a bulk add of suppressions: each refused row, with its "
            "`line` (the CSV line, the header being line 1, or the item's position from 1), `phone_number` (as "
            "given) and `reason`; nothing was added. A bulk add of suppressions lists the first 1,000.",
        ),
        "provider": serializers.CharField(required=False, help_text="With a provider's error: the provider."),
        "provider_code": serializers.CharField(
            required=False, allow_null=True, help_text="With a provider's error: its own error code, if it gave one."
        ),
    },
)


def page_of(item: type[serializers.Serializer[Any]], name: str) -> serializers.Serializer[Any]:
    """The documented shape of a Burki list: {"items", "total", "skip", "limit", "next_cursor",
    "total_is_estimate"} (burki.pagination), with a one-item example when the item serializer has one."""
    page = inline_serializer(
        name=name,
        fields={
            "items": item(many=True),
            "total": serializers.IntegerField(
                help_text="Matching rows: exact up to LIST_EXACT_TOTAL_LIMIT (10,000 by default), an estimate beyond."
            ),
            "skip": serializers.IntegerField(),
            "limit": serializers.IntegerField(),
            "next_cursor": serializers.CharField(
                allow_null=True, help_text="Pass as `cursor` for the next page; null on the last page."
            ),
            "total_is_estimate": serializers.BooleanField(
                help_text="True when `total` is the database's estimate (more than LIST_EXACT_TOTAL_LIMIT rows)."
            ),
        },
    )
    examples = [example for example in get_override(item, "examples", []) if not example.request_only]
    if examples:
        value = {
            "items": [examples[0].value],
            "total": 1,
            "skip": 0,
            "limit": 50,
            "next_cursor": None,
            "total_is_estimate": False,
        }
        set_override(type(page), "examples", [OpenApiExample("A page of one", value=value, response_only=True)])
    return page


class BurkiAutoSchema(AutoSchema):
    """Adds the error responses every operation can give, so clients see the envelope everywhere, and the role
    each operation needs (burki.permissions)."""

    def get_tags(self) -> list[str]:
        resource = getattr(self.view, "resource", None)
        if resource is not None:
            return [resource_tag(resource)]
        tag = getattr(self.view, "openapi_tag", None)
        return [tag] if tag else super().get_tags()

    def get_description(self) -> str:  # type: ignore[override]  # drf-spectacular's signature, not DRF's
        # The method's docstring or the view's own, never one inherited: OrganizationAPIView's is for developers.
        method_doc = get_doc(getattr(self.view, self.method.lower(), None))
        own = type(self.view).__dict__.get("__doc__")
        return method_doc or (inspect.cleandoc(own) if own else "")

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        resource = getattr(self.view, "resource", None)
        if operation is None or resource is None:
            return operation
        # Here rather than in get_description, which an operation's own description (extend_schema) replaces.
        note = f"Requires the **{required_role(resource, self.method)}** role or above (see Roles)."
        description = operation.get("description", "")
        operation["description"] = f"{description}\n\n{note}" if description else note
        return operation

    def _get_response_bodies(self, direction: Literal["request", "response"] = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        codes = ["400", "401", "403", "404"] if self.get_auth() else ["400", "404"]
        if isinstance(self.view, TokenViewBase):
            codes.append("401")  # needs no credentials to call, but refuses bad ones (or a bad refresh token)
        if getattr(self.view, "login_throttled", False):
            codes.append("429")  # too many failed logins (burki.throttling), with Retry-After
        if self.method in ("POST", "PUT", "PATCH"):
            codes.append("413")  # burki.middleware.RequestBodyLimitMiddleware
        codes.append("503")  # the database cannot be reached (with Retry-After)
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
        return responses


class ExemplifiedFieldExtension(OpenApiSerializerFieldExtension):
    """A field's own example and pattern (burki.serializers.Exemplified), beside what drf-spectacular documents."""

    target_class = "burki.serializers.Exemplified"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Literal["request", "response"]) -> Any:
        schema: dict[str, Any] = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if self.target.example is not None:
            schema["example"] = self.target.example
        if self.target.pattern is not None:
            schema["pattern"] = self.target.pattern
        return schema


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "burki.authentication.BearerAuthentication"
    name = "BearerAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An organization API key (burki_…) or a JWT access token from /api/v1/auth/token.",
        }


class StreamTokenScheme(OpenApiAuthenticationExtension):
    target_class = "calls.views.StreamTokenAuthentication"
    name = "StreamToken"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The call's stream token, handed to the voice engine with the media stream.",
        }
