"""A small threaded HTTP(S) server that records every request and answers what the test told it to."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

# "answer": reply with the route's status, JSON and headers.
# "hang": read the request, then say nothing for longer than any client timeout used in the tests.
# "drop": read the whole request, then close the connection without a word (the provider may have acted on it).
Mode = Literal["answer", "hang", "drop"]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    # JSON bodies decoded; form bodies as parse_qs gives them ({"To": ["+1..."]}); anything else None.
    data: Any

    def form(self, name: str) -> str:
        """The single value of a form field (fails the test when it is missing or repeated)."""
        values = self.data[name]
        assert len(values) == 1, f"{name} sent {len(values)} times"
        return str(values[0])


@dataclass(frozen=True)
class Reply:
    status: int = 200
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    mode: Mode = "answer"
    delay: float = 0.0  # seconds before answering (a slow provider)


class FakeProvider:
    """`on(method, path_regex, ...)` sets how a route answers; `requests` is everything received, in order.

    Unknown routes answer 404 with a JSON body, so a wrong path shows up as a failed assertion, not a hang.
    """

    def __init__(self, *, tls: ssl.SSLContext | None = None, hang_seconds: float = 10.0) -> None:
        self.tls = tls
        self.hang_seconds = hang_seconds
        self.requests: list[RecordedRequest] = []
        self._routes: list[tuple[str, re.Pattern[str], dict[str, str], Reply]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler, fake=self)
        # A short poll interval keeps stop() (and so every test's teardown) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-provider", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def start(self) -> FakeProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers in "hang" mode
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def on(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json: Any = None,
        headers: dict[str, str] | None = None,
        mode: Mode = "answer",
        query: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer `method` requests whose path fully matches the regex `path` (and whose query has every parameter of
        `query`, e.g. a page number); the latest matching rule wins. `json` may be a function of the RecordedRequest
        (a resource with an id of its own per request)."""
        reply = Reply(status=status, json=json, headers=dict(headers or {}), mode=mode, delay=delay)
        with self._lock:
            self._routes.append((method.upper(), re.compile(path), dict(query or {}), reply))

    def received(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper()) and (path is None or re.fullmatch(path, r.path))
            ]

    def _record(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            for method, pattern, query, reply in reversed(self._routes):
                if (
                    method == request.method
                    and pattern.fullmatch(request.path)
                    and all(request.query.get(name) == [value] for name, value in query.items())
                ):
                    return reply
        return Reply(status=404, json={"error": f"fake provider has no route for {request.method} {request.path}"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *, fake: FakeProvider) -> None:
        super().__init__(address, handler)
        self.fake = fake

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.fake.tls is None:
            super().finish_request(request, client_address)
            return
        # The handshake runs here, in the connection's own thread, so a slow client never blocks accept().
        request.settimeout(5)
        try:
            conn = self.fake.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up mid-exchange are part of the tests, not errors worth a traceback.
        pass


class _Handler(BaseHTTPRequestHandler):
    # Headers and body go out in separate writes: without TCP_NODELAY each response waits ~40 ms on Nagle.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"  # keep-alive, as real providers do: pooled connections are exercised too
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = RecordedRequest(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query),
            headers=headers,
            body=body,
            data=_parse_body(headers.get("content-type", ""), body),
        )
        reply = fake._record(request)
        if reply.mode != "answer":
            if reply.mode == "hang":
                fake._stopping.wait(fake.hang_seconds)
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client may have gone already
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if reply.delay:
            fake._stopping.wait(reply.delay)
        content = reply.json(request) if callable(reply.json) else reply.json
        payload = b"" if content is None else json.dumps(content).encode()
        self.send_response(reply.status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _parse_body(content_type: str, body: bytes) -> Any:
    if not body:
        return None
    if content_type.startswith("application/json"):
        return json.loads(body)
    if content_type.startswith("application/x-www-form-urlencoded"):
        return parse_qs(body.decode(), keep_blank_values=True)
    return None
