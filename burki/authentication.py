"""`Authorization: Bearer <token>`: an organization API key (`burki_…`) or a simplejwt access token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from burki.models import API_KEY_PREFIX, ApiKey, Membership, Organization, api_key_hash
from burki.permissions import lower_role
from burki.tokens import password_claim_matches

# last_used_at is for humans ("is this key still in use?"): minute precision saves a write per request.
LAST_USED_PRECISION = timedelta(seconds=60)
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """The `request.user` of a request made with an API key: the key's organization acts, not a person."""

    api_key: ApiKey
    # The key's own role, lowered to its creator's current one for a key bound to a member.
    role: str

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    pk = None

    @property
    def organization(self) -> Organization:
        return self.api_key.organization

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}…"


class BearerAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2 or len(parts[1]) > MAX_TOKEN_LENGTH:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: expected 'Bearer <token>'.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if token.startswith(API_KEY_PREFIX):
            return self._api_key(token)
        return self._jwt(token)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'

    def _api_key(self, token: str) -> tuple[ApiKeyPrincipal, ApiKey]:
        # hashed_key is unique: no ORDER BY (.first() would sort by the model's ordering on every request).
        # The creator's membership comes in the same statement: a bound key is checked against it on every use.
        creator_role = Membership.objects.filter(
            user_id=OuterRef("created_by_id"), organization_id=OuterRef("organization_id"), user__is_active=True
        ).values("role")[:1]
        keys = list(
            ApiKey.objects.select_related("organization")
            .annotate(creator_role=Subquery(creator_role))
            .filter(hashed_key=api_key_hash(token), revoked_at__isnull=True)
            .order_by()[:1]
        )
        if not keys:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        key = keys[0]
        role = key.role
        if key.bound_to_creator:
            if key.creator_role is None:
                raise exceptions.AuthenticationFailed(
                    "This API key's creator is no longer an active member of its organization."
                )
            role = lower_role(role, key.creator_role)
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return ApiKeyPrincipal(key, role), key

    def _jwt(self, token: str) -> tuple[AbstractBaseUser, Any]:
        jwt = JWTAuthentication()
        try:
            validated = jwt.get_validated_token(token.encode())
            user = jwt.get_user(validated)
        except (InvalidToken, TokenError, exceptions.AuthenticationFailed):
            raise exceptions.AuthenticationFailed("Invalid or expired token.") from None
        if not password_claim_matches(validated, user):
            # Issued before the user's password last changed: that ended the session it belonged to.
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        return user, validated
