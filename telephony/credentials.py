"""What each provider's credentials consist of, and the part of them that is safe to show."""

from __future__ import annotations

from collections.abc import Mapping

CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "twilio": ("account_sid", "auth_token"),
    "telnyx": ("api_key", "connection_id", "public_key"),
    "vonage": ("application_id", "private_key", "signature_secret"),
    "sandbox": (),
}
# Accepted, not required: calls work without them. Vonage's API key and secret let Burki confirm with the Numbers API
# that the account holds a number being registered; without them a Vonage number cannot be registered.
OPTIONAL_CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {"vonage": ("api_key", "api_secret")}
# What each key is and where the provider shows it: the API schema and the admin say so (README.md, the same table).
CREDENTIAL_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "twilio": {
        "account_sid": "the Account SID (AC…), Twilio Console, Account Info",
        "auth_token": "the Auth Token beside it; it also verifies Twilio's signatures on webhooks",
    },
    "telnyx": {
        "api_key": "an API key (KEY…), Mission Control, API Keys",
        "connection_id": "the id of the Call Control Application (Voice API Application) that places the calls",
        "public_key": "the account's public key (base64), Mission Control, Keys & Credentials; it verifies webhooks",
    },
    "vonage": {
        "application_id": "the id (UUID) of the Voice application that places the calls",
        "private_key": "that application's private key (PEM, with its BEGIN and END lines)",
        "signature_secret": "the account's signature secret (API settings); it verifies the JWTs on webhooks",
        "api_key": "the account's API key (API settings): with api_secret, lets Burki list the account's numbers",
        "api_secret": "the account's API secret, with api_key",
    },
    "sandbox": {},
}


def credentials_description() -> str:
    """Markdown: per provider, each credential key, whether it is optional, and what it is."""
    lines = [
        "A JSON object of strings; its keys depend on the provider. Write-only: never returned, never logged. "
        "On update, the object given replaces the stored one whole.",
        "",
    ]
    for provider, keys in CREDENTIAL_FIELDS.items():
        optional = OPTIONAL_CREDENTIAL_FIELDS.get(provider, ())
        if not keys and not optional:
            lines.append(f"- `{provider}`: none (`{{}}`).")
            continue
        described = [
            f"`{key}`{' (optional)' if key in optional else ''}: {CREDENTIAL_DESCRIPTIONS[provider][key]}"
            for key in keys + optional
        ]
        lines.append(f"- `{provider}`: " + "; ".join(described) + ".")
    lines.append("")
    lines.append(
        "Vonage's `api_key` and `api_secret` come together or not at all; without them the account places calls but "
        "its numbers cannot be registered or imported (Burki cannot ask Vonage which numbers it holds)."
    )
    return "\n".join(lines)


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
    optional = OPTIONAL_CREDENTIAL_FIELDS.get(provider, ())
    errors: dict[str, list[str]] = {}
    for key in credentials:
        if key not in expected and key not in optional:
            errors[str(key)] = [f"Not a {provider} credential; expected {', '.join(expected + optional) or 'none'}."]
    for key in expected + optional:
        value = credentials.get(key)
        if key in optional and key not in credentials:
            continue
        if not isinstance(value, str) or not value.strip():
            errors[key] = ["This credential is required." if key in expected else "Must not be empty when given."]
        elif len(value) > MAX_CREDENTIAL_LENGTH:
            errors[key] = ["Too long."]
    # Only ever used together: one without the other is a typo, not a choice.
    given = [key for key in optional if key in credentials]
    if given and len(given) < len(optional):
        for key in optional:
            if key not in credentials:
                errors[key] = [f"Required with {', '.join(given)}."]
    return errors


def credentials_hint(provider: str, credentials: Mapping[str, object]) -> str:
    value = credentials.get(HINT_FIELD.get(provider, ""), "")
    if not isinstance(value, str) or len(value) < 8:
        return ""
    return "…" + value[-4:]
