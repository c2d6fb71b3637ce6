"""A light, bounded load generator: N threads, each with its own keep-alive connection or SDK client.

Work comes as a list of jobs; a job is a list of requests one client sends in order (one request, or one call's
status callbacks). Threads take jobs from a shared counter until the jobs run out or the time is up, and time
every request on its own (time.perf_counter). Errors (exceptions, non-2xx) are counted, never retried.
"""

from __future__ import annotations

import http.client
import itertools
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# A request returns (HTTP status or 0 for an exception, detail for the error log).
Outcome = tuple[int, str]


class Session(Protocol):
    def send(self, request: Any) -> Outcome: ...

    def close(self) -> None: ...


@dataclass
class PhaseResult:
    name: str
    load: str
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    client_cpu: float = 0.0  # the load generator's CPU time over wall time (1.0 = one core)
    machine_busy: float = 0.0  # share of all cores busy during the phase
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)  # CPU time by process group, per request

    @property
    def n(self) -> int:
        return len(self.latencies_ms)

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile, in ms."""
        if not self.latencies_ms:
            return math.nan
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    @property
    def rps(self) -> float:
        return self.n / self.wall_s if self.wall_s else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "load": self.load,
            "concurrency": self.concurrency,
            "requests": self.n,
            "p50_ms": round(self.percentile(50), 3),
            "p95_ms": round(self.percentile(95), 3),
            "p99_ms": round(self.percentile(99), 3),
            "max_ms": round(max(self.latencies_ms), 3) if self.latencies_ms else None,
            "rps": round(self.rps, 1),
            "errors": self.errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "error_samples": self.error_samples,
            "wall_s": round(self.wall_s, 3),
            "client_cpu": round(self.client_cpu, 3),
            "machine_busy": round(self.machine_busy, 3),
            "cpu_ms_per_request": {k: round(v, 3) for k, v in self.cpu_ms_per_request.items()},
        }


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def run_phase(
    name: str,
    *,
    concurrency: int,
    jobs: Sequence[Sequence[Any]],
    make_session: Callable[[], Session],
    max_seconds: float,
    prepare: Callable[[Any], Any] | None = None,
    cpu_probe: Callable[[], dict[str, float]] | None = None,
) -> PhaseResult:
    """Send `jobs` from `concurrency` clients; stop when they run out or after `max_seconds` (a job in flight ends).

    `prepare(request)` runs just before a request is sent, outside its timing (e.g. a signature with a timestamp).
    `cpu_probe()` gives CPU seconds used so far by process ("group:pid"); the phase reports the difference per request
    and group, and the rest of the machine's busy time as "other".
    """
    load = "sequential" if concurrency == 1 else f"{concurrency} clients"
    result = PhaseResult(name=name, load=load, concurrency=concurrency)
    counter = itertools.count()  # next() is atomic under the GIL
    lock = threading.Lock()
    sessions = [make_session() for _ in range(concurrency)]  # connections/clients built before the clock starts
    start = threading.Barrier(concurrency + 1)
    deadline = [math.inf]

    def worker(session: Session) -> None:
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        errors: list[str] = []
        start.wait()
        while time.perf_counter() < deadline[0]:
            index = next(counter)
            if index >= len(jobs):
                break
            for request in jobs[index]:
                if prepare is not None:
                    request = prepare(request)
                t0 = time.perf_counter()
                status, detail = session.send(request)
                latencies.append((time.perf_counter() - t0) * 1000)
                statuses[status] += 1
                if not 200 <= status < 300:
                    errors.append(f"{status}: {detail[:300]}")
        with lock:
            result.latencies_ms.extend(latencies)
            result.statuses.update(statuses)
            result.errors += len(errors)
            result.error_samples.extend(errors[: max(0, 5 - len(result.error_samples))])

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in sessions]
    for thread in threads:
        thread.start()
    groups0 = cpu_probe() if cpu_probe else {}
    busy0, total0 = _cpu_times()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    deadline[0] = t0 + max_seconds
    start.wait()
    for thread in threads:
        thread.join(timeout=max_seconds + 60)
    result.wall_s = time.perf_counter() - t0
    result.client_cpu = (time.process_time() - cpu0) / result.wall_s
    busy1, total1 = _cpu_times()
    result.machine_busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else math.nan
    if cpu_probe and result.n:
        # Per process, so that one which ended meanwhile drops out instead of subtracting its past.
        by_group: dict[str, float] = {}
        for key, seconds in cpu_probe().items():
            group = key.split(":", 1)[0]
            by_group[group] = by_group.get(group, 0.0) + seconds - groups0.get(key, 0.0)
        result.cpu_ms_per_request = {group: seconds * 1000 / result.n for group, seconds in by_group.items()}
        # Everything else the machine did meanwhile: other processes (the machine may be shared), interrupts.
        busy_ms = (busy1 - busy0) * 1000 / os.sysconf("SC_CLK_TCK")
        result.cpu_ms_per_request["other"] = max(0.0, busy_ms / result.n - sum(result.cpu_ms_per_request.values()))
    if any(thread.is_alive() for thread in threads):
        result.errors += 1
        result.error_samples.append("a client thread did not finish in time")
    for session in sessions:
        session.close()
    return result


class HttpSession:
    """One keep-alive http.client connection (reopened when the server closes it, as gunicorn's sync workers do)."""

    def __init__(self, host: str, port: int, *, default_headers: dict[str, str] | None = None) -> None:
        self.connection = http.client.HTTPConnection(host, port, timeout=30)
        self.default_headers = default_headers or {}

    def send(self, request: Any) -> Outcome:
        method, path, body, headers = request
        try:
            self.connection.request(method, path, body=body, headers={**self.default_headers, **headers})
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.connection.close()
            return 0, f"{type(exc).__name__}: {exc}"
        return response.status, data.decode("utf-8", "replace") if response.status >= 300 else ""

    def close(self) -> None:
        self.connection.close()


def cpu_count() -> int:
    return os.cpu_count() or 1
