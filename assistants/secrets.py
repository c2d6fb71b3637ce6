"""Secrets inside assistant settings are write-only: masked on the way out, kept when the mask comes back.

A client that reads an assistant, changes one thing and sends the object back sends the mask back too;
that must keep the stored key rather than replace it with eight asterisks.

What counts as a secret is deliberately broad, since people name them every which way: any key containing one of
SECRET_WORDS, at any depth ("max_tokens" and "keyword" are masked too: a masked value that comes back is kept, so
over-masking costs nothing but the view), a `Bearer …` credential wherever it is, and in a headers object (a key
containing "header") any value sent with an authorization scheme, or the `value` of a `{"name": …, "value": …}` pair
whose name is secret.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "********"
SECRET_WORDS = ("key", "secret", "token", "password", "auth", "bearer", "credential")
# Header names that carry credentials without saying so.
SECRET_HEADERS = frozenset({"cookie", "set-cookie"})
_BEARER_CREDENTIAL = re.compile(r"\s*bearer\s+\S+\s*", re.IGNORECASE)
_AUTHORIZATION_VALUE = re.compile(r"\s*(?:bearer|basic|digest|negotiate|token)\s+\S", re.IGNORECASE)


def is_secret_key(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def is_secret_value(value: Any, *, in_headers: bool = False) -> bool:
    """A value that is a credential whatever its key: `Bearer …`, or in headers any `<scheme> …` value."""
    if not isinstance(value, str):
        return False
    if in_headers:
        return _AUTHORIZATION_VALUE.match(value) is not None
    return _BEARER_CREDENTIAL.fullmatch(value) is not None


def _is_headers(key: str) -> bool:
    return "header" in key.lower()


def _secret_keys(value: dict[str, Any], *, in_headers: bool) -> set[str]:
    """The keys of `value` whose values are secrets, whatever those values are (even null or an object)."""
    secret = {key for key in value if is_secret_key(key)}
    if in_headers and "value" in value:
        name = value.get("name", value.get("header"))
        if isinstance(name, str) and (is_secret_key(name) or name.lower() in SECRET_HEADERS):
            secret.add("value")
    if in_headers:
        secret |= {key for key in value if key.lower() in SECRET_HEADERS}
    return secret


def mask_secrets(value: Any, *, in_headers: bool = False) -> Any:
    """A copy of `value` with every secret replaced by the mask."""
    if isinstance(value, dict):
        secret = _secret_keys(value, in_headers=in_headers)
        return {
            key: MASK
            if key in secret or is_secret_value(item, in_headers=in_headers)
            else mask_secrets(item, in_headers=in_headers or _is_headers(key))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            MASK if is_secret_value(item, in_headers=in_headers) else mask_secrets(item, in_headers=in_headers)
            for item in value
        ]
    return value


def keep_masked_secrets(submitted: Any, stored: Any) -> tuple[Any, list[str]]:
    """`submitted` with each secret sent as the mask replaced by the stored value at the same path.

    Also returns the paths (e.g. "voices[0].api_key") where the mask was sent for a secret's key but nothing is
    stored: storing the mask itself there would hand the voice engine eight asterisks as a key.
    """
    unmatched: list[str] = []
    return _keep(submitted, stored, "", unmatched, in_headers=False), unmatched


def _keep(submitted: Any, stored: Any, path: str, unmatched: list[str], *, in_headers: bool) -> Any:
    if isinstance(submitted, dict):
        previous = stored if isinstance(stored, dict) else {}
        secret = _secret_keys(submitted, in_headers=in_headers)
        kept: dict[str, Any] = {}
        for key, item in submitted.items():
            here = f"{path}.{key}" if path else key
            if item == MASK and key in secret:
                if key in previous:
                    kept[key] = previous[key]
                else:
                    unmatched.append(here)
                continue
            if item == MASK and is_secret_value(previous.get(key), in_headers=in_headers):
                kept[key] = previous[key]
                continue
            kept[key] = _keep(item, previous.get(key), here, unmatched, in_headers=in_headers or _is_headers(key))
        return kept
    if isinstance(submitted, list):
        previous_items = stored if isinstance(stored, list) else []
        items: list[Any] = []
        for index, item in enumerate(submitted):
            before = previous_items[index] if index < len(previous_items) else None
            if item == MASK and is_secret_value(before, in_headers=in_headers):
                items.append(before)
            else:
                items.append(_keep(item, before, f"{path}[{index}]", unmatched, in_headers=in_headers))
        return items
    return submitted
