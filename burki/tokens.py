"""JWTs bound to the user's password, and refresh tokens that can be revoked.

Like Django's session auth hash: every token carries a keyed digest of the user's password hash, checked whenever
the token is used (a refresh, or a request with an access token). Changing the password by any route (the API,
the admin, `manage.py changepassword`, `set_password` anywhere) changes the hash (a new salt, even for the same
password), so every token issued before stops working, with no signal and no bookkeeping.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.utils import datetime_from_epoch

FINGERPRINT_CLAIM = "pwd"
_KEY_SALT = "burki.tokens.password_fingerprint"


def password_fingerprint(user: AbstractBaseUser) -> str:
    """Changes whenever the password does; reveals nothing of it (an HMAC keyed with SECRET_KEY)."""
    return salted_hmac(_KEY_SALT, user.password, algorithm="sha256").hexdigest()[:32]


def password_claim_matches(token: tokens.Token, user: AbstractBaseUser) -> bool:
    claim = token.get(FINGERPRINT_CLAIM)
    return isinstance(claim, str) and constant_time_compare(claim, password_fingerprint(user))


def token_user(token: tokens.Token) -> AbstractBaseUser:
    """The active user the token was issued to, if their password is still the one it was issued under."""
    user_model = get_user_model()
    try:
        user = user_model._default_manager.filter(
            **{api_settings.USER_ID_FIELD: token.get(api_settings.USER_ID_CLAIM)}
        ).first()
    except (TypeError, ValueError):
        user = None
    if user is None or not user.is_active or not password_claim_matches(token, user):
        raise TokenError("Token is no longer valid.")
    return user


class RefreshToken(tokens.RefreshToken):
    """simplejwt's refresh token, with the password claim (copied into its access tokens) and a record kept of it.

    The record (OutstandingToken) holds no copy of the token itself: a refresh token is a bearer credential, and
    its id (`jti`) is all that revoking it needs.
    """

    @classmethod
    def for_user(cls, user: Any) -> RefreshToken:
        token = cls()
        token[api_settings.USER_ID_CLAIM] = str(getattr(user, api_settings.USER_ID_FIELD))
        token[FINGERPRINT_CLAIM] = password_fingerprint(user)
        token.outstand(user=user)
        return token

    def outstand(self, user: AbstractBaseUser | None = None) -> OutstandingToken:
        jti = self[api_settings.JTI_CLAIM]
        existing = OutstandingToken.objects.filter(jti=jti).first()
        if existing is not None:
            return existing
        if user is None:
            user_model = get_user_model()
            user = user_model._default_manager.filter(
                **{api_settings.USER_ID_FIELD: self.get(api_settings.USER_ID_CLAIM)}
            ).first()
        outstanding, _ = OutstandingToken.objects.get_or_create(
            jti=jti,
            defaults={
                "user": user,
                "token": "",
                "created_at": datetime_from_epoch(self["iat"]) if "iat" in self else self.current_time,
                "expires_at": datetime_from_epoch(self["exp"]),
            },
        )
        return outstanding

    def blacklist(self) -> BlacklistedToken:
        return BlacklistedToken.objects.get_or_create(token=self.outstand())[0]

    def revoke(self) -> bool:
        """Revokes the token; False if it already was (by a refresh or a logout that came first)."""
        _, created = BlacklistedToken.objects.get_or_create(token=self.outstand())
        return created


def token_pair_for(user: AbstractBaseUser) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"refresh": str(refresh), "access": str(refresh.access_token)}


def refresh_tokens_purge_expired() -> int:
    """Deletes the records of expired refresh tokens (and their blacklist entries), as `flushexpiredtokens` does."""
    deleted, _ = OutstandingToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
