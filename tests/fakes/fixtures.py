"""Fixtures for the provider backend tests: a test module loads them with `pytest_plugins = ["tests.fakes.fixtures"]`.

Not in tests/conftest.py, so that only the modules that talk to fake providers pay for them.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator

import pytest

from tests.fakes.keys import RsaKeyPair, SelfSignedCertificate, rsa_key_pair, self_signed_certificate
from tests.fakes.production import ProductionServer, free_port, procfile_command, production_env, run, serving
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


@pytest.fixture(scope="session")
def production_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductionServer]:
    """Burki as the README's production guide runs it (tests/fakes/production.py), once per test session."""
    scratch = tmp_path_factory.mktemp("production")
    port = free_port()
    env = production_env(scratch, port=port)
    run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], env=env)
    run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env=env)
    url = f"http://127.0.0.1:{port}"
    log_path = scratch / "server.log"
    with serving(procfile_command("web"), env=env, log_path=log_path, url=url) as process:
        yield ProductionServer(url=url, process=process, log_path=log_path, env=env)
