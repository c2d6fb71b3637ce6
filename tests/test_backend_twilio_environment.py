"""The Twilio client reads the environment's proxy settings once, when it is built, for the API's host."""

from __future__ import annotations

from typing import Any

import pytest

from telephony.backends.base import ProviderAccount
from telephony.backends.twilio import TwilioBackend

ACCOUNT = ProviderAccount(
    id=7, provider="twilio", credentials={"account_sid": "AC" + "1" * 32, "auth_token": "token-0123456789"}
)


@pytest.mark.parametrize(
    ("base_url", "no_proxy", "proxies"),
    [
        ("", "", {"https": "http://proxy.example:3128"}),
        ("https://api.twilio.com", "api.twilio.com", {}),
    ],
)
def test_the_environments_proxy_applies_to_the_api_host_unless_bypassed(
    monkeypatch: Any, base_url: str, no_proxy: str, proxies: dict[str, str]
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    backend = TwilioBackend(provider="twilio", options={"API_BASE_URL": base_url})

    http_client = backend._client(ACCOUNT).http_client

    assert http_client.proxy == proxies
    assert http_client.session.trust_env is False  # not read again on every request
