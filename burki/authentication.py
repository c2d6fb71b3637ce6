"""`Authorization: Bearer <token>`: an organization API key (`burki_…`) or a simplejwt access token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from burki.config import cache_entry, cache_get, config_cache_enabled, config_version_read
from burki.models import API_KEY_PREFIX, ApiKey, ConfigVersion, Membership, Organization, api_key_hash
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
    # The organization's configuration version read with the key (burki.config); None where nothing is cached.
    config_version: int | None = None

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


def _cached_api_key(cache_key: str) -> ApiKeyPrincipal | None:
    """The key from the cache, if its organization's configuration has not changed since it was read."""
    entry = cache_get(cache_key)
    if entry is None:
        return None
    version, (key, role) = entry
    current = config_version_read(key.organization_id)
    if current != version:
        return None
    return ApiKeyPrincipal(key, role, config_version=current)


def _api_key_read(hashed: str) -> ApiKeyPrincipal:
    """The active key with this hash, its organization and its role, from the database (AuthenticationFailed when
    none, or when its creator is no longer a member), with its organization's configuration version read in the same
    statement where the cache is on (burki.config)."""
    # hashed_key is unique: no ORDER BY (.first() would sort by the model's ordering on every request).
    # The creator's membership comes in the same statement: a bound key is checked against it on every use.
    creator_role = Membership.objects.filter(
        user_id=OuterRef("created_by_id"), organization_id=OuterRef("organization_id"), user__is_active=True
    ).values("role")[:1]
    keys = ApiKey.objects.select_related("organization").annotate(creator_role=Subquery(creator_role))
    if config_cache_enabled():
        version = ConfigVersion.objects.filter(organization_id=OuterRef("organization_id")).values("version")[:1]
        keys = keys.annotate(config_version=Coalesce(Subquery(version), Value(0)))
    found = list(keys.filter(hashed_key=hashed, revoked_at__isnull=True).order_by()[:1])
    if not found:
        raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
    key = found[0]
    role = key.role
    if key.bound_to_creator:
        if key.creator_role is None:
            raise exceptions.AuthenticationFailed(
                "This API key's creator is no longer an active member of its organization."
            )
        role = lower_role(role, key.creator_role)
    return ApiKeyPrincipal(key, role, config_version=getattr(key, "config_version", None))


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
        hashed = api_key_hash(token)
        cache_key = f"api-key:{hashed}"
        found = _cached_api_key(cache_key) if config_cache_enabled() else None
        if found is None:
            found = _api_key_read(hashed)
            if found.config_version is not None:
                cache_entry(cache_key, (found.api_key, found.role), version=found.config_version)
        key = found.api_key
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
            if found.config_version is not None:
                # last_used_at changes no configuration version (the trigger ignores it): the entry is kept up to date.
                cache_entry(cache_key, (key, found.role), version=found.config_version)
        return found, key

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
