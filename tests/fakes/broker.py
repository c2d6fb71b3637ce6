"""What tests published: the tasks waiting in kombu's in-process memory broker (see burki/settings_test.py).

`task_queue` (exposed in tests/conftest.py) empties the queue first; `task_queue.take()` then removes and returns
every task published since, oldest first, so a test asserts on what a worker would receive, with no worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from burki.celery import app as celery_app


@dataclass(frozen=True)
class QueuedTask:
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    eta: datetime | None  # from countdown=… or eta=…


class TaskQueue:
    def take(self, queue: str = "celery") -> list[QueuedTask]:
        assert celery_app.conf.broker_url == "memory://", "only the memory broker of the test settings is read"
        taken: list[QueuedTask] = []
        with celery_app.connection_for_write() as connection:
            simple = connection.SimpleQueue(queue)
            try:
                while True:
                    try:
                        message = simple.get(block=False)
                    except simple.Empty:
                        break
                    args, kwargs, _ = message.decode()
                    eta = message.headers.get("eta")
                    taken.append(
                        QueuedTask(
                            name=message.headers["task"],
                            args=tuple(args),
                            kwargs=kwargs,
                            eta=datetime.fromisoformat(eta) if eta else None,
                        )
                    )
                    message.ack()
            finally:
                simple.close()
        return taken


@pytest.fixture
def task_queue() -> Iterator[TaskQueue]:
    queue = TaskQueue()
    queue.take()
    yield queue
    queue.take()
