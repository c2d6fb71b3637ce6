"""Logging in and out with JWTs, and changing your own password."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.views import TokenViewBase

from burki.errors import Forbidden
from burki.schema import AUTHENTICATION_TAG
from burki.serializers import StrictCharField
from burki.services import user_password_change
from burki.throttling import client_address
from burki.tokens import RefreshToken, token_user

# Shortened: real tokens are a few hundred characters.
REFRESH = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.3q2-7wJq"
ACCESS = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIn0.Zb1-Qm4c"


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Log in", value={"username": "ann", "password": "correct horse battery staple"}, request_only=True
        )
    ]
)
class TokenObtainInput(TokenObtainPairSerializer):
    """`username` and `password`; simplejwt's check (Django's `authenticate()`), issuing our tokens."""

    token_class = RefreshToken


@extend_schema_serializer(examples=[OpenApiExample("Refresh", value={"refresh": REFRESH}, request_only=True)])
class TokenRefreshInput(serializers.Serializer[Any]):
    refresh = serializers.CharField(write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        refresh = RefreshToken(attrs["refresh"])  # signature, expiry, type, and not revoked
        user = token_user(refresh)
        # A refresh token is good for one refresh: of two requests racing with the same one, only one wins.
        if not refresh.revoke():
            raise TokenError("Token is blacklisted")
        access = str(refresh.access_token)
        refresh.set_jti()
        refresh.set_exp()
        refresh.set_iat()
        refresh.outstand(user=user)
        return {"refresh": str(refresh), "access": access}


@extend_schema_serializer(examples=[OpenApiExample("Log out", value={"refresh": REFRESH}, request_only=True)])
class LogoutInput(serializers.Serializer[Any]):
    refresh = serializers.CharField(write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        RefreshToken(attrs["refresh"]).blacklist()
        return {}


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A new password",
            value={"current_password": "correct horse battery staple", "new_password": "tr0mbone-lagoon-quietly"},
            request_only=True,
        )
    ]
)
class PasswordChangeInput(serializers.Serializer[Any]):
    current_password = StrictCharField(max_length=4096, trim_whitespace=False, write_only=True)
    new_password = StrictCharField(max_length=4096, trim_whitespace=False, write_only=True)


@extend_schema_serializer(
    examples=[OpenApiExample("A token pair", value={"refresh": REFRESH, "access": ACCESS}, response_only=True)]
)
class TokenPairOutput(serializers.Serializer[Any]):
    refresh = serializers.CharField(help_text="Trade it for a new pair at /api/v1/auth/token/refresh (once).")
    access = serializers.CharField(help_text="Send it as `Authorization: Bearer <access>`.")


class TokenObtainApi(TokenViewBase):
    openapi_tag = AUTHENTICATION_TAG
    serializer_class = TokenObtainInput
    # Failed password checks are counted per client address and per username (burki.throttling).
    login_throttled = True

    @extend_schema(
        operation_id="auth_token_obtain",
        summary="Log in: a refresh and an access token for a username and password",
        request=TokenObtainInput,
        responses={200: TokenPairOutput},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class TokenRefreshApi(TokenViewBase):
    openapi_tag = AUTHENTICATION_TAG
    serializer_class = TokenRefreshInput

    @extend_schema(
        operation_id="auth_token_refresh",
        summary="A new token pair for a refresh token, which is then revoked",
        request=TokenRefreshInput,
        responses={200: TokenPairOutput},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class LogoutApi(TokenViewBase):
    """Needs no access token: the refresh token is proof enough, so a client whose access token has expired can
    still log out."""

    openapi_tag = AUTHENTICATION_TAG
    serializer_class = LogoutInput

    @extend_schema(
        operation_id="auth_logout",
        summary="Log out: revoke a refresh token",
        request=LogoutInput,
        responses={204: None},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        super().post(request, *args, **kwargs)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeApi(APIView):
    openapi_tag = AUTHENTICATION_TAG
    login_throttled = True

    @extend_schema(
        operation_id="auth_password_change",
        summary="Change your own password: every earlier token of yours stops working; here is a new pair",
        request=PasswordChangeInput,
        responses={200: TokenPairOutput},
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.user, User):
            raise Forbidden("Only a user logged in with a password can change it, not an API key.")
        data = PasswordChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        tokens = user_password_change(
            user=request.user,
            current_password=data.validated_data["current_password"],
            new_password=data.validated_data["new_password"],
            client=client_address(request),
        )
        return Response(tokens)
