"""One POST to a customer's URL, never to our own network.

The host is resolved here, every address it resolves to must be public (unless the setting allows private ones), and
the connection goes to an address that was checked: a second DNS answer (rebinding) never gets a say. TLS still
verifies the certificate against the URL's host name. No redirect is followed; the whole exchange is bounded in time
and the response in size.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import SplitResult, urlsplit

USER_AGENT = "Burki-Webhooks/1.0"
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DeliveryError(Exception):
    """No response: the destination was refused, unreachable, too slow, or spoke something other than HTTP."""


class DestinationRefused(DeliveryError):
    pass


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str  # ASCII (IDNA), without brackets
    port: int
    target: str  # path and query


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64): it is where the packets end up."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_is_public(address: IPAddress) -> bool:
    """Not loopback, private, link-local, shared (CGNAT), reserved, multicast or unspecified."""
    embedded = _embedded_ipv4(address)
    if embedded is not None and not embedded.is_global:
        return False
    return address.is_global and not address.is_multicast


def destination_parse(url: str, *, require_https: bool) -> Destination:
    """The URL's parts, or DestinationRefused when it is no plain http(s) URL we may send to."""
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DestinationRefused("The URL is not valid.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise DestinationRefused("The URL must start with https:// (or http://).")
    if require_https and scheme != "https":
        raise DestinationRefused("The URL must use https://.")
    if parts.username is not None or parts.password is not None:
        raise DestinationRefused("The URL must not contain credentials (user:password@).")
    if not parts.hostname:
        raise DestinationRefused("The URL has no host.")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise DestinationRefused("The URL's host name is not valid.") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80), target=target)


def literal_address_refusal(destination: Destination, *, allow_private: bool) -> str | None:
    """Why a host that is an IP address (or localhost) is refused, checked without any DNS lookup; else None."""
    if allow_private:
        return None
    if destination.host == "localhost" or destination.host.endswith(".localhost"):
        return "The URL points at this machine."
    try:
        address = ipaddress.ip_address(destination.host)
    except ValueError:
        return None
    return None if address_is_public(address) else "The URL points at a private or internal address."


def resolve(destination: Destination, *, allow_private: bool) -> list[tuple[int, tuple[object, ...]]]:
    """(family, socket address) for every address of the host, refused if any one of them is not public."""
    try:
        infos = socket.getaddrinfo(destination.host, destination.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise DeliveryError("The host name could not be resolved.") from None
    found: list[tuple[int, tuple[object, ...]]] = []
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        # One internal address among public ones is enough to refuse: which one a client picks is not ours to trust.
        if not allow_private and not address_is_public(address):
            raise DestinationRefused(f"The host resolves to a private or internal address ({address}).")
        found.append((family, tuple(sockaddr)))
    if not found:
        raise DeliveryError("The host name could not be resolved.")
    return found


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to one already-checked socket address; Host header and TLS name stay the URL's."""

    def __init__(self, destination: Destination, family: int, sockaddr: tuple[object, ...], timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._destination = destination
        self._family = family
        self._sockaddr = sockaddr

    def connect(self) -> None:
        raw = socket.socket(self._family, socket.SOCK_STREAM)
        try:
            raw.settimeout(self.timeout)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            raw.connect(self._sockaddr)
            if self._destination.scheme == "https":
                self.sock = _tls_context().wrap_socket(raw, server_hostname=self._destination.host)
            else:
                self.sock = raw
        except BaseException:
            raw.close()
            raise


def post(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    allow_private: bool,
    require_https: bool,
    max_response_bytes: int,
) -> Response:
    """POST `body` to `url` within `timeout` seconds in all; DeliveryError when no HTTP response came back."""
    destination = destination_parse(url, require_https=require_https)
    refusal = literal_address_refusal(destination, allow_private=allow_private)
    if refusal:
        raise DestinationRefused(refusal)
    deadline = time.monotonic() + timeout
    addresses = resolve(destination, allow_private=allow_private)
    last_error: DeliveryError = DeliveryError("Could not connect.")
    for family, sockaddr in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeliveryError(f"Timed out after {timeout:g} s.")
        connection = _PinnedConnection(destination, family, sockaddr, remaining)
        try:
            connection.connect()
        except OSError as exc:
            connection.close()
            last_error = _error(exc, timeout)
            continue
        return _exchange(
            connection,
            destination,
            body=body,
            headers=headers,
            deadline=deadline,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
        )
    raise last_error


def _exchange(
    connection: _PinnedConnection,
    destination: Destination,
    *,
    body: bytes,
    headers: Mapping[str, str],
    deadline: float,
    timeout: float,
    max_response_bytes: int,
) -> Response:
    # A socket timeout bounds each read, not the exchange: a server dripping a byte at a time would never trip it.
    # The watchdog shuts the socket at the deadline, whatever the server is doing.
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # closed already
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(max(deadline - time.monotonic(), 0), expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request(
            "POST",
            destination.target,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        response = connection.getresponse()
        content = response.read(max_response_bytes)
        return Response(status=response.status, body=content)
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            raise DeliveryError(f"Timed out after {timeout:g} s.") from None
        raise _error(exc, timeout) from None
    finally:
        watchdog.cancel()
        connection.close()


def _error(exc: BaseException, timeout: float) -> DeliveryError:
    # Messages name what went wrong, never the URL (it may carry the customer's own token).
    if isinstance(exc, TimeoutError):
        return DeliveryError(f"Timed out after {timeout:g} s.")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryError(f"TLS certificate verification failed: {exc.verify_message}.")
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(f"TLS error: {exc.reason or 'handshake failed'}.")
    if isinstance(exc, ConnectionRefusedError):
        return DeliveryError("Connection refused.")
    if isinstance(exc, ConnectionError):
        return DeliveryError("The connection was closed before a response came.")
    if isinstance(exc, http.client.HTTPException):
        return DeliveryError(f"Invalid HTTP response ({type(exc).__name__}).")
    return DeliveryError(f"Connection error: {getattr(exc, 'strerror', None) or type(exc).__name__}.")
