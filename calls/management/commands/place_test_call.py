from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from assistants.selectors import phone_number_find
from burki.errors import ServiceError
from calls.models import Call
from calls.services import call_initiate, call_simulate
from telephony.numbers import InvalidPhoneNumber, normalize_e164

# The service names fields as the API does; a refusal here names the option the operator typed.
OPTION_NAMES = {
    "from_phone_number": "--from",
    "to_phone_number": "--to",
    "assistant_id": "--assistant",
    "welcome_message": "--welcome",
    "agenda": "--agenda",
    "variables": "--var",
}


class Command(BaseCommand):
    help = (
        "Place an outbound call exactly as POST /calls/initiate does, as the organization that holds --from. "
        "With the sandbox provider no phone rings."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="from_number", required=True, metavar="+E164", help="A number you own.")
        parser.add_argument("--to", dest="to_number", required=True, metavar="+E164", help="The number to call.")
        parser.add_argument(
            "--org",
            metavar="SLUG",
            help="The organization whose --from number places the call; needed only when several organizations "
            "hold that number.",
        )
        parser.add_argument("--assistant", type=int, metavar="ID", help="Instead of the number's assistant or flow.")
        parser.add_argument("--welcome", metavar="TEXT", help="Instead of the assistant's welcome message.")
        parser.add_argument("--agenda", metavar="TEXT")
        parser.add_argument(
            "--var",
            action="append",
            default=None,
            metavar="KEY=VALUE",
            help="A template variable (a string), repeatable; a dotted KEY (customer.name=Ada) nests.",
        )
        parser.add_argument(
            "--simulate",
            action="store_true",
            help="Sandbox only: play the call's lifecycle (initiated, ringing, answered, completed, or its magic "
            "number's outcome) at once, from this command, against the server's webhooks at PUBLIC_BASE_URL, with "
            "real signed requests. The server must be running. Without it, a worker plays it in a few seconds.",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object and nothing else.")

    def handle(self, *args: Any, **options: Any) -> None:
        variables = _variables(options["var"] or [])
        try:
            from_number = normalize_e164(options["from_number"])
        except InvalidPhoneNumber as exc:
            raise CommandError(f"--from: {exc}") from None
        found = phone_number_find(number=from_number, organization_slug=options["org"])
        if not found and options["org"]:
            raise CommandError(f"Organization {options['org']} has no number {from_number}.")
        if not found:
            raise CommandError(f"No organization owns {from_number}.")
        if len(found) > 1:
            slugs = ", ".join(held.organization.slug for held in found)
            raise CommandError(
                f"{from_number} is registered in {len(found)} organizations ({slugs}): choose one with --org SLUG."
            )
        number = found[0]
        if not number.is_active:
            raise CommandError(f"{from_number} (organization {number.organization.slug}) is inactive.")

        try:
            call = call_initiate(
                organization=number.organization,
                from_number=from_number,
                to_number=options["to_number"],
                assistant_id=options["assistant"],
                welcome_message=options["welcome"],
                agenda=options["agenda"],
                variables=variables,
                sandbox_autoplay=not options["simulate"],  # played here instead, so no worker plays it too
            )
        except ServiceError as exc:
            raise CommandError(_refusal(exc)) from exc

        simulated: list[tuple[str, int]] = []
        if options["simulate"]:
            simulated = _simulate(call)
            call.refresh_from_db()

        if options["json"]:
            result = _as_json(call, organization=number.organization.slug)
            if options["simulate"]:
                result["simulated"] = [{"request": what, "http_status": code} for what, code in simulated]
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(
                f"Call {call.pk} {call.status}: {call.from_number} -> {call.to_number} "
                f"(organization {number.organization.slug}, provider {call.provider})\n"
                f"Provider call id: {call.call_sid}\n"
                f"Welcome message: {call.welcome_message}"
            )
            for what, code in simulated:
                self.stdout.write(f"  simulated {what}: HTTP {code}")
            if simulated:
                self.stdout.write(f"Final status: {call.status} (duration {call.duration}s)")


def _simulate(call: Call) -> list[tuple[str, int]]:
    try:
        results = call_simulate(call=call)
    except ServiceError as exc:
        raise CommandError(f"Cannot simulate call {call.pk}: {exc.detail}") from exc
    except OSError as exc:
        raise CommandError(
            f"Call {call.pk} was placed, but the webhooks at PUBLIC_BASE_URL ({settings.PUBLIC_BASE_URL}) could not "
            f"be reached ({exc}). Is the server running there? (If it serves elsewhere, set PUBLIC_BASE_URL.)"
        ) from exc
    refused = [f"{what} got HTTP {code}" for what, code in results if code >= 300]
    if refused:
        raise CommandError(f"Call {call.pk}: simulated webhooks were refused: {', '.join(refused)}.")
    return results


def _variables(pairs: list[str]) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        key = key.strip()
        if not equals or not key:
            raise CommandError(f"--var {pair!r}: expected KEY=VALUE, e.g. --var name=Ada.")
        *parents, leaf = key.split(".")
        node = variables
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise CommandError(f"--var {key}: '{part}' is already given a value, so it cannot hold keys.")
        if isinstance(node.get(leaf), dict):
            raise CommandError(f"--var {key}: '{leaf}' already holds keys, so it cannot be given a value.")
        node[leaf] = value
    return variables


def _refusal(exc: ServiceError) -> str:
    message = exc.detail
    if exc.errors:
        fields = "; ".join(
            f"{OPTION_NAMES.get(field, field)}: {' '.join(messages)}" for field, messages in exc.errors.items()
        )
        message += f" ({fields})"
    if "call_id" in exc.extra:
        message += f" Call {exc.extra['call_id']} is recorded as {exc.extra['status']}."
    # One line, whatever the provider's message held: scripts read the first line of stderr.
    return " ".join(message.splitlines())


def _as_json(call: Call, *, organization: str) -> dict[str, Any]:
    return {
        "call_id": call.pk,
        "call_sid": call.call_sid,
        "status": call.status,
        "from_number": call.from_number,
        "to_number": call.to_number,
        "provider": call.provider,
        "organization": organization,
        "assistant_id": call.assistant_id,
        "flow_id": call.flow_id,
        "welcome_message": call.welcome_message,
    }
