"""A real Celery worker process for tests: our code and test settings, on the real Redis and the test database.

`celery_worker_process` (exposed in tests/conftest.py) is a factory: `celery_worker_process(concurrency=2)` starts a
`python -m celery -A burki worker` and returns a `WorkerProcess` once it is ready; every worker it started is stopped
when the test ends. The test process publishes to the same Redis database for the duration of the test, so
`task.delay()` (and `transaction.on_commit(...)` in the live server) reaches the worker. The worker reaches our
webhooks at `live_server.url` (PUBLIC_BASE_URL), and data is committed (`transactional_db`), so both processes see it.

Needs PostgreSQL (a worker process cannot open the test run's in-memory SQLite database) and Redis on 127.0.0.1:6379:
on SQLite the test is skipped; on PostgreSQL an unreachable Redis fails it, since a skipped test proves nothing in CI.
Deselect these tests with `-m "not worker"`. The Redis database number is the `redis_db` argument, else
TEST_REDIS_DB, else 10; it is flushed first, so give parallel test runs different numbers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import kombu.pools
import pytest
from django.db import connection

from burki.celery import app as celery_app

PROJECT_DIR = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


@dataclass
class WorkerProcess:
    """A started worker: `log()` is everything it wrote so far; `stop()` shuts it down warmly, `kill()` crashes it."""

    process: subprocess.Popen[bytes]
    log_path: Path
    hostname: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Warm shutdown (SIGTERM: running tasks finish, held ones go back to the broker); then its exit status."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        self.kill()
        return self.process.returncode

    def pool_pids(self) -> list[int]:
        """The prefork pool's processes (Linux). SIGKILL one to lose a worker mid-task: with acks_late and
        reject_on_worker_lost its task goes back to the queue at once (killing the whole worker leaves it with Redis
        until the visibility timeout, an hour)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, as a machine that dies would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the group worker_spawn started it in
        self.process.wait(STOP_TIMEOUT)

    def wait_for_log(self, text: str, *, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if not self.running():
                pytest.fail(f"the Celery worker exited (status {self.process.returncode}):\n{self.log()[-5000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {text!r} from the Celery worker within {timeout:.0f}s:\n{self.log()[-5000:]}")
            time.sleep(0.1)


StartWorker = Callable[..., WorkerProcess]


def worker_spawn(
    *, env: Mapping[str, str], log_path: Path, concurrency: int = 1, pool: str = "prefork", args: tuple[str, ...] = ()
) -> WorkerProcess:
    """Start `python -m celery -A burki worker` in the project with exactly `env`; its output goes to `log_path`.

    Returns at once: `wait_for_log(" ready.")` before publishing anything. Stop it with `stop()` or `kill()`.
    """
    hostname = f"test-{uuid.uuid4().hex[:8]}@%h"
    command = [
        sys.executable, "-m", "celery", "-A", "burki", "worker",
        "--loglevel=INFO", f"--concurrency={concurrency}", f"--pool={pool}", f"--hostname={hostname}",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        *args,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and project)
            command,
            cwd=PROJECT_DIR,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() reaches the pool's processes too
        )
    return WorkerProcess(process=process, log_path=log_path, hostname=hostname)


def database_url() -> str:
    """The URL of the database this test uses (the test database, not the configured one)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


def _redis_ready(url: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis at {url} is unreachable ({exc}): this test runs a real Celery worker against it. "
            'Start Redis, point TEST_REDIS_URL elsewhere, or deselect these tests with -m "not worker".'
        )


def _reset_producers() -> None:
    # Connections (and the producer pools, kept by kombu per broker) are bound to the URL they were opened with:
    # close and forget them all, so that the next publish opens a connection to the broker configured now.
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def celery_worker_process(
    transactional_db: Any,
    live_server: Any,
    settings: Any,
    tmp_path: Path,
) -> Iterator[StartWorker]:
    """`start(redis_db=None, concurrency=1, pool="prefork", env=None, args=())`: a ready worker (see the module)."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "runs a real Celery worker process, which cannot open this run's in-memory SQLite test database: "
            "run the suite on PostgreSQL (make test-postgres)"
        )
    settings.PUBLIC_BASE_URL = live_server.url
    workers: list[WorkerProcess] = []
    broker: dict[str, str] = {}
    previous_broker = (os.environ.get("CELERY_BROKER_URL"), celery_app.conf.broker_url)

    def start(
        *,
        redis_db: int | None = None,
        concurrency: int = 1,
        pool: str = "prefork",
        env: Mapping[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> WorkerProcess:
        """Start one worker. Several workers of one test share one broker (the first one's `redis_db`).

        `env` adds environment variables (settings read from the environment: SANDBOX_CALL_SECONDS=1, ...);
        `args` adds `celery worker` options.
        """
        if not broker:
            number = redis_db if redis_db is not None else int(os.environ.get("TEST_REDIS_DB", "10"))
            broker["url"] = f"{REDIS_URL}/{number}"
            _redis_ready(broker["url"])
            # Celery reads the environment before its configuration (see burki/settings_test.py): set both.
            os.environ["CELERY_BROKER_URL"] = broker["url"]
            celery_app.conf.broker_url = broker["url"]
            _reset_producers()
        elif redis_db is not None and broker["url"] != f"{REDIS_URL}/{redis_db}":
            raise ValueError(f"the workers of one test share one broker: {broker['url']}")
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "burki.settings_test",
            "TEST_CELERY_BROKER_URL": broker["url"],
            "DATABASE_URL": database_url(),
            "PUBLIC_BASE_URL": live_server.url,
            **(env or {}),
        }
        environment.pop("CELERY_BROKER_URL", None)  # settings_test derives it from TEST_CELERY_BROKER_URL
        worker = worker_spawn(
            env=environment,
            log_path=tmp_path / f"worker-{len(workers) + 1}.log",
            concurrency=concurrency,
            pool=pool,
            args=args,
        )
        workers.append(worker)
        worker.wait_for_log(" ready.")
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
        if broker:
            environ, configured = previous_broker
            if environ is None:
                os.environ.pop("CELERY_BROKER_URL", None)
            else:
                os.environ["CELERY_BROKER_URL"] = environ
            celery_app.conf.broker_url = configured
            _reset_producers()
