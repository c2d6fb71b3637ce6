"""The demo organization `make run` serves: everything a sandbox call needs, created once and reused after."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction

from assistants.models import Assistant, ConversationFlow, PhoneNumber
from burki.errors import Conflict, InvalidInput
from burki.models import ApiKey, Membership, Organization
from burki.permissions import ADMIN
from burki.services import api_key_create
from telephony.models import Provider, TelephonyAccount

DEFAULT_SLUG = "demo"
MAX_SLUG_LENGTH = 64  # Organization.slug's max_length
ADMIN_USERNAME = "admin"
API_KEY_NAME = "demo key"
ASSISTANT_NAME = "Demo assistant"
FLOW_NAME = "Demo flow"
ACCOUNT_NAME = "Demo sandbox"
WELCOME_MESSAGE = "Hi {{ name | default('there') }}, this is Burki's demo assistant."
FLOW_DEFINITION: dict[str, Any] = {
    "nodes": [
        {"id": "greet", "type": "start", "prompt": "Greet the caller and ask how you can help."},
        {"id": "goodbye", "type": "end", "prompt": "Thank the caller and say goodbye."},
    ],
    "edges": [{"from": "greet", "to": "goodbye"}],
}
# The fictional +1 415 555 01xx range: valid per libphonenumber, and reserved so that it reaches nobody.
DEMO_NUMBERS = tuple(f"+141555501{n:02d}" for n in range(100))


@dataclass(frozen=True)
class DemoAdmin:
    username: str
    created: bool
    # Only on the run that created the user: the one time it can be shown.
    password: str | None


@dataclass(frozen=True)
class DemoSeed:
    organization: Organization
    api_key: ApiKey
    raw_key: str
    assistant: Assistant
    flow: ConversationFlow
    account: TelephonyAccount
    assistant_number: PhoneNumber
    flow_number: PhoneNumber
    # A number to call in examples: in the demo range, and none of the organization's own.
    destination: str
    admin: DemoAdmin | None
    # What this run created (the rest already existed), e.g. ("organization", "assistant").
    created: tuple[str, ...]
    # What exists but is switched off, so that calls through it are refused.
    inactive: tuple[str, ...]


def demo_seed(*, slug: str = DEFAULT_SLUG, debug: bool, role: str = ADMIN) -> DemoSeed:
    """Create what is missing of the `slug` demo organization, reuse the rest, and issue a new API key with `role`.

    With `debug`, an `admin` superuser exists afterwards (created with a random password if absent).
    """
    if len(slug) > MAX_SLUG_LENGTH:
        raise InvalidInput(f"Invalid organization slug: at most {MAX_SLUG_LENGTH} characters.")
    try:
        validate_slug(slug)
    except ValidationError:
        raise InvalidInput(
            f"Invalid organization slug {slug!r}: use letters, digits, hyphens and underscores only."
        ) from None

    created: list[str] = []
    with transaction.atomic():
        organization, new = Organization.objects.get_or_create(
            slug=slug, defaults={"name": slug.replace("-", " ").replace("_", " ").title()}
        )
        if new:
            created.append("organization")
        assistant, new = Assistant.objects.get_or_create(
            organization=organization,
            name=ASSISTANT_NAME,
            defaults={
                "description": "Answers the demo number; edit it freely in the admin.",
                "welcome_message": WELCOME_MESSAGE,
            },
        )
        if new:
            created.append("assistant")
        flow, new = ConversationFlow.objects.get_or_create(
            organization=organization,
            name=FLOW_NAME,
            defaults={"base_assistant": assistant, "definition": FLOW_DEFINITION},
        )
        if new:
            created.append("flow")
        account, new = TelephonyAccount.objects.get_or_create(
            organization=organization,
            name=ACCOUNT_NAME,
            provider=Provider.SANDBOX,
            defaults={"credentials": {}},
        )
        if new:
            created.append("telephony account")

        assistant_number = PhoneNumber.objects.filter(organization=organization, assistant=assistant).first()
        if assistant_number is None:
            assistant_number = _demo_number_create(
                organization=organization, account=account, assistant=assistant, friendly_name="Demo assistant line"
            )
            created.append("assistant number")
        flow_number = PhoneNumber.objects.filter(organization=organization, flow=flow).first()
        if flow_number is None:
            flow_number = _demo_number_create(
                organization=organization, account=account, flow=flow, friendly_name="Demo flow line"
            )
            created.append("flow number")

        # Reused as they are: someone may have switched one off on purpose, so it is reported, not switched back on.
        parts: dict[str, Assistant | ConversationFlow | TelephonyAccount | PhoneNumber] = {
            "assistant": assistant,
            "flow": flow,
            "telephony account": account,
            "assistant number": assistant_number,
            "flow number": flow_number,
        }
        inactive = tuple(name for name, item in parts.items() if not item.is_active)

        api_key, raw_key = api_key_create(organization=organization, name=API_KEY_NAME, role=role)
        admin = _admin_ensure(organization) if debug else None
        destination = _destination(organization, calling=(assistant_number, flow_number))

    return DemoSeed(
        organization=organization,
        api_key=api_key,
        raw_key=raw_key,
        assistant=assistant,
        flow=flow,
        account=account,
        assistant_number=assistant_number,
        flow_number=flow_number,
        destination=destination,
        admin=admin,
        created=tuple(created),
        inactive=inactive,
    )


def _demo_number_create(
    *,
    organization: Organization,
    account: TelephonyAccount,
    friendly_name: str,
    assistant: Assistant | None = None,
    flow: ConversationFlow | None = None,
) -> PhoneNumber:
    taken = set(PhoneNumber.objects.filter(phone_number__in=DEMO_NUMBERS).values_list("phone_number", flat=True))
    free = next((number for number in DEMO_NUMBERS if number not in taken), None)
    if free is None:
        raise Conflict(
            f"Every demo number ({DEMO_NUMBERS[0]} to {DEMO_NUMBERS[-1]}) is taken: "
            "delete another demo organization's numbers, or reuse an existing demo organization."
        )
    return PhoneNumber.objects.create(
        organization=organization,
        phone_number=free,
        friendly_name=friendly_name,
        telephony_account=account,
        assistant=assistant,
        flow=flow,
    )


def _destination(organization: Organization, *, calling: tuple[PhoneNumber, ...]) -> str:
    own = set(PhoneNumber.objects.filter(organization=organization).values_list("phone_number", flat=True))
    # Counting down from +14155550199, so the usual answer is the same for every organization. Only an
    # organization given the whole range by hand has none left: it calls another of its own.
    free = [number for number in reversed(DEMO_NUMBERS) if number not in own]
    if free:
        return free[0]
    return next(number for number in reversed(DEMO_NUMBERS) if number not in {n.phone_number for n in calling})


def _admin_ensure(organization: Organization) -> DemoAdmin:
    users = get_user_model().objects
    user = users.filter(username=ADMIN_USERNAME).first()
    password = None
    if user is None:
        password = secrets.token_urlsafe(12)
        user = users.create_superuser(username=ADMIN_USERNAME, email="", password=password)
    # A member too, so the same login gets a JWT for the demo organization (POST /api/v1/auth/token).
    Membership.objects.get_or_create(user=user, organization=organization, defaults={"role": Membership.Role.OWNER})
    return DemoAdmin(username=ADMIN_USERNAME, created=password is not None, password=password)
