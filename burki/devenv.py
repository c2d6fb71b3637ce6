"""The .env that `make run` writes for development when there is none: DEBUG on, and keys generated for this machine,
so that every command (`manage.py place_test_call`, ...) works in any shell afterwards, as the README shows it."""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

# What DEBUG used before there was a .env: credentials stored by an earlier `make run` were encrypted with a key derived
# from this secret (burki/settings.py), and stay readable with it.
FORMER_DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-key"  # noqa: S105


def former_development_credentials_key() -> str:
    digest = hashlib.sha256(f"credentials:{FORMER_DEVELOPMENT_SECRET_KEY}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def dev_env_text(*, public_base_url: str) -> str:
    # URL-safe characters only: nothing that a shell, honcho or django-environ would read as quoting or a reference.
    secret_key = secrets.token_urlsafe(50)
    return f"""\
# Written by `make run` (manage.py write_dev_env) for development on this machine: never use it in production
# (README.md, "Production"). Edit it freely; delete it to have a new one written. The environment wins over it.
DEBUG=1
SECRET_KEY={secret_key}
# Newest first: the first encrypts provider credentials; the second only decrypts what `make run` stored before
# this file existed (drop it after `manage.py rotate_credentials`).
CREDENTIALS_ENCRYPTION_KEYS={Fernet.generate_key().decode()},{former_development_credentials_key()}
# Where this machine's server is reached; `make run HOST=… PORT=…` serves elsewhere and says so.
PUBLIC_BASE_URL={public_base_url}
# Customer webhooks may be delivered to this machine's own addresses (refused in production by default).
WEBHOOK_ALLOW_PRIVATE_DESTINATIONS=1
"""


def dotenv_values(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an env file (comments and blank lines skipped, surrounding quotes removed)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values
