"""Background work on calls: thin, like views; each takes ids, calls one service and may safely run twice."""

from __future__ import annotations

from celery import shared_task

from calls.lifecycle import calls_expire_stale


@shared_task(name="calls.expire_stale_calls")
def expire_stale_calls() -> int:
    return calls_expire_stale()
