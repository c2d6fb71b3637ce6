from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from burki.devenv import dev_env_text, dotenv_values


class Command(BaseCommand):
    help = (
        "Write a .env for development beside manage.py (DEBUG on, a generated SECRET_KEY and credentials key, "
        "PUBLIC_BASE_URL) unless one exists: an existing file is never changed. `make run` runs it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--path", type=Path, default=settings.BASE_DIR / ".env", help="Default: .env beside manage.py."
        )
        parser.add_argument(
            "--public-base-url",
            default=None,
            metavar="URL",
            help="Default: the PUBLIC_BASE_URL in effect (`make run` sets it from HOST and PORT).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        public_base_url = (options["public_base_url"] or settings.PUBLIC_BASE_URL).rstrip("/")
        if not path.exists():
            path.write_text(dev_env_text(public_base_url=public_base_url))
            path.chmod(0o600)  # it holds secrets
            self.stdout.write(f"Wrote {path} for development (DEBUG on, PUBLIC_BASE_URL={public_base_url}).")
            return
        written = dotenv_values(path).get("PUBLIC_BASE_URL", "").rstrip("/")
        if written and written != public_base_url:
            # This run follows its own URL (the environment wins over the file); other shells read the file.
            self.stdout.write(
                self.style.WARNING(
                    f"{path} says PUBLIC_BASE_URL={written}, but this run serves {public_base_url}: commands in "
                    f"another shell use {written} unless you export PUBLIC_BASE_URL={public_base_url} "
                    "(or edit the file)."
                )
            )
