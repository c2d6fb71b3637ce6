"""OpenAPI: the bearer security schemes, and the error envelope documented on every operation."""

from __future__ import annotations

from typing import Any, Literal

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework_simplejwt.views import TokenViewBase

from burki.permissions import required_role

# Built inline: a serializer class cannot declare a field named `errors` (DRF's own attribute).
ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "detail": serializers.CharField(help_text="Human-readable reason."),
        "errors": serializers.DictField(
            child=serializers.JSONField(), required=False, help_text="Per-field messages, for invalid input."
        ),
    },
)


def page_of(item: type[serializers.Serializer[Any]], name: str) -> serializers.Serializer[Any]:
    """The documented shape of a Burki list: {"items", "total", "skip", "limit", "next_cursor",
    "total_is_estimate"} (burki.pagination)."""
    return inline_serializer(
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


class BurkiAutoSchema(AutoSchema):
    """Adds the error responses every operation can give, so clients see the envelope everywhere, and the role
    each operation needs (burki.permissions)."""

    def get_description(self) -> str:  # type: ignore[override]  # drf-spectacular's signature, not DRF's
        description: str = super().get_description()
        resource = getattr(self.view, "resource", None)
        if resource is None:
            return description
        note = f"Requires the **{required_role(resource, self.method)}** role or above (see Roles)."
        return f"{description}\n\n{note}" if description else note

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
