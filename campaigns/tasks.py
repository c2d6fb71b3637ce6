"""Background work on campaigns: thin, like views; each may safely run twice, or many times at once."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import shared_task

from campaigns.dispatch import campaigns_dispatch


@shared_task(name="campaigns.dispatch")
def dispatch() -> dict[str, Any]:
    return asdict(campaigns_dispatch())
