from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from burki.models import Organization
from burki.permissions import ADMIN, ROLE_RANK
from burki.services import api_key_create

MAX_NAME_LENGTH = 100  # ApiKey.name's max_length


class Command(BaseCommand):
    help = "Create an API key for an organization and print it: the raw key alone on stdout, shown only this once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, metavar="SLUG", help="The organization's slug.")
        parser.add_argument(
            "--name", required=True, help=f"What the key is for, e.g. 'crm-sync' (at most {MAX_NAME_LENGTH} chars)."
        )
        parser.add_argument(
            "--role",
            choices=list(ROLE_RANK),
            default=ADMIN,
            help="What the key may do: member (calls, assistants, flows), admin (also numbers, accounts, keys, "
            "settings) or owner. Default: admin.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name:
            raise CommandError("--name must not be blank.")
        if len(name) > MAX_NAME_LENGTH:
            raise CommandError(f"--name must be at most {MAX_NAME_LENGTH} characters (got {len(name)}).")
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organization with slug {options['org']!r}.")

        api_key, raw_key = api_key_create(organization=organization, name=name, role=options["role"])
        # The key alone on stdout, so `KEY=$(manage.py create_api_key ...)` works; the note goes to stderr.
        self.stderr.write(
            f"API key {api_key.name!r} ({api_key.role}) for {organization.name} ({api_key.prefix}…): store it now."
        )
        self.stdout.write(raw_key)
