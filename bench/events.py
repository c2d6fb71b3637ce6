"""Phase D of `make bench`: call events to a customer's receiver through real Celery workers and Redis.

The receiver (`python -m bench.events receiver`, its own process) records when each delivery arrived and checks its
signature with the published `standardwebhooks` library. SIGUSR1 takes it down (its port refuses connections),
SIGUSR2 brings it back on the same port: a customer's outage.

The phase drives calls through the provider's status callbacks (each call's 4 events in order, as in phase C) and
measures, for every event, the time from sending the status callback that caused it to the receiver's receipt;
deliveries per second under a burst; and, across a 30 s outage of the receiver, that every event still arrives, in
sequence order per call.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# The status callback (its index in a call's four) that causes each call event; "initiated" causes none.
EVENT_FROM_CALLBACK = {1: "call.ringing", 2: "call.answered", 3: "call.ended"}
CALLBACK_OF_EVENT = {event: index for index, event in EVENT_FROM_CALLBACK.items()}


# --- the receiver (its own process) -------------------------------------------------------------------------------


def receiver_main(port: int, log_path: Path) -> None:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    verifier = Webhook(os.environ["BENCH_WEBHOOK_SECRET"])  # from the environment: argv is visible to every user
    out = log_path.open("a", buffering=1)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            at = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                event = verifier.verify(body, headers)
                valid = True
            except WebhookVerificationError:
                event, valid = json.loads(body), False
            record = {
                "at": at,
                "id": event.get("id"),
                "type": event.get("type"),
                "sequence": event.get("sequence"),
                "call_sid": (event.get("data") or {}).get("call_sid"),
                "valid": valid,
            }
            with lock:
                out.write(json.dumps(record) + "\n")
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server: list[ThreadingHTTPServer | None] = [None]

    def up() -> None:
        httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        httpd.daemon_threads = True
        server[0] = httpd
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def down() -> None:
        httpd, server[0] = server[0], None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(target=down).start())
    signal.signal(signal.SIGUSR2, lambda *_: up() if server[0] is None else None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    up()
    while True:
        time.sleep(1)


def read_receipts(log_path: Path) -> list[dict[str, Any]]:
    if not log_path.exists():
        return []
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]


# --- the phase (run from bench.run) -------------------------------------------------------------------------------


@dataclass
class Sent:
    """When each status callback was sent: (call sid, callback index) -> time.time() just before sending."""

    at: dict[tuple[str, int], float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def drive(
    calls: Sequence[Any],
    *,
    clients: int,
    build: Callable[[Any, int], Any],
    send: Callable[[Any, Any], tuple[int, str]],
    make_session: Callable[[], Any],
    sent: Sent,
    pace: float = 0.0,
) -> float:
    """Each client plays whole calls (4 status callbacks in order); `pace` seconds between a client's calls."""
    queue: Iterator[Any] = iter(calls)
    take = threading.Lock()

    def client() -> None:
        session = make_session()
        try:
            while True:
                with take:
                    call = next(queue, None)
                if call is None:
                    return
                for index in range(4):
                    request = build(call, index)
                    at = time.time()
                    status, detail = send(session, request)
                    with sent.lock:
                        sent.at[(call.call_sid, index)] = at
                        if not 200 <= status < 300:
                            sent.errors.append(f"{status}: {detail[:200]}")
                if pace:
                    time.sleep(pace)
        finally:
            session.close()

    began = time.monotonic()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return time.monotonic() - began


def expected(calls: Sequence[Any]) -> set[tuple[str, str]]:
    return {(call.call_sid, event) for call in calls for event in EVENT_FROM_CALLBACK.values()}


def wait_for(
    log_path: Path, wanted: set[tuple[str, str]], *, timeout: float, poll: float = 0.2
) -> tuple[list[dict[str, Any]], float]:
    """The receipts once every wanted (call sid, type) has arrived, or at the timeout; and how long that took."""
    began = time.monotonic()
    while True:
        receipts = read_receipts(log_path)
        if wanted <= {(r["call_sid"], r["type"]) for r in receipts} or time.monotonic() - began > timeout:
            return receipts, time.monotonic() - began
        time.sleep(poll)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def analyse(calls: Sequence[Any], receipts: list[dict[str, Any]], sent: Sent) -> dict[str, Any]:
    """Latency from status callback to receipt, what was lost, duplicated, out of order, or badly signed."""
    sids = {call.call_sid for call in calls}
    mine = [r for r in receipts if r["call_sid"] in sids]
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for record in sorted(mine, key=lambda r: r["at"]):
        first.setdefault((record["call_sid"], record["type"]), record)
    latencies = [
        (record["at"] - sent.at[(sid, CALLBACK_OF_EVENT[kind])]) * 1000
        for (sid, kind), record in first.items()
        if (sid, CALLBACK_OF_EVENT.get(kind, -1)) in sent.at
    ]
    arrivals: dict[str, list[int]] = defaultdict(list)
    for record in sorted(first.values(), key=lambda r: r["at"]):
        arrivals[record["call_sid"]].append(record["sequence"])
    ids = Counter(r["id"] for r in mine)
    times = sorted(r["at"] for r in first.values())
    return {
        "events": len(expected(calls)),
        "delivered": len(first),
        "lost": len(expected(calls) - set(first)),
        "duplicates": sum(n - 1 for n in ids.values()),
        "out_of_order_calls": sum(1 for seqs in arrivals.values() if seqs != sorted(seqs)),
        "bad_signatures": sum(1 for r in mine if not r["valid"]),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(max(latencies), 1) if latencies else math.nan,
        "delivery_window_s": round(times[-1] - times[0], 3) if len(times) > 1 else 0.0,
        "callback_errors": len(sent.errors),
        "callback_error_samples": sent.errors[:3],
    }


def worker_ready(log_path: Path) -> bool:
    return log_path.exists() and " ready." in log_path.read_text(errors="replace")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU of these processes and their children (a prefork worker's pool)."""
    tick = os.sysconf("SC_CLK_TCK")
    wanted = set(pids)
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(entry.name) in wanted or int(fields[1]) in wanted:
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_process(cmd: Sequence[str], *, env: dict[str, str], cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT)


@dataclass
class EventsRun:
    """What phase D needs from bench.run: how to make calls, sign their callbacks, reach Burki and Django."""

    env: dict[str, str]
    root: Path
    results: Path
    tmp: Path
    make_calls: Callable[[int], list[Any]]
    build: Callable[[Any, int], Any]  # (call, callback index) -> a request for HttpSession.send
    make_session: Callable[[], Any]
    django_task: Callable[..., Any]
    log: Callable[[str], None]
    workers: int = 2
    latency_calls: int = 100
    burst_calls: int = 300
    burst_clients: int = 32
    outage_seconds: float = 30.0


def events_phase(run: EventsRun) -> dict[str, Any]:
    """Receiver, endpoint, workers and beat up; latency, burst, outage; everything stopped again."""
    port = free_port()
    endpoint = run.django_task(run.env, "webhook", "--url", f"http://127.0.0.1:{port}/hooks")
    receipts_log = run.tmp / "receipts.jsonl"
    receiver_env = {**run.env, "BENCH_WEBHOOK_SECRET": endpoint["secret"]}
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(what: str, cmd: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
        proc = start_process(cmd, env=env, cwd=run.root, log_path=run.results / log_name)
        processes.append((what, proc))
        return proc

    def send(session: Any, request: Any) -> tuple[int, str]:
        return session.send(request)

    try:
        receiver = spawn(
            "receiver",
            [sys.executable, "-m", "bench.events", "receiver", "--port", str(port), "--log", str(receipts_log)],
            receiver_env,
            "receiver.log",
        )
        workers = [
            spawn(
                f"worker {n}",
                [
                    sys.executable, "-m", "celery", "-A", "burki", "worker", "--concurrency=1", "--pool=prefork",
                    f"--hostname=bench-{n}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "--loglevel=INFO",
                ],
                run.env,
                f"worker-{n}.log",
            )
            for n in range(1, run.workers + 1)
        ]  # fmt: skip
        spawn(
            "beat",
            [sys.executable, "-m", "celery", "-A", "burki", "beat", "--loglevel=INFO", "-s", str(run.tmp / "beat")],
            run.env,
            "beat.log",
        )
        deadline = time.monotonic() + 60
        while not all(worker_ready(run.results / f"worker-{n}.log") for n in range(1, run.workers + 1)):
            for what, proc in processes:
                if proc.poll() is not None:
                    raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready")
            if time.monotonic() > deadline:
                raise RuntimeError("the Celery workers were not ready within 60 s")
            time.sleep(0.2)
        worker_pids = [w.pid for w in workers]

        # D1: latency, one client (each call's four callbacks in order, calls one after another).
        run.log(f"D: call events, {run.latency_calls} calls sequentially (latency)")
        calls = run.make_calls(run.latency_calls)
        sent = Sent()
        drive(calls, clients=1, build=run.build, send=send, make_session=run.make_session, sent=sent)
        receipts, _ = wait_for(receipts_log, expected(calls), timeout=60)
        latency = analyse(calls, receipts, sent)
        run.log(f"D latency: p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms, lost {latency['lost']}")

        # D2: a burst from many clients; the workers' throughput.
        run.log(f"D: call events, {run.burst_calls} calls from {run.burst_clients} clients (throughput)")
        calls = run.make_calls(run.burst_calls)
        sent = Sent()
        cpu0 = cpu_seconds(worker_pids)
        driven = drive(
            calls, clients=run.burst_clients, build=run.build, send=send, make_session=run.make_session, sent=sent
        )
        receipts, waited = wait_for(receipts_log, expected(calls), timeout=120)
        burst = analyse(calls, receipts, sent)
        burst["callbacks_per_s"] = round(4 * len(calls) / driven, 1) if driven else math.nan
        window = burst["delivery_window_s"]
        burst["deliveries_per_s"] = round(burst["delivered"] / window, 1) if window else math.nan
        burst["drain_after_last_callback_s"] = round(max(0.0, waited), 2)
        burst["worker_cpu_ms_per_delivery"] = round(
            (cpu_seconds(worker_pids) - cpu0) * 1000 / max(burst["delivered"], 1), 2
        )
        run.log(
            f"D burst: {burst['deliveries_per_s']} deliveries/s, p50 {burst['p50_ms']} ms, "
            f"p99 {burst['p99_ms']} ms, lost {burst['lost']}"
        )

        # D3: the receiver is down for `outage_seconds` while calls go on, then comes back.
        run.log(f"D: receiver outage of {run.outage_seconds:g} s while calls go on")
        during_calls = run.make_calls(max(1, int(run.outage_seconds * 2)))
        after_calls = run.make_calls(10)
        sent = Sent()
        receiver.send_signal(signal.SIGUSR1)
        went_down = time.monotonic()
        driver = threading.Thread(
            target=drive,
            args=(during_calls,),
            kwargs={
                "clients": 1,
                "build": run.build,
                "send": send,
                "make_session": run.make_session,
                "sent": sent,
                "pace": 0.45,
            },
            daemon=True,
        )
        driver.start()
        time.sleep(max(0.0, went_down + run.outage_seconds - time.monotonic()))
        receiver.send_signal(signal.SIGUSR2)
        came_back = time.time()
        driver.join(timeout=120)
        drive(after_calls, clients=1, build=run.build, send=send, make_session=run.make_session, sent=sent, pace=0.2)
        everything = [*during_calls, *after_calls]
        receipts, _ = wait_for(receipts_log, expected(everything), timeout=120)
        outage = analyse(everything, receipts, sent)
        during = {call.call_sid for call in during_calls}
        last = max((r["at"] for r in receipts if r["call_sid"] in during), default=math.nan)
        outage["recovered_s"] = round(last - came_back, 2)
        outage["during_outage_events"] = 3 * len(during_calls)
        run.log(
            f"D outage: {outage['delivered']}/{outage['events']} delivered, the last {outage['recovered_s']} s after "
            f"the receiver came back; lost {outage['lost']}, out of order {outage['out_of_order_calls']}"
        )
        stats = run.django_task(run.env, "webhook_stats")
    finally:
        for what, proc in reversed(processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    run.log(f"{what} did not stop on SIGTERM; killing pid {proc.pid}")
                    proc.kill()
                    proc.wait(timeout=5)
    return {"latency": latency, "burst": burst, "outage": outage, "stats": stats, "workers": run.workers}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    receiver = sub.add_parser("receiver")
    receiver.add_argument("--port", type=int, required=True)
    receiver.add_argument("--log", type=Path, required=True)
    args = parser.parse_args(argv)
    receiver_main(args.port, args.log)


if __name__ == "__main__":
    main()
