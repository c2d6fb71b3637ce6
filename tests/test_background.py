"""Background work: the Celery app, beat's schedule, the periodic tasks, and a real worker running them."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from burki.celery import app as celery_app
from burki.models import IdempotencyRecord
from burki.tasks import purge_expired_refresh_tokens, purge_idempotency_keys
from calls.lifecycle import calls_expire_stale
from calls.models import Call
from calls.tasks import expire_stale_calls
from tests.factories import CallFactory, UserFactory
from tests.fakes.worker import worker_spawn


def age(call: Call, **delta: float) -> None:
    Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(**delta))


def wait_until(predicate: Any, *, timeout: float = 30.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f}s"
        time.sleep(0.2)


def test_beat_schedules_only_tasks_that_a_worker_has() -> None:
    celery_app.loader.import_default_modules()  # what a worker does at start: every app's tasks module

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert {
        "calls.expire_stale_calls",
        "burki.purge_idempotency_keys",
        "burki.purge_expired_refresh_tokens",
    } <= scheduled
    assert scheduled <= set(celery_app.tasks), f"unknown tasks: {scheduled - set(celery_app.tasks)}"


def test_beat_expires_stale_calls_every_minute_and_purges_keys_hourly() -> None:
    by_task: dict[str, Any] = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    expire, purge = by_task["calls.expire_stale_calls"], by_task["burki.purge_idempotency_keys"]

    assert (expire["schedule"], purge["schedule"]) == (60, 3600)
    # A message that waited longer than its interval (a worker down for an hour) is dropped, not run 60 times.
    assert (expire["options"]["expires"], purge["options"]["expires"]) == (60, 3600)


def test_tests_publish_to_an_in_process_broker_that_nothing_consumes() -> None:
    assert celery_app.conf.broker_url == "memory://"


@pytest.mark.django_db
def test_the_expire_task_fails_a_stale_call_and_spares_a_fresh_one() -> None:
    stuck, fresh = CallFactory(status="queued"), CallFactory(status="queued")
    age(stuck, minutes=6)

    result = expire_stale_calls.apply()

    assert result.get() == 1
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert (stuck.status, stuck.end_reason, fresh.status) == ("failed", "stale", "queued")


@pytest.mark.django_db
def test_the_purge_task_deletes_only_expired_idempotency_keys(organization: Any) -> None:
    now = timezone.now()
    IdempotencyRecord.objects.create(organization=organization, key="old", fingerprint="f", expires_at=now)
    IdempotencyRecord.objects.create(
        organization=organization, key="new", fingerprint="f", expires_at=now + timedelta(hours=1)
    )

    assert purge_idempotency_keys.apply().get() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db
def test_the_refresh_token_purge_deletes_only_expired_token_records() -> None:
    user = UserFactory()
    now = timezone.now()
    OutstandingToken.objects.create(user=user, jti="old", token="", expires_at=now - timedelta(seconds=1))
    OutstandingToken.objects.create(user=user, jti="new", token="", expires_at=now + timedelta(days=1))

    assert purge_expired_refresh_tokens.apply().get() == 1
    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == ["new"]
    assert settings.CELERY_BEAT_SCHEDULE["purge-expired-refresh-tokens"]["schedule"] == 86400


@pytest.mark.django_db(transaction=True)
def test_two_expiries_at_once_fail_each_stale_call_exactly_once() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite's in-memory test database serializes them)")
    calls = [CallFactory(status="queued") for _ in range(20)]
    for call in calls:
        age(call, minutes=6)
    start = threading.Barrier(2)
    counts: list[int] = []

    def expire() -> None:
        start.wait()
        try:
            counts.append(calls_expire_stale())
        finally:
            connection.close()

    threads = [threading.Thread(target=expire) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sum(counts) == 20
    assert set(Call.objects.values_list("status", flat=True)) == {"failed"}


@pytest.mark.worker
def test_a_real_worker_runs_a_task_the_test_process_publishes(celery_worker_process: Any) -> None:
    worker = celery_worker_process()
    stuck = CallFactory(status="queued")
    age(stuck, minutes=6)

    expire_stale_calls.delay()

    wait_until(lambda: Call.objects.get(pk=stuck.pk).status == "failed", what="the worker expiring the call")
    assert "calls.expire_stale_calls" in worker.log()
    assert worker.stop() == 0


@pytest.mark.worker
def test_with_no_broker_configured_a_worker_receives_tasks_through_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `make run` starts: the default settings, DEBUG on, nothing configured but where the files go.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "TEST_CELERY_", "DJANGO_SETTINGS"))}
    env |= {"DEBUG": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "CELERY_BROKER_FOLDER": str(tmp_path)}
    worker = worker_spawn(env=env, log_path=tmp_path / "worker.log")
    try:
        worker.wait_for_log(" ready.")
        # A web process with the same settings publishes into the same folder.
        monkeypatch.setenv("CELERY_BROKER_URL", "filesystem://localhost//")  # Celery prefers it to any setting
        with Celery(set_as_current=False) as publisher:
            publisher.conf.broker_transport_options = {
                "data_folder_in": str(tmp_path / "queue"),
                "data_folder_out": str(tmp_path / "queue"),
                "control_folder": str(tmp_path / "control"),
            }
            publisher.send_task("burki.purge_idempotency_keys")
        # Received is what this shows (the database here is empty: running the task is shown elsewhere).
        worker.wait_for_log("Task burki.purge_idempotency_keys[", timeout=30)
    finally:
        worker.kill()

    assert "Connected to filesystem://" in worker.log()
    assert {"control", "processed", "queue"} <= {path.name for path in tmp_path.iterdir()}
    assert list((tmp_path / "queue").iterdir()) == []


def test_on_sqlite_a_transaction_takes_the_write_lock_up_front() -> None:
    # `make run` writes from the web server and the worker at once: a transaction that reads, then writes, must wait
    # for the lock rather than fail with "database is locked" (a 503) when it tries to upgrade.
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


@pytest.mark.worker
def test_the_harness_sees_the_pool_and_kills_the_worker_with_it(celery_worker_process: Any) -> None:
    worker = celery_worker_process(concurrency=2)
    pool = worker.pool_pids()

    worker.kill()

    assert len(pool) == 2
    assert not worker.running()
    wait_until(lambda: all(dead(pid) for pid in pool), timeout=10, what="the pool's processes dying")


def dead(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie: dead, its exit status not yet collected
