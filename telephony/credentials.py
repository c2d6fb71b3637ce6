"""What each provider's credentials consist of, and the part of them that is safe to show."""

from __future__ import annotations

from collections.abc import Mapping

CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "twilio": ("account_sid", "auth_token"),
    "telnyx": ("api_key", "connection_id", "public_key"),
    "vonage": ("application_id", "private_key", "signature_secret"),
    "sandbox": (),
}
# The identifier (never the secret) whose tail the admin and the API show.
HINT_FIELD: dict[str, str] = {"twilio": "account_sid", "telnyx": "connection_id", "vonage": "application_id"}
MAX_CREDENTIAL_LENGTH = 8192


def credentials_errors(provider: str, credentials: object) -> dict[str, list[str]]:
    """Field errors for a credentials object, empty when it is complete and nothing else."""
    if provider not in CREDENTIAL_FIELDS:
        return {"provider": [f"Unknown provider {provider!r}."]}
    if not isinstance(credentials, Mapping):
        return {"credentials": ["Must be a JSON object."]}
    expected = CREDENTIAL_FIELDS[provider]
    errors: dict[str, list[str]] = {}
    for key in credentials:
        if key not in expected:
            errors[str(key)] = [f"Not a {provider} credential; expected {', '.join(expected) or 'none'}."]
    for key in expected:
        value = credentials.get(key)
        if not isinstance(value, str) or not value.strip():
            errors[key] = ["This credential is required."]
        elif len(value) > MAX_CREDENTIAL_LENGTH:
            errors[key] = ["Too long."]
    return errors


def credentials_hint(provider: str, credentials: Mapping[str, object]) -> str:
    value = credentials.get(HINT_FIELD.get(provider, ""), "")
    if not isinstance(value, str) or len(value) < 8:
        return ""
    return "…" + value[-4:]
