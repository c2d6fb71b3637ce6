from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from calls.retention import BATCH_SIZE, calls_apply_retention


class Command(BaseCommand):
    help = (
        "Delete calls (and their events) older than each organization's call_retention_days, and redact those "
        "older than its redact_after_days, in batches. Safe to run from cron, daily; Celery beat runs it too."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="Calls per transaction.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = calls_apply_retention(batch_size=max(1, options["batch_size"]))
        self.stdout.write(
            f"Deleted {result.deleted_calls} call(s) and {result.deleted_events} event(s); "
            f"redacted {result.redacted_calls} call(s)."
        )
