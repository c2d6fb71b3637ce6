from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from calls.lifecycle import calls_expire_stale


class Command(BaseCommand):
    help = (
        "Mark as failed (end_reason 'stale') every call that reported no end well after its maximum length, "
        "or that is stuck in queued. Safe to run from cron at any frequency."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = calls_expire_stale()
        self.stdout.write(f"Expired {count} stale call(s).")
