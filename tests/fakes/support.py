"""What every provider backend test does: point a provider at a fake, own a number on it, call through the API."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from assistants.models import PhoneNumber
from calls.models import Call
from telephony.backends.base import DialRequest
from tests.factories import PhoneNumberFactory, TelephonyAccountFactory

FROM_NUMBER = "+14155550100"
TO_NUMBER = "+14155550199"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def use_backend(provider: str, backend: str, **options: Any) -> override_settings:
    """TELEPHONY_BACKENDS with `provider` served by `backend` and `options` (the other providers unchanged)."""
    return override_settings(
        TELEPHONY_BACKENDS={**settings.TELEPHONY_BACKENDS, provider: {"BACKEND": backend, "OPTIONS": options}}
    )


def provider_number(organization: Any, *, provider: str, credentials: Mapping[str, str]) -> PhoneNumber:
    account = TelephonyAccountFactory(organization=organization, provider=provider, credentials=dict(credentials))
    number: PhoneNumber = PhoneNumberFactory(
        organization=organization, phone_number=FROM_NUMBER, telephony_account=account
    )
    return number


def initiate(api: APIClient, *, to_number: str = TO_NUMBER) -> Any:
    return api.post(
        "/calls/initiate",
        {"from_phone_number": FROM_NUMBER, "to_phone_number": to_number, "variables": {"name": "Ada"}},
        format="json",
    )


def dial_request(provider: str, **overrides: Any) -> DialRequest:
    """A backend-level dial of call 41 (token "tok-41"), callbacks on https://burki.test; `overrides` replace fields."""
    fields: dict[str, Any] = {
        "call_id": 41,
        "token": "tok-41",
        "from_number": FROM_NUMBER,
        "to_number": TO_NUMBER,
        "answer_url": f"https://burki.test/telephony/{provider}/answer/tok-41",
        "status_url": f"https://burki.test/telephony/{provider}/status/tok-41",
        "ring_timeout": 25,
        "time_limit": 600,
    }
    return DialRequest(**{**fields, **overrides})


def assert_call_left_unknown(response: Any) -> None:
    """The provider may have dialled: the API answers 504 and the one call recorded is `unknown`, not failed."""
    assert response.status_code == 504, response.content
    assert response.json()["status"] == "unknown"
    assert Call.objects.get().status == "unknown"


def from_threads(function: Callable[[], Any], count: int = 8) -> list[Any]:
    """What `function` returns when `count` threads call it at once."""
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(function())) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def callback_url(provider: str, kind: str, token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/telephony/{provider}/{kind}/{token}"


def assert_nothing_contains(texts: Iterable[str | bytes], secrets: Iterable[str]) -> None:
    for text in texts:
        as_text = text.decode(errors="replace") if isinstance(text, bytes) else text
        for secret in secrets:
            assert secret not in as_text, f"a secret ({secret[:6]}…) leaked"


def modules_loaded_by_importing(module: str, candidates: Iterable[str]) -> list[str]:
    """Which of `candidates` a fresh interpreter has in sys.modules after importing `module` alone."""
    names = list(candidates)
    code = f"import sys, {module}; print(','.join(n for n in {names!r} if n in sys.modules))"
    result = subprocess.run(  # noqa: S603 (a fixed interpreter and fixed code)
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=30
    )
    return [name for name in result.stdout.strip().split(",") if name]
