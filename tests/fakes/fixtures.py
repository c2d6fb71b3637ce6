"""Fixtures for the provider backend tests: a test module loads them with `pytest_plugins = ["tests.fakes.fixtures"]`.

Not in tests/conftest.py, so that only the modules that talk to fake providers pay for them.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.fakes.keys import RsaKeyPair, SelfSignedCertificate, rsa_key_pair, self_signed_certificate
from tests.fakes.server import FakeProvider


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A plain-HTTP fake provider on 127.0.0.1 (Twilio and Telnyx accept an http:// base URL)."""
    with FakeProvider() as fake:
        yield fake


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCertificate:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def fake_tls_provider(
    tls_certificate: SelfSignedCertificate, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeProvider]:
    """An HTTPS fake provider whose self-signed certificate `requests` trusts for the duration of the test.

    Vonage's SDK always builds https:// URLs; its requests.Session honours REQUESTS_CA_BUNDLE (trust_env is on).
    """
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_certificate.cert_path))
    with FakeProvider(tls=tls_certificate.server_context()) as fake:
        yield fake


@pytest.fixture(scope="session")
def rsa_keys() -> RsaKeyPair:
    return rsa_key_pair()


@pytest.fixture
def refused_url() -> str:
    """An http://127.0.0.1 URL on a port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
