from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from burki.idempotency import idempotency_purge_expired


class Command(BaseCommand):
    help = "Delete stored Idempotency-Key responses older than IDEMPOTENCY_TTL. Safe to run from cron."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"Deleted {idempotency_purge_expired()} expired idempotency key(s).")
