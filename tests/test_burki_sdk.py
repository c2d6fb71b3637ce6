"""The official Burki Python SDK (PyPI `burki`), unchanged, against this server over real HTTP.

Its top-level package is also called `burki`, so it runs in a process of its own from the directory
`make install-dev` installs it to (requirements-compat.txt).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from calls.models import Call
from tests.factories import ApiKeyFactory, OrganizationFactory, PhoneNumberFactory

SDK = Path(sys.prefix) / "burki-sdk"
SESSION = Path(__file__).parent / "compat" / "burki_sdk_session.py"


@pytest.mark.django_db(transaction=True)
def test_the_official_burki_sdk_works_unchanged(live_server: Any, tmp_path: Path) -> None:
    assert (SDK / "burki" / "client.py").is_file(), f"install the SDK first: make install-dev (looked in {SDK})"
    organization = OrganizationFactory(max_concurrent_calls=1)
    PhoneNumberFactory(organization=organization, phone_number="+14155550100")
    key = ApiKeyFactory(organization=organization)

    result = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, str(SESSION), live_server.url, key.raw_key, "+14155550100", "+14155550199"],
        cwd=tmp_path,  # away from our project, so `import burki` finds the SDK
        env={**os.environ, "PYTHONPATH": str(SDK)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    first = Call.objects.order_by("id").first()
    assert first is not None
    assert report["initiate"] == {
        "success": True,
        "message": "Call initiated successfully",
        "call_sid": first.call_sid,
        "call_id": first.pk,
        "status": "queued",
        "from_number": "+14155550100",
        "to_number": "+14155550199",
    }
    assert [call["id"] for call in report["list"]] == [first.pk]
    got = report["get"]
    assert (got["customer_phone"], got["twilio_phone"], got["telephony_provider"]) == (
        "+14155550199",
        "+14155550100",
        "sandbox",
    )
    assert (got["welcome_message"], got["agenda"], got["direction"]) == ("Hi Ann", "About your order", "outbound")
    assert report["get_by_sid"]["id"] == first.pk
    assert report["terminate"]["success"] is True
    assert report["after_terminate"] == "canceled"
    assert report["assistant_created"]["name"] == "SDK assistant"
    assert report["assistant_created"]["organization_id"] == organization.pk
    assert report["assistant_created"]["id"] in report["assistant_listed"]
    assert report["assistant_updated"] == "changed"
    assert report["assistant_deleted"] is True
    assert report["organization"]["id"] == organization.pk
    errors = report["errors"]
    # The SDK reads body["detail"] and shows it after the status code.
    assert errors["not_found"] == "[404] Call not found."
    assert errors["validation"] == "[400] Invalid request."
    assert errors["missing_variable"] == "[400] Missing template variables: missing."
    assert errors["authentication"] == "[401] Invalid or revoked API key."
    assert errors["rate_limit"]["retry_after"] == 5
    assert "Concurrent call limit" in errors["rate_limit"]["message"]
