"""Encryption of secrets at rest (provider credentials), with key rotation."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionError(Exception):
    """The stored value was not encrypted with any of the configured keys."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def _current() -> MultiFernet:
    # Keyed on the configured tuple, so override_settings in tests takes effect without a cache reset.
    return _fernet(tuple(settings.CREDENTIALS_ENCRYPTION_KEYS))


def encrypt_json(value: Any) -> str:
    return _current().encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()


def decrypt_json(token: str) -> Any:
    try:
        return json.loads(_current().decrypt(token.encode()))
    except InvalidToken as exc:
        raise DecryptionError("Stored secret cannot be decrypted with the configured keys.") from exc


def encrypt_bytes(value: bytes) -> bytes:
    return _current().encrypt(value)


def decrypt_bytes(token: bytes) -> bytes:
    try:
        return _current().decrypt(token)
    except InvalidToken as exc:
        raise DecryptionError("Value cannot be decrypted with the configured keys.") from exc
