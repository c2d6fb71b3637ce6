"""Telephony backends, chosen through settings.TELEPHONY_BACKENDS like Django's EMAIL_BACKEND."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from telephony.backends.base import TelephonyBackend, TelephonyError


def get_backend(provider: str) -> TelephonyBackend:
    config = settings.TELEPHONY_BACKENDS.get(provider)
    if config is None:
        raise TelephonyError(
            f"No telephony backend is configured for {provider!r}.",
            provider=provider,
            kind=TelephonyError.REJECTED,
        )
    # Cached per configuration, not per alias: override_settings in tests gets a fresh backend, and a
    # process keeps one backend (and so one SDK client per account) for as long as its settings hold.
    return _load(provider, json.dumps(config, sort_keys=True, default=str))


@lru_cache(maxsize=32)
def _load(provider: str, frozen_config: str) -> TelephonyBackend:
    config: dict[str, Any] = json.loads(frozen_config)
    backend_class = import_string(config["BACKEND"])
    return backend_class(provider=provider, options=config.get("OPTIONS") or {})
