"""A fast fake Twilio for the benchmark: `POST /2010-04-01/Accounts/{sid}/Calls.json` creates a call, at once.

Runs in a process of its own (`python -m bench.fake_twilio --port-file F`), so that neither the load generator
nor the server under test shares its GIL. Threaded, keep-alive (HTTP/1.1, as Twilio's API), no sleeps, nothing
kept per request but a counter per account. Answers like Twilio: 201 and the JSON call resource with a unique
"sid" ("CA" + 32 hex digits) and "status": "queued". `GET /stats` tells how many calls each account created.
"""

from __future__ import annotations

import argparse
import email.utils
import itertools
import json
import os
import re
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

CALLS_PATH = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Calls\.json")

_sequence = itertools.count(1)  # next() on itertools.count is atomic in CPython
_prefix = os.urandom(4).hex()  # unique across runs too: 8 random hex digits, then a 24-digit sequence
_created: dict[str, int] = {}
_lock = threading.Lock()


def call_resource(account_sid: str, form: dict[str, list[str]]) -> dict[str, Any]:
    sid = f"CA{_prefix}{next(_sequence):024x}"
    now = email.utils.formatdate(usegmt=True).replace("GMT", "+0000")
    to = form.get("To", [""])[0]
    from_ = form.get("From", [""])[0]
    base = f"/2010-04-01/Accounts/{account_sid}/Calls/{sid}"
    return {
        "account_sid": account_sid,
        "annotation": None,
        "answered_by": None,
        "api_version": "2010-04-01",
        "caller_name": None,
        "date_created": now,
        "date_updated": now,
        "direction": "outbound-api",
        "duration": None,
        "end_time": None,
        "forwarded_from": None,
        "from": from_,
        "from_formatted": from_,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": "PN" + "0" * 32,
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "start_time": None,
        "status": "queued",
        "subresource_uris": {
            "notifications": f"{base}/Notifications.json",
            "recordings": f"{base}/Recordings.json",
            "events": f"{base}/Events.json",
        },
        "to": to,
        "to_formatted": to,
        "trunk_sid": None,
        "uri": f"{base}.json",
        "queue_time": "0",
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like api.twilio.com
    # Headers and body leave in one write, with TCP_NODELAY: otherwise Nagle's algorithm holds the body back until
    # the client's delayed ACK of the headers (40 ms on Linux), and every request would take 40 ms more.
    disable_nagle_algorithm = True
    server_version = "fake-twilio"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self._headers_buffer.append(b"\r\n" + body)  # end_headers(), with the body in the same write
        self.flush_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        match = CALLS_PATH.fullmatch(self.path.split("?", 1)[0])
        if match is None:
            self._send(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
            return
        form = parse_qs(raw.decode("utf-8", "replace"))
        if not form.get("To") or not form.get("From") or not form.get("Url"):
            self._send(400, {"code": 21201, "message": "To, From and Url are required", "status": 400})
            return
        account_sid = match.group(1)
        with _lock:
            _created[account_sid] = _created.get(account_sid, 0) + 1
        self._send(201, call_resource(account_sid, form))

    def do_GET(self) -> None:
        if self.path == "/stats":
            with _lock:
                self._send(200, {"created": dict(_created)})
            return
        self._send(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--port-file", help="write the port here once listening")
    args = parser.parse_args(argv)
    server = Server(("127.0.0.1", args.port), Handler)
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as fh:
            fh.write(str(port))
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"fake twilio listening on http://127.0.0.1:{port}", file=sys.stderr, flush=True)

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.1)
    server.server_close()


if __name__ == "__main__":
    main()
