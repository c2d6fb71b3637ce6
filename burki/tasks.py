"""Periodic work of the project package (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from burki.idempotency import idempotency_purge_expired
from burki.tokens import refresh_tokens_purge_expired


@shared_task(name="burki.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    return idempotency_purge_expired()


@shared_task(name="burki.purge_expired_refresh_tokens")
def purge_expired_refresh_tokens() -> int:
    return refresh_tokens_purge_expired()
