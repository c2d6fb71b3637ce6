"""Celery tasks: thin, idempotent, and given ids only; the database says what is due."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from webhooks import services


# A database that blinks is tried again shortly; whatever else fails, the sweep finds the delivery again.
@shared_task(
    name=services.DELIVER_TASK, ignore_result=True, autoretry_for=(DatabaseError,), retry_backoff=1, max_retries=3
)
def webhook_deliver(delivery_id: int) -> None:
    """Attempt one delivery if it is still due (a duplicate or late message does nothing)."""
    services.delivery_attempt(delivery_id=delivery_id)


@shared_task(name=services.SWEEP_TASK, ignore_result=True)
def webhook_sweep() -> int:
    """Queue every due delivery whose message is missing (beat runs this every few seconds)."""
    return services.deliveries_sweep()
