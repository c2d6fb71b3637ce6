"""Django's username-and-password check, throttled: the one place every password login passes through."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.http import HttpRequest

from burki.throttling import client_address, password_check


class ThrottledModelBackend(ModelBackend):
    """ModelBackend behind burki.throttling: `authenticate()` raises LoginThrottled (429) once over the limits.

    The token endpoint and the admin's login form both call `authenticate()`, so both are covered, and so is
    any login added later.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        user: User | None = None

        def check() -> bool:
            nonlocal user
            user = super(ThrottledModelBackend, self).authenticate(request, username, password, **kwargs)
            return user is not None

        client = client_address(request) if request is not None else None
        password_check(client=client, username=str(username), check=check)
        return user

    async def aauthenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        return await sync_to_async(self.authenticate)(request, username, password, **kwargs)
