"""Background work on calls: thin, like views; each calls one service and may safely run twice."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from calls.retention import calls_apply_retention


@shared_task(name="calls.apply_call_retention")
def apply_call_retention() -> dict[str, int]:
    return asdict(calls_apply_retention())
