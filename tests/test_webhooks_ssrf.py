"""Webhook endpoints are never a way into our own network (SSRF), with private destinations off as in production.

Each attack points an endpoint at something internal; a receiver listening on 127.0.0.1 proves that nothing reached
it. DNS answers are faked (no resolver is on the wire in tests) by replacing socket.getaddrinfo.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.keys import SelfSignedCertificate
from tests.fakes.server import FakeProvider
from webhooks import transport
from webhooks.models import Delivery
from webhooks.services import delivery_attempt, event_emit, webhook_endpoint_create

pytest_plugins = ["tests.fakes.fixtures"]
pytestmark = pytest.mark.django_db

INTERNAL_HOSTS = [
    "127.0.0.1",
    "127.1.2.3",
    "10.0.0.8",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "0.0.0.0",  # noqa: S104
    "[::1]",
    "[::ffff:127.0.0.1]",  # IPv4-mapped: Python's is_loopback says False for it
    "[::ffff:169.254.169.254]",
    "[2002:7f00:1::]",  # 6to4 wrapping 127.0.0.1
    "[64:ff9b::a00:1]",  # NAT64 wrapping 10.0.0.1
    "[fe80::1]",
    "[fc00::1]",
    "localhost",
    "api.localhost",
]


@pytest.fixture(autouse=True)
def _production_rules(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = False
    settings.WEBHOOK_REQUIRE_HTTPS = False  # so that plain-HTTP receivers show what the address rules alone do


@pytest.fixture
def receiver() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        fake.on("POST", "/hook", status=200)
        yield fake


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """`dns[name] = [[first answer's addresses], [second answer's], …]`; each lookup takes the next answer."""
    answers: dict[str, list[list[str]]] = {}
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            addresses = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in addresses
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return answers


def post(url: str, **overrides: Any) -> transport.Response:
    options: dict[str, Any] = {
        "body": b"{}",
        "headers": {},
        "timeout": 2.0,
        "allow_private": False,
        "require_https": False,
        "max_response_bytes": 1024,
    }
    return transport.post(url, **{**options, **overrides})


@pytest.mark.parametrize("host", INTERNAL_HOSTS)
def test_a_literal_internal_address_is_refused_without_a_request(host: str) -> None:
    with pytest.raises(transport.DestinationRefused):
        post(f"http://{host}:8080/hook")


def test_the_local_receiver_gets_nothing_while_private_destinations_are_off(receiver: FakeProvider) -> None:
    with pytest.raises(transport.DestinationRefused, match="private or internal"):
        post(receiver.url + "/hook")

    assert receiver.requests == []


def test_a_host_name_that_resolves_to_loopback_is_refused(receiver: FakeProvider, dns: Any) -> None:
    dns["hooks.evil.test"] = [["127.0.0.1"]]

    with pytest.raises(
        transport.DestinationRefused, match=r"resolves to a private or internal address \(127\.0\.0\.1\)"
    ):
        post(f"http://hooks.evil.test:{receiver.port}/hook")

    assert receiver.requests == []


@pytest.mark.parametrize("internal", ["10.1.2.3", "169.254.169.254", "::ffff:127.0.0.1", "::1"])
def test_one_internal_address_among_public_ones_is_enough_to_refuse(dns: Any, internal: str) -> None:
    dns["mixed.test"] = [["93.184.215.14", internal]]

    with pytest.raises(transport.DestinationRefused):
        post("http://mixed.test/hook")


def test_the_connection_goes_to_the_address_that_was_checked_not_to_a_second_answer(
    receiver: FakeProvider, dns: Any
) -> None:
    # DNS rebinding: the first answer is checked (private allowed here, to have somewhere to connect); a client that
    # resolved again to connect would get the second one.
    dns["rebind.test"] = [["127.0.0.1"], ["10.255.255.1"]]

    response = post(f"http://rebind.test:{receiver.port}/hook", allow_private=True)

    assert response.status == 200
    [request] = receiver.requests
    assert request.headers["host"] == f"rebind.test:{receiver.port}"
    assert dns["rebind.test"] == [["10.255.255.1"]]  # looked up exactly once


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/hook", "must start with https://"),
        ("file:///etc/passwd", "must start with https://"),
        ("gopher://example.com:70/", "must start with https://"),
        ("https://user:secret@example.com/hook", "must not contain credentials"),
        ("https:///hook", "has no host"),
        ("https://example.com:99999/hook", "not valid"),
    ],
)
def test_other_schemes_credentials_and_malformed_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(transport.DestinationRefused, match=message):
        post(url)


def test_plain_http_is_refused_when_https_is_required() -> None:
    with pytest.raises(transport.DestinationRefused, match="must use https"):
        post("http://example.com/hook", require_https=True)


def test_https_checks_the_certificate_against_the_urls_host_name(
    fake_tls_provider: FakeProvider, tls_certificate: SelfSignedCertificate, dns: Any, monkeypatch: Any
) -> None:
    fake_tls_provider.on("POST", "/hook", status=200)
    trusting = ssl.create_default_context(cafile=str(tls_certificate.cert_path))
    monkeypatch.setattr(transport, "_tls_context", lambda: trusting)
    # The certificate is for 127.0.0.1 only; a name that resolves there is not 127.0.0.1 to TLS.
    dns["impostor.test"] = [["127.0.0.1"]]

    assert post(f"https://127.0.0.1:{fake_tls_provider.port}/hook", allow_private=True).status == 200
    with pytest.raises(transport.DeliveryError, match="TLS certificate verification failed"):
        post(f"https://impostor.test:{fake_tls_provider.port}/hook", allow_private=True)


def test_an_untrusted_certificate_is_a_failed_attempt(fake_tls_provider: FakeProvider) -> None:
    fake_tls_provider.on("POST", "/hook", status=200)

    with pytest.raises(transport.DeliveryError, match="TLS certificate verification failed"):
        post(f"https://127.0.0.1:{fake_tls_provider.port}/hook", allow_private=True)

    assert fake_tls_provider.requests == []


def test_an_endpoint_whose_name_later_resolves_inside_is_refused_at_send_time(
    organization: Any, receiver: FakeProvider, dns: Any
) -> None:
    # Accepted when made (no lookup then), refused at every attempt: the check that matters is at send time.
    dns["turncoat.test"] = [["127.0.0.1"]]
    webhook_endpoint_create(organization=organization, url=f"http://turncoat.test:{receiver.port}/hook")
    event_emit(organization_id=organization.pk, type="call.ended", subject="call:1", data={})

    attempt = delivery_attempt(delivery_id=Delivery.objects.get().pk)

    assert attempt is not None
    assert attempt.status_code is None
    assert "private or internal address" in attempt.error
    assert receiver.requests == []
    assert Delivery.objects.get().state == "pending"  # retried: DNS may change back
