"""Secrets inside assistant settings are write-only: masked on the way out, kept when the mask comes back.

A client that reads an assistant, changes one thing and sends the object back sends the mask back too;
that must keep the stored key rather than replace it with eight asterisks.
"""

from __future__ import annotations

from typing import Any

MASK = "********"
SECRET_SUFFIXES = ("api_key", "apikey", "secret", "token", "password", "private_key", "credentials")


def is_secret_key(name: str) -> bool:
    # "X-Api-Key" or "private key" name the same secrets as "api_key" and "private_key".
    normalized = name.lower().replace("-", "_").replace(" ", "_")
    return normalized.endswith(SECRET_SUFFIXES)


def mask_secrets(value: Any) -> Any:
    """A copy of `value` with every secret replaced by the mask, whatever it held (even null or an object)."""
    if isinstance(value, dict):
        return {key: MASK if is_secret_key(key) else mask_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    return value


def keep_masked_secrets(submitted: Any, stored: Any) -> tuple[Any, list[str]]:
    """`submitted` with each secret sent as the mask replaced by the stored value at the same path.

    Also returns the paths (e.g. "voices[0].api_key") where the mask was sent but nothing is stored:
    storing the mask itself there would hand the voice engine eight asterisks as a key.
    """
    unmatched: list[str] = []
    return _keep(submitted, stored, "", unmatched), unmatched


def _keep(submitted: Any, stored: Any, path: str, unmatched: list[str]) -> Any:
    if isinstance(submitted, dict):
        previous = stored if isinstance(stored, dict) else {}
        kept: dict[str, Any] = {}
        for key, item in submitted.items():
            here = f"{path}.{key}" if path else key
            if item == MASK and is_secret_key(key):
                if key in previous:
                    kept[key] = previous[key]
                else:
                    unmatched.append(here)
                continue
            kept[key] = _keep(item, previous.get(key), here, unmatched)
        return kept
    if isinstance(submitted, list):
        previous_items = stored if isinstance(stored, list) else []
        return [
            _keep(item, previous_items[index] if index < len(previous_items) else None, f"{path}[{index}]", unmatched)
            for index, item in enumerate(submitted)
        ]
    return submitted
