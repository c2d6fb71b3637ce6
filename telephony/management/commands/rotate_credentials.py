from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from telephony.services import telephony_credentials_rotate


class Command(BaseCommand):
    help = "Re-encrypt all provider credentials with the newest key in CREDENTIALS_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        count = telephony_credentials_rotate()
        self.stdout.write(f"Re-encrypted the credentials of {count} telephony account(s) with the newest key.")
