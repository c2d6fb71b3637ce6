from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from assistants.demo import DEFAULT_SLUG, DemoSeed, demo_seed
from burki.errors import ServiceError
from burki.permissions import ADMIN, ROLE_RANK


class Command(BaseCommand):
    help = (
        "Create (or reuse) a demo organization with an assistant, a flow and two sandbox numbers, "
        "and print a new API key for it. Creates an 'admin' superuser too when DEBUG is on."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", default=DEFAULT_SLUG, metavar="SLUG", help=f"Default: {DEFAULT_SLUG}.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object and nothing else.")
        parser.add_argument(
            "--role", choices=list(ROLE_RANK), default=ADMIN, help="The new API key's role. Default: admin."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            seed = demo_seed(slug=options["org"], debug=settings.DEBUG, role=options["role"])
        except ServiceError as exc:
            raise CommandError(exc.detail) from exc
        if options["json"]:
            self.stdout.write(json.dumps(_as_json(seed)))
        else:
            self.stdout.write(self._as_text(seed))

    def _as_text(self, seed: DemoSeed) -> str:
        organization = seed.organization
        body = json.dumps(
            {
                "from_phone_number": seed.assistant_number.phone_number,
                "to_phone_number": seed.destination,
                "variables": {"name": "Ada"},
            }
        )
        lines = [
            self.style.SUCCESS(f"Demo organization {organization.name!r} (slug {organization.slug}) is ready."),
            f"  Created:            {', '.join(seed.created) if seed.created else 'nothing, everything was reused'}",
            f"  API key:            {seed.raw_key}",
            f"                      (role {seed.api_key.role}; new, shown only now; earlier keys stay valid)",
            f"  Assistant:          id {seed.assistant.pk}, answers {seed.assistant_number.phone_number}",
            f"  Conversation flow:  id {seed.flow.pk}, answers {seed.flow_number.phone_number}",
        ]
        if seed.admin is not None:
            if seed.admin.password is not None:
                admin = f"user {seed.admin.username}, password {seed.admin.password} (shown only now)"
            else:
                admin = f"user {seed.admin.username} (already existed, password unchanged)"
            lines.append(f"  Admin:              {settings.PUBLIC_BASE_URL}/admin/  {admin}")
        if seed.inactive:
            lines.append(
                self.style.WARNING(f"  Switched off (calls through them are refused): {', '.join(seed.inactive)}")
            )
        lines += [
            "",
            # Where `make run` serves (it sets PUBLIC_BASE_URL from PORT): for pasting into a shell on this machine.
            "Place a sandbox call (no phone rings) while `make run` serves; it completes by itself in a few seconds:",
            "",
            f"  curl -X POST {settings.PUBLIC_BASE_URL}/calls/initiate \\",
            f"    -H 'Authorization: Bearer {seed.raw_key}' \\",
            "    -H 'Content-Type: application/json' \\",
            f"    -d '{body}'",
            "",
            f'Through the flow instead: "from_phone_number": "{seed.flow_number.phone_number}".',
        ]
        return "\n".join(lines)


def _as_json(seed: DemoSeed) -> dict[str, Any]:
    return {
        "organization": seed.organization.slug,
        "organization_id": seed.organization.pk,
        "api_key": seed.raw_key,
        "api_key_role": seed.api_key.role,
        "assistant_id": seed.assistant.pk,
        "flow_id": seed.flow.pk,
        "phone_numbers": {"assistant": seed.assistant_number.phone_number, "flow": seed.flow_number.phone_number},
        "destination": seed.destination,
        "created": list(seed.created),
        "inactive": list(seed.inactive),
        "admin": (
            None
            if seed.admin is None
            else {"username": seed.admin.username, "created": seed.admin.created, "password": seed.admin.password}
        ),
    }
