"""`make bench` (python -m bench.run): what Burki adds on top of the telephony provider, side by side, in one run.

  A  POST /calls/initiate with an API key: Burki under gunicorn on PostgreSQL, dialling a fake Twilio.
  B  the bare twilio SDK, Client(...).calls.create(...), against the same fake Twilio: the floor.
  C  the provider webhooks: the answer webhook and the status callbacks, signed like the provider signs them.
  D  call events to a customer's webhook receiver through 2 Celery workers and Redis (bench/events.py): time from
     the status callback to the receiver's receipt, deliveries per second in a burst, and a 30 s receiver outage.

Each at 1 (sequential, latency) and at 8 and 32 concurrent clients (throughput), every phase bounded in requests
and in seconds. Then SQL queries per initiate and per webhook (in-process, CaptureQueriesContext), where an
initiate's time goes stage by stage (in process), and the peak RSS of each gunicorn worker. Prints a table and a
`BENCH ...` line; writes bench/results/latest.json.

Everything listens on 127.0.0.1 only; every process started here is stopped here.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench import events as ev
from bench import webhook_requests as wr
from bench.django_tasks import INITIATE_BODY, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from bench.loadgen import HttpSession, PhaseResult, run_phase

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# CPU per initiate at 32 clients before issue 16 (gunicorn processes, their PostgreSQL backends), the reference.
CPU_REFERENCE_MS = {"gunicorn": 8.7, "postgres": 2.2}
# The bare-SDK load's account at the fake Twilio: another sid than Burki's, so the fake counts the two apart.
BARE_ACCOUNT_SID = "AC" + "c0" * 16
WARMUP = 40  # requests (calls, for status callbacks) at 8 clients before each target's phases, not reported
# Ratios to the bare SDK measured in the same run (issue 16): the machine is shared, absolute figures move with it.
TARGETS = {
    "initiate_p50_ratio": ("<=", 5.0),
    "initiate_rps_ratio_32": (">=", 0.35),
    "sql_per_initiate": ("<=", 9),
    "sql_per_webhook": ("<=", 5),
    "errors": ("==", 0),
    "events_p50_ms": ("<", 200.0),
    "events_lost": ("==", 0),
    "events_out_of_order": ("==", 0),
    "outage_lost": ("==", 0),
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- processes ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, proc: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready")
        with suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout:g} s")


def stop(proc: subprocess.Popen[Any] | None, what: str) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        log(f"{what} did not stop on SIGTERM; killing pid {proc.pid}")
        proc.kill()
        proc.wait(timeout=5)


def django_task(env: dict[str, str], *args: str, timeout: float = 120) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "bench.django_tasks", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"bench.django_tasks {args[0]} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


def fresh_database(url: str) -> None:
    """Drop and create the database named in `url` (connecting to the server's `postgres` database)."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"--database-url must be a postgres://…/<database> URL, not {url!r}")
    admin = urlunsplit((parts.scheme.replace("pgsql", "postgresql"), parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def end_live_calls(url: str) -> int:
    """Mark every live call of the bench database completed, as the provider's final webhook would (one UPDATE)."""
    import psycopg

    from telephony.status import LIVE_STATUSES

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(scheme="postgresql")), autocommit=True, connect_timeout=10) as conn:
        cursor = conn.execute(
            "UPDATE calls_call SET status = 'completed', end_reason = 'completed', ended_at = now(), "
            "updated_at = now() WHERE status = ANY(%s)",
            [sorted(str(s) for s in LIVE_STATUSES)],
        )
        return cursor.rowcount


def worker_pids(master: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            stat = (entry / "stat").read_text()
            # Field 4 (after the parenthesized command, which may hold spaces) is the parent pid.
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(entry.name))
    return sorted(pids)


def cpu_by_group(*, gunicorn: int, fake: int, database: str) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each process of ours, keyed "group:pid".

    Groups: gunicorn (master and workers), postgres (the bench database's backends and the server's own background
    processes, not other databases' backends), fake (twilio), client (this process).
    """
    tick = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    found: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            pid, ppid, seconds = int(entry.name), int(fields[1]), (int(fields[11]) + int(fields[12])) / tick
            if pid == me:
                group = "client"
            elif pid == gunicorn or ppid == gunicorn:
                group = "gunicorn"
            elif pid == fake:
                group = "fake"
            elif stat[stat.index("(") + 1 : stat.rindex(")")].startswith("postgres"):
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                # A backend's title is "postgres: 15/main: <user> <database> <client> <state>"; background ones
                # (walwriter, checkpointer) name no database.
                words = title.split()
                if len(words) >= 5 and words[3] != database:
                    continue
                group = "postgres"
            else:
                continue
            found[f"{group}:{pid}"] = seconds
    return found


def memory_kb(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(rest.split()[0])
    return values


@contextmanager
def started(cmd: Sequence[str], *, env: dict[str, str], log_path: Path, what: str) -> Iterator[subprocess.Popen[Any]]:
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            stop(proc, what)


# --- clients ------------------------------------------------------------------------------------------------------


class TwilioSession:
    """The bare SDK, built like Burki's backend builds it (one client per thread, keep-alive, no retries)."""

    def __init__(self, base_url: str) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.client = Client(
            BARE_ACCOUNT_SID,
            TWILIO_AUTH_TOKEN,
            http_client=TwilioHttpClient(timeout=5, max_retries=0),
            environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""},
        )
        self.client.api.base_url = base_url

    def send(self, params: dict[str, Any]) -> tuple[int, str]:
        from twilio.base.exceptions import TwilioRestException

        try:
            call = self.client.calls.create(**params)
        except TwilioRestException as exc:
            return int(exc.status), str(exc.msg)
        except Exception as exc:
            return 0, f"{type(exc).__name__}: {exc}"
        return (201, "") if call.sid else (0, "no call sid")

    def close(self) -> None:
        session = getattr(self.client.http_client, "session", None)
        if session is not None:
            session.close()


def sdk_params(public_url: str, n: int) -> dict[str, Any]:
    """What Burki's backend sends for a call (telephony/backends/twilio.py dial), for the bare-SDK load."""
    token = f"bench-{n}"
    return {
        "to": INITIATE_BODY["to_phone_number"],
        "from_": INITIATE_BODY["from_phone_number"],
        "url": wr.webhook_url(public_url, "twilio", "answer", token),
        "method": "POST",
        "status_callback": wr.webhook_url(public_url, "twilio", "status", token),
        "status_callback_event": ["initiated", "ringing", "answered", "completed"],
        "status_callback_method": "POST",
        "timeout": 30,
        "time_limit": 1800,
    }


def as_tuple(request: wr.HttpRequest) -> tuple[str, str, bytes, dict[str, str]]:
    return request.method, request.path, request.body, request.headers


# --- the run ------------------------------------------------------------------------------------------------------


def twilio_webhooks_available() -> bool:
    from telephony.backends.base import TelephonyBackend
    from telephony.backends.twilio import TwilioBackend

    return all(
        getattr(TwilioBackend, name) is not getattr(TelephonyBackend, name)
        for name in ("verify_webhook", "parse_event", "answer")
    )


def fmt(value: float) -> str:
    return f"{value:.2f}" if value == value else "n/a"  # NaN-safe


def table(results: list[PhaseResult]) -> str:
    header = (
        f"{'':36} {'load':>11} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8} "
        f"{'errors':>6} {'client cpu':>10} {'machine':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.name:36} {r.load:>11} {r.n:>8} {fmt(r.percentile(50)):>8} {fmt(r.percentile(95)):>8} "
            f"{fmt(r.percentile(99)):>8} {r.rps:>8.1f} {r.errors:>6} {r.client_cpu * 100:>9.0f}% "
            f"{r.machine_busy * 100:>6.0f}%"
        )
    lines += [
        "",
        "CPU time per request (ms), by process (other: the rest of the machine, e.g. other users' processes, IRQs):",
        "",
    ]
    groups = ["gunicorn", "postgres", "fake", "client", "other"]
    header = f"{'':36} {'load':>11} " + " ".join(f"{g:>9}" for g in groups) + f" {'total':>9}"
    lines += [header, "-" * len(header)]
    for r in results:
        cpu = r.cpu_ms_per_request
        lines.append(
            f"{r.name:36} {r.load:>11} "
            + " ".join(f"{cpu.get(g, math.nan):>9.2f}" for g in groups)
            + f" {sum(cpu.get(g, 0.0) for g in groups):>9.2f}"
        )
    return "\n".join(lines)


def check(value: float, op: str, bound: float) -> bool:
    return {"<": value < bound, "<=": value <= bound, ">=": value >= bound, "==": value == bound}[op]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/burki_bench"),
        help="a dedicated PostgreSQL database: dropped and created afresh (default %(default)s)",
    )
    parser.add_argument("--sequential", type=int, default=300, help="requests in each sequential phase")
    parser.add_argument("--levels", default="8,32", help="concurrent clients of the throughput phases")
    parser.add_argument("--max-requests", type=int, default=2500, help="cap per throughput phase")
    parser.add_argument("--max-seconds", type=float, default=8.0, help="cap per phase (twice that when sequential)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync, gthread)")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (gthread)")
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=None,
        help="CONN_MAX_AGE for the server; default: none set, so the bench measures what a user gets by default",
    )
    parser.add_argument("--webhooks", choices=["auto", "twilio", "sandbox"], default="auto")
    parser.add_argument(
        "--settings", default="burki.settings", help="DJANGO_SETTINGS_MODULE of the server (to compare a variant)"
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
        help="phase D's Celery broker: a Redis database of its own, flushed first (default %(default)s)",
    )
    parser.add_argument("--event-calls", type=int, default=100, help="phase D: calls driven one by one (latency)")
    parser.add_argument("--burst-calls", type=int, default=300, help="phase D: calls driven by 32 clients (throughput)")
    parser.add_argument("--outage-seconds", type=float, default=30.0, help="phase D: how long the receiver is down")
    parser.add_argument("--time-limit", type=int, default=330, help="abort the whole run after this many seconds")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed (errors always do)")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]

    def on_alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"the benchmark ran over its {args.time_limit} s limit")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.time_limit)
    RESULTS.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()

    provider = args.webhooks
    if provider == "auto":
        provider = "twilio" if twilio_webhooks_available() else "sandbox"
    if provider == "twilio" and not twilio_webhooks_available():
        raise SystemExit(
            "TwilioBackend does not implement verify_webhook/parse_event/answer yet: use --webhooks sandbox"
        )
    log(f"webhooks measured with the {provider} provider")

    burki_port = free_port()
    public_url = f"http://127.0.0.1:{burki_port}"
    from cryptography.fernet import Fernet

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TWILIO_", "DJANGO_", "DATABASE_", "CONN_", "CACHE_"))
        and key not in ("DEBUG", "LOG_LEVEL")
    }
    if args.conn_max_age is not None:
        env["CONN_MAX_AGE"] = str(args.conn_max_age)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": args.settings,
            "DEBUG": "0",
            "SECRET_KEY": "bench-" + os.urandom(24).hex(),
            "CREDENTIALS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DATABASE_URL": args.database_url,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PUBLIC_BASE_URL": public_url,
            # Production-like: answered calls connect to a voice engine (TwiML <Connect><Stream>, stream tokens).
            "MEDIA_STREAM_URL": "wss://voice.bench.invalid/stream",
            "BURKI_MAX_CONCURRENT_CALLS": "1000000",
            "LOG_LEVEL": "INFO",
            "PYTHONDONTWRITEBYTECODE": "1",
            # Phase D: the web server queues deliveries on Redis; the receiver listens on 127.0.0.1 over plain HTTP.
            "CELERY_BROKER_URL": args.redis_url,
            "WEBHOOK_ALLOW_PRIVATE_DESTINATIONS": "1",
            "WEBHOOK_REQUIRE_HTTPS": "0",
        }
    )
    import redis

    try:
        redis.Redis.from_url(args.redis_url, socket_connect_timeout=3).flushdb()
    except redis.RedisError as exc:
        raise SystemExit(
            f"phase D needs Redis at {args.redis_url} ({exc}); set --redis-url / BENCH_REDIS_URL"
        ) from None

    database_name = urlsplit(args.database_url).path.lstrip("/")
    log(f"fresh database {database_name}, migrating")
    fresh_database(args.database_url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, timeout=180
    )

    results: list[PhaseResult] = []
    tmp = Path(tempfile.mkdtemp(prefix="burki-bench-"))
    atexit.register(shutil.rmtree, tmp, True)
    port_file = tmp / "fake.port"
    fake_cmd = [sys.executable, "-m", "bench.fake_twilio", "--port-file", str(port_file)]
    with started(fake_cmd, env=env, log_path=RESULTS / "fake_twilio.log", what="fake twilio") as fake:
        wait_until(port_file.exists, timeout=15, what="fake twilio", proc=fake)
        fake_url = f"http://127.0.0.1:{int(port_file.read_text())}"
        env["TWILIO_API_BASE_URL"] = fake_url
        seeded = django_task(env, "seed")
        api_key = seeded["api_key"]

        gunicorn_cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "burki.wsgi:application",
            f"--workers={args.workers}",
            f"--worker-class={args.worker_class}",
            f"--threads={args.threads}",
            f"--bind=127.0.0.1:{burki_port}",
            "--timeout=30",
            "--log-level=warning",
            "--backlog=2048",
        ]
        with started(gunicorn_cmd, env=env, log_path=RESULTS / "gunicorn.log", what="gunicorn") as gunicorn:

            def healthy() -> bool:
                with urllib.request.urlopen(f"{public_url}/healthz", timeout=2) as response:
                    return bool(response.status == 200)

            wait_until(healthy, timeout=30, what="gunicorn", proc=gunicorn)
            workers = worker_pids(gunicorn.pid)
            log(f"gunicorn {gunicorn.pid} workers {workers} on {public_url}; fake twilio on {fake_url}")

            def cpu_probe() -> dict[str, float]:
                return cpu_by_group(gunicorn=gunicorn.pid, fake=fake.pid, database=database_name)

            def burki_session() -> HttpSession:
                return HttpSession("127.0.0.1", burki_port)

            warmups: list[PhaseResult] = []
            initiate_body = json.dumps(INITIATE_BODY).encode()
            initiate_headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}
            initiate_request = ("POST", "/calls/initiate", initiate_body, initiate_headers)

            def end_calls() -> int:
                """End the live calls the initiate load left, as their provider's completed webhook would: between
                phases, so that each measures a steady state (the live-call count does not grow through the run)."""
                return end_live_calls(args.database_url)

            def phases(
                name: str,
                make_jobs: Callable[[int], Sequence[Sequence[Any]]],
                make_session: Callable[[], Any],
                prepare: Callable[[Any], Any] | None = None,
                per_job: int = 1,
            ) -> list[PhaseResult]:
                """Warm-up (kept apart), then sequential, then each concurrency level."""
                return alternating([(name, make_jobs, make_session, prepare, per_job)], end_between=False)[0]

            def alternating(
                targets: Sequence[tuple[str, Callable[[int], Sequence[Sequence[Any]]], Callable[[], Any], Any, int]],
                *,
                end_between: bool = True,
            ) -> list[list[PhaseResult]]:
                """Each target's warm-up (kept apart), then at each load (sequential, then each concurrency level)
                every target in turn, side by side: a machine that gets busier or quieter meanwhile (it is shared)
                shifts both sides of a ratio alike. With `end_between`, live calls are ended after every phase (not
                for the webhook loads, whose calls are made live beforehand)."""
                for name, make_jobs, make_session, prepare, _ in targets:
                    warmups.append(
                        run_phase(
                            name,
                            concurrency=8,
                            jobs=make_jobs(WARMUP),
                            make_session=make_session,
                            max_seconds=5,
                            prepare=prepare,
                            cpu_probe=cpu_probe,
                        )
                    )
                if end_between:
                    end_calls()
                out: list[list[PhaseResult]] = [[] for _ in targets]
                for concurrency in [1, *levels]:
                    count = args.sequential if concurrency == 1 else args.max_requests
                    for index, (name, make_jobs, make_session, prepare, per_job) in enumerate(targets):
                        result = run_phase(
                            name,
                            concurrency=concurrency,
                            jobs=make_jobs(-(-count // per_job)),
                            make_session=make_session,
                            max_seconds=args.max_seconds * (2 if concurrency == 1 else 1),
                            prepare=prepare,
                            cpu_probe=cpu_probe,
                        )
                        log(
                            f"{name} {result.load}: {result.n} requests, p50 {fmt(result.percentile(50))} ms, "
                            f"{result.rps:.0f}/s, {result.errors} errors"
                        )
                        out[index].append(result)
                        if end_between:
                            log(f"ended {end_calls()} live calls")
                return out

            # A: Burki's initiate, and B: the bare SDK against the same fake, alternately at each load.
            log("A: POST /calls/initiate, alternating with B: twilio SDK calls.create")
            counter = iter(range(10**9))
            a, b = alternating(
                [
                    ("A initiate (Burki, gunicorn)", lambda n: [[initiate_request]] * n, burki_session, None, 1),
                    (
                        "B calls.create (bare twilio SDK)",
                        lambda n: [[sdk_params(public_url, next(counter))] for _ in range(n)],
                        lambda: TwilioSession(fake_url),
                        None,
                        1,
                    ),
                ]
            )

            # C: webhooks, on calls as a successful dial leaves them (one set per phase: no event is sent twice).
            account = seeded["accounts"][provider]
            phase_calls = WARMUP + args.sequential + args.max_requests * len(levels)
            status_calls = WARMUP + -(-args.sequential // 4) + -(-args.max_requests // 4) * len(levels)
            log(f"C: preparing {phase_calls + status_calls} {provider} calls")
            made = django_task(env, "calls", "--provider", provider, "--count", str(phase_calls + status_calls))
            calls = [wr.WebhookCall(**c) for c in made["calls"]]
            answer_pool, status_pool = iter(calls[:phase_calls]), iter(calls[phase_calls:])

            if provider == "twilio":
                creds = {"account_sid": account["account_sid"], "auth_token": account["auth_token"]}

                def answer_build(call: wr.WebhookCall) -> Callable[[], Any]:
                    return lambda: as_tuple(wr.twilio_answer_request(public_url, call, **creds))

                def status_build(call: wr.WebhookCall, seq: int) -> Callable[[], Any]:
                    return lambda: as_tuple(wr.twilio_status_request(public_url, call, sequence=seq, **creds))

            else:
                from django.conf import settings

                if not settings.configured:
                    settings.configure(SECRET_KEY=env["SECRET_KEY"])
                from telephony.backends.base import ProviderAccount
                from telephony.backends.sandbox import sign as sandbox_sign

                ref = ProviderAccount(id=account["id"], provider="sandbox", credentials={})

                def sign(*, url: str, timestamp: str, body: bytes) -> str:
                    return sandbox_sign(ref, url=url, timestamp=timestamp, body=body)

                def answer_build(call: wr.WebhookCall) -> Callable[[], Any]:
                    return lambda: as_tuple(wr.sandbox_answer_request(public_url, call, sign=sign))

                def status_build(call: wr.WebhookCall, seq: int) -> Callable[[], Any]:
                    return lambda: as_tuple(wr.sandbox_status_request(public_url, call, sign=sign, sequence=seq))

            def answer_jobs(n: int) -> list[list[Any]]:
                return [[answer_build(next(answer_pool))] for _ in range(n)]

            def status_jobs(n: int) -> list[list[Any]]:
                return [[status_build(call, seq) for seq in range(4)] for call in (next(status_pool) for _ in range(n))]

            log(f"C: {provider} answer webhook")
            c_answer = phases(
                f"C answer webhook ({provider})", answer_jobs, burki_session, prepare=lambda build: build()
            )
            log(f"C: {provider} status callbacks (4 events per call, in order)")
            c_status = phases(
                f"C status callback ({provider})", status_jobs, burki_session, prepare=lambda build: build(), per_job=4
            )
            results = [*a, *b, *c_answer, *c_status]

            log("SQL queries per request (in-process pass)")
            queries = django_task(
                env, "queries", "--api-key", api_key, "--host", f"127.0.0.1:{burki_port}", "--provider", provider
            )
            db_stats = django_task(env, "stats")
            workers_after = worker_pids(gunicorn.pid)
            memory = {pid: memory_kb(pid) for pid in workers_after}
            with urllib.request.urlopen(f"{fake_url}/stats", timeout=5) as response:
                fake_stats = json.load(response)["created"]
            # After the fake's count above: these initiates dial it too, from an organization of their own.
            log("where an initiate's time goes (in-process pass, stage by stage)")
            stages = django_task(env, "stages", "--host", f"127.0.0.1:{burki_port}", "--rounds", str(args.sequential))

            # The calls C left live (its pools' unused calls) are ended first: left queued, the beat's stale-call
            # expiry would end them during D, each with a call.ended event for D's receiver, on a slow machine.
            log(f"ended {end_calls()} live calls")

            # D: call events to a customer's receiver, through real workers. Last: until now the organization had no
            # webhook endpoint, so A and C measured what every organization without one pays.
            def make_event_calls(n: int) -> list[wr.WebhookCall]:
                made = django_task(env, "calls", "--provider", provider, "--count", str(n))
                return [wr.WebhookCall(**c) for c in made["calls"]]

            events = ev.events_phase(
                ev.EventsRun(
                    env=env,
                    root=ROOT,
                    results=RESULTS,
                    tmp=tmp,
                    make_calls=make_event_calls,
                    build=lambda call, index: status_build(call, index)(),
                    make_session=burki_session,
                    django_task=django_task,
                    log=log,
                    latency_calls=args.event_calls,
                    burst_calls=args.burst_calls,
                    outage_seconds=args.outage_seconds,
                )
            )

    # --- report ---
    by = {(r.name[0], r.concurrency): r for r in results}
    errors = sum(r.errors for r in [*results, *warmups])
    # Every initiate that answered 200 dialled exactly once (the warm-up's and the query pass's included).
    initiates_ok = sum(r.statuses.get(200, 0) for r in [*a, warmups[0]]) + queries["rounds"]
    sdk_ok = sum(r.statuses.get(201, 0) for r in [*b, warmups[1]])
    consistency = []
    dialled = (fake_stats.get(TWILIO_ACCOUNT_SID, 0), fake_stats.get(BARE_ACCOUNT_SID, 0))
    if dialled != (initiates_ok, sdk_ok):
        consistency.append(f"fake twilio created {dialled} calls for {initiates_ok} initiates and {sdk_ok} SDK calls")
    if workers_after != workers:
        consistency.append(f"gunicorn workers changed during the run: {workers} -> {workers_after}")
    overhead = []
    for concurrency in [1, *levels]:
        ra, rb = by[("A", concurrency)], by[("B", concurrency)]
        overhead.append(
            {
                "load": ra.load,
                "p50_ms": round(ra.percentile(50) - rb.percentile(50), 3),
                "p99_ms": round(ra.percentile(99) - rb.percentile(99), 3),
                "ratio_p50": round(ra.percentile(50) / rb.percentile(50), 2),
                "ratio_p99": round(ra.percentile(99) / rb.percentile(99), 2),
            }
        )
    peak_rss = {str(pid): round(m.get("VmHWM", 0) / 1024, 1) for pid, m in memory.items()}
    top = max(levels)
    latency, burst, outage = events["latency"], events["burst"], events["outage"]
    event_errors = sum(part["callback_errors"] + part["bad_signatures"] for part in (latency, burst, outage))
    a_top, b_top = by[("A", top)], by[("B", top)]
    metrics = {
        "initiate_p50_ratio": overhead[0]["ratio_p50"],
        f"initiate_rps_ratio_{top}": round(a_top.rps / b_top.rps, 3) if b_top.rps else 0.0,
        "cpu_ms_per_initiate_server": round(a_top.cpu_ms_per_request.get("gunicorn", math.nan), 2),
        "cpu_ms_per_initiate_postgres": round(a_top.cpu_ms_per_request.get("postgres", math.nan), 2),
        "initiate_overhead_p50_ms": overhead[0]["p50_ms"],
        "initiate_overhead_p99_ms": overhead[0]["p99_ms"],
        f"initiate_rps_{top}": round(by[("A", top)].rps, 1),
        "sql_per_initiate": queries["initiate_max"],
        "sql_per_webhook": max(queries["answer_max"], queries["status_max"]),
        "worker_peak_rss_mb": max(peak_rss.values(), default=0),
        "events_p50_ms": latency["p50_ms"],
        "events_p99_ms": latency["p99_ms"],
        "events_burst_p50_ms": burst["p50_ms"],
        "events_burst_p99_ms": burst["p99_ms"],
        "deliveries_per_s": burst["deliveries_per_s"],
        "events_lost": latency["lost"] + burst["lost"],
        "events_out_of_order": latency["out_of_order_calls"] + burst["out_of_order_calls"],
        "outage_lost": outage["lost"],
        "outage_out_of_order": outage["out_of_order_calls"],
        "outage_recovered_s": outage["recovered_s"],
        "errors": errors + len(consistency) + event_errors,
    }
    target_status = {}
    for key, (op, bound) in TARGETS.items():
        metric_key = f"initiate_rps_ratio_{top}" if key == "initiate_rps_ratio_32" else key
        if metric_key in metrics:
            target_status[metric_key] = {"target": f"{op} {bound}", "met": check(metrics[metric_key], op, bound)}

    out = sys.stdout
    print("", file=out)
    print(
        f"Burki benchmark: {platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()}), "
        f"gunicorn {args.workers} {args.worker_class} workers"
        + (f" x {args.threads} threads" if args.threads > 1 else "")
        + ", PostgreSQL, "
        + ("default settings" if args.conn_max_age is None else f"CONN_MAX_AGE={args.conn_max_age}")
        + ", DEBUG=0, LOG_LEVEL=INFO",
        file=out,
    )
    print(
        f"Setup: organization max_concurrent_calls={seeded['max_concurrent_calls']} and Twilio account "
        f"calls_per_second={seeded['calls_per_second']} (unlimited): the fake Twilio never ends a call, so a "
        "phase's calls stay live until it is over (they are ended between phases, as the provider's completed "
        "webhook would), and the production defaults (10 live calls, Twilio 1 call/s) would answer 429.",
        file=out,
    )
    print(
        f"Webhooks: {provider} provider"
        + (
            " (TwilioBackend has no verify_webhook/parse_event/answer yet)"
            if provider == "sandbox" and args.webhooks == "auto"
            else ""
        )
        + "; status callbacks: each call gets its 4 events in order (one client per call), no event sent twice.",
        file=out,
    )
    print("", file=out)
    print(table(results), file=out)
    print("", file=out)
    print("A over B (Burki's initiate minus the bare SDK's calls.create, same fake Twilio):", file=out)
    for o in overhead:
        print(
            f"  {o['load']:>11}: p50 +{o['p50_ms']:.2f} ms, p99 +{o['p99_ms']:.2f} ms, "
            f"A/B p50 x{o['ratio_p50']:.2f}, p99 x{o['ratio_p99']:.2f}",
            file=out,
        )
    print(
        f"A/B at {top} clients: {metrics[f'initiate_rps_ratio_{top}'] * 100:.0f} % of the bare SDK's requests per "
        f"second ({a_top.rps:.0f}/s against {b_top.rps:.0f}/s); CPU per initiate: "
        f"{metrics['cpu_ms_per_initiate_server']:.2f} ms in the server, "
        f"{metrics['cpu_ms_per_initiate_postgres']:.2f} ms in PostgreSQL (before issue 16: "
        f"{CPU_REFERENCE_MS['gunicorn']:.1f} and {CPU_REFERENCE_MS['postgres']:.1f})",
        file=out,
    )
    print(
        f"SQL queries (statements; BEGIN/COMMIT not counted): initiate {queries['initiate_steady']} "
        f"(max {queries['initiate_max']} with the once-a-minute API key last_used_at write; per request "
        f"{queries['initiate']}), answer webhook {queries['answer_max']}, status callback {queries['status_max']} "
        f"(per event: {queries['status_per_event_max']})",
        file=out,
    )
    print(
        f"Database round trips (with BEGIN/COMMIT): initiate {queries['initiate_round_trips_max']}, answer webhook "
        f"{queries['answer_round_trips_max']}, status callback {queries['status_round_trips_max']}",
        file=out,
    )
    print("", file=out)
    print(
        f"Where an initiate's time goes (in process, through the WSGI handler, mean of {stages['rounds']} sequential "
        "requests; CPU is the worker's, wall includes waiting for PostgreSQL and the fake):",
        file=out,
    )
    print(f"  {'stage':50} {'cpu ms':>7} {'wall ms':>8}", file=out)
    for stage in stages["stages"]:
        print(f"  {stage['stage']:50} {stage['cpu_ms']:>7.2f} {stage['wall_ms']:>8.2f}", file=out)
    print(f"  {'total':50} {stages['total']['cpu_ms']:>7.2f} {stages['total']['wall_ms']:>8.2f}", file=out)
    print("", file=out)
    print(
        "D call events to a webhook receiver (2 Celery workers, Redis; time from the status callback to the "
        "receiver's receipt):",
        file=out,
    )
    for label, part in (("sequential calls", latency), (f"burst, {ev.EventsRun.burst_clients} clients", burst)):
        print(
            f"  {label:22} {part['delivered']:>5}/{part['events']} events, p50 {part['p50_ms']} ms, "
            f"p99 {part['p99_ms']} ms, max {part['max_ms']} ms; lost {part['lost']}, out of order "
            f"{part['out_of_order_calls']} call(s), duplicates {part['duplicates']}, bad signatures "
            f"{part['bad_signatures']}",
            file=out,
        )
    print(
        f"  burst throughput: {burst['deliveries_per_s']} deliveries/s (status callbacks sent at "
        f"{burst['callbacks_per_s']}/s; the last delivery {burst['drain_after_last_callback_s']} s after the last "
        f"callback), worker CPU {burst['worker_cpu_ms_per_delivery']} ms per delivery",
        file=out,
    )
    print(
        f"  receiver down {args.outage_seconds:g} s with calls going on: {outage['delivered']}/{outage['events']} "
        f"events delivered ({outage['during_outage_events']} emitted during the outage), the last "
        f"{outage['recovered_s']} s after it came back; lost {outage['lost']}, out of order "
        f"{outage['out_of_order_calls']} call(s), duplicates {outage['duplicates']}",
        file=out,
    )
    print(f"  database: {events['stats']}", file=out)
    print("", file=out)
    print(
        "Peak RSS (VmHWM) per gunicorn worker: " + ", ".join(f"pid {p}: {mb} MB" for p, mb in peak_rss.items()),
        file=out,
    )
    print(
        f"Database after the run: {db_stats['calls']} calls ({db_stats['live_calls']} live), "
        f"{db_stats['call_events']} call events; fake Twilio created {fake_stats}",
        file=out,
    )
    noisy = [
        f"{r.name} {r.load}"
        for r in results
        if r.cpu_ms_per_request.get("other", 0.0) > 0.2 * max(sum(r.cpu_ms_per_request.values()), 1e-9)
    ]
    if noisy:
        print(
            f"NOTE: the rest of the machine used over 20% of the CPU during {len(noisy)} phase(s) "
            f"({'; '.join(noisy)}): their figures are pessimistic; run again on a quiet machine to compare.",
            file=out,
        )
    for problem in consistency:
        print(f"INCONSISTENT: {problem}", file=out)
    for r in results:
        for sample in r.error_samples:
            print(f"error in {r.name} {r.load}: {sample}", file=out)
    print(
        "Targets: "
        + ", ".join(f"{k} {v['target']}: {'met' if v['met'] else 'MISSED'}" for k, v in target_status.items()),
        file=out,
    )
    print("BENCH " + " ".join(f"{k}={v}" for k, v in metrics.items()), file=out)

    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"host": platform.node(), "cores": os.cpu_count(), "python": platform.python_version()},
        "settings": {
            "workers": args.workers,
            "worker_class": args.worker_class,
            "threads": args.threads,
            "conn_max_age": args.conn_max_age,
            "max_concurrent_calls": seeded["max_concurrent_calls"],
            "calls_per_second": seeded["calls_per_second"],
            "webhook_provider": provider,
            "sequential": args.sequential,
            "levels": levels,
            "max_requests": args.max_requests,
            "max_seconds": args.max_seconds,
        },
        "phases": [r.summary() for r in results],
        "overhead": overhead,
        "queries": queries,
        "stages": stages,
        "peak_rss_mb": peak_rss,
        "database": db_stats,
        "fake_twilio_created": fake_stats,
        "consistency": consistency,
        "events": events,
        "metrics": metrics,
        "targets": target_status,
        "duration_s": round(time.monotonic() - began, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {args.output} ({report['duration_s']} s)")
    signal.alarm(0)
    if metrics["errors"]:
        return 1
    if args.strict and not all(v["met"] for v in target_status.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
