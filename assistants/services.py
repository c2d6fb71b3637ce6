from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, QuerySet

from assistants.models import DEFAULT_MAX_CALL_LENGTH, Assistant, ConversationFlow, PhoneNumber
from assistants.secrets import keep_masked_secrets
from assistants.selectors import assistant_get, flow_get
from assistants.validators import flow_definition_problems
from burki.errors import BadGateway, Conflict, GatewayTimeout, InvalidInput, ServiceError, limit_reached
from burki.models import Organization
from telephony.backends import get_backend
from telephony.backends.base import ProviderAccount, TelephonyError
from telephony.numbers import mask_number
from telephony.selectors import telephony_account_get

logger = logging.getLogger(__name__)

# Unknown and foreign ids get the same answer: an id in another organization must not be told apart.
NOT_IN_ORGANIZATION = "Not found in your organization."
# Only ever about the organization's own numbers: whether another organization registered a number is never told.
NUMBER_TAKEN = "This number is already registered in your organization."
UNSET: Any = object()


def _validation_error(exc: ValidationError) -> InvalidInput:
    errors = {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
    return InvalidInput("Invalid request.", errors=errors)


def _apply_relations(
    number: PhoneNumber,
    *,
    organization: Organization,
    telephony_account_id: int | Any | None,
    assistant_id: int | Any | None,
    flow_id: int | Any | None,
) -> None:
    errors: dict[str, list[str]] = {}
    if assistant_id not in (UNSET, None) and flow_id not in (UNSET, None):
        raise InvalidInput(
            "A number is assigned to an assistant or to a flow, not both.",
            errors={"flow_id": ["Give assistant_id or flow_id, not both."]},
        )
    if telephony_account_id is not UNSET and telephony_account_id is not None:
        account = telephony_account_get(organization=organization, account_id=telephony_account_id)
        if account is None:
            errors["telephony_account_id"] = [NOT_IN_ORGANIZATION]
        else:
            number.telephony_account = account
    # Assigning to one clears the other: a number answers with exactly one thing.
    if assistant_id is not UNSET:
        number.assistant = None
        if assistant_id is not None:
            assistant = assistant_get(organization=organization, assistant_id=assistant_id)
            if assistant is None:
                errors["assistant_id"] = [NOT_IN_ORGANIZATION]
            else:
                number.assistant, number.flow = assistant, None
    if flow_id is not UNSET:
        number.flow = None
        if flow_id is not None:
            flow = flow_get(organization=organization, flow_id=flow_id)
            if flow is None:
                errors["flow_id"] = [NOT_IN_ORGANIZATION]
            else:
                number.flow, number.assistant = flow, None
    if errors:
        raise InvalidInput("Invalid request.", errors=errors)


def phone_number_registration_check(*, number: PhoneNumber, registered: tuple[str, int] | None = None) -> None:
    """Refuse what saving `number` (cleaned, E.164) must not do.

    Its organization must not hold the number already (other organizations' numbers are never looked at). A new
    number, or one that changes number or telephony account (`registered` is what is stored: number and account
    id), must be one the account holds: its provider is asked, so this must never run inside a transaction.
    """
    taken = PhoneNumber.objects.filter(organization_id=number.organization_id, phone_number=number.phone_number)
    if number.pk is not None:
        taken = taken.exclude(pk=number.pk)
    if taken.exists():
        raise InvalidInput("Invalid request.", errors={"phone_number": [NUMBER_TAKEN]})
    if registered != (number.phone_number, number.telephony_account_id):
        _ownership_verify(number)


def _ownership_verify(number: PhoneNumber) -> None:
    account = number.telephony_account
    if account.organization_id != number.organization_id:
        # Never ask a provider on behalf of another organization's account (clean() refuses the pair anyway).
        raise InvalidInput("Invalid request.", errors={"telephony_account_id": [NOT_IN_ORGANIZATION]})
    try:
        owned = get_backend(account.provider).owned_numbers(
            ProviderAccount(id=account.pk, provider=account.provider, credentials=account.credentials),
            number=number.phone_number,
        )
    except TelephonyError as exc:
        logger.warning(
            "number %s on account %s: ownership check failed (%s): %s",
            mask_number(number.phone_number),
            account.pk,
            exc.kind,
            exc,
        )
        raise _ownership_error(exc, account_name=account.name) from None
    if not any(item.number == number.phone_number for item in owned):
        raise InvalidInput(
            "The telephony account does not own this number.",
            errors={
                "phone_number": [
                    f"{number.phone_number} is not a number of the {account.get_provider_display()} account "
                    f"'{account.name}'."
                ]
            },
        )


def _ownership_error(exc: TelephonyError, *, account_name: str) -> ServiceError:
    could_not = "Could not verify that the telephony account owns this number, so nothing was saved"
    if exc.kind == TelephonyError.RATE_LIMITED:
        return limit_reached(
            f"{could_not}: the provider is rate limiting: {exc.message}",
            limit="provider",
            retry_after=exc.retry_after or 1,
        )
    if exc.kind == TelephonyError.UNAVAILABLE:
        return GatewayTimeout(f"{could_not}: {exc.message}")
    if exc.http_status is None:
        # Refused before anything was sent: the account cannot be asked as it is (missing credentials, ...).
        return InvalidInput(f"{could_not}: {exc.message}", errors={"telephony_account_id": [exc.message]})
    return BadGateway(f"{could_not}: the provider refused to list the numbers of the account '{account_name}': {exc}")


def _save(number: PhoneNumber) -> PhoneNumber:
    try:
        with transaction.atomic():
            number.save()
    except IntegrityError:
        # Lost a race with another request registering the same number in this organization.
        raise InvalidInput("Invalid request.", errors={"phone_number": [NUMBER_TAKEN]}) from None
    return number


def _cleaned(number: PhoneNumber) -> None:
    try:
        # The unique constraint is checked by phone_number_registration_check; the assistant-or-flow one holds by
        # construction (_apply_relations).
        number.full_clean(validate_constraints=False)
    except ValidationError as exc:
        raise _validation_error(exc) from None


def phone_number_create(
    *,
    organization: Organization,
    phone_number: str,
    telephony_account_id: int,
    assistant_id: int | None = None,
    flow_id: int | None = None,
    friendly_name: str = "",
    is_active: bool = True,
) -> PhoneNumber:
    number = PhoneNumber(
        organization=organization, phone_number=phone_number, friendly_name=friendly_name, is_active=is_active
    )
    _apply_relations(
        number,
        organization=organization,
        telephony_account_id=telephony_account_id,
        assistant_id=assistant_id,
        flow_id=flow_id,
    )
    _cleaned(number)
    phone_number_registration_check(number=number)
    return _save(number)


def phone_number_update(
    *,
    number: PhoneNumber,
    phone_number: str | Any = UNSET,
    telephony_account_id: int | Any = UNSET,
    assistant_id: int | Any | None = UNSET,
    flow_id: int | Any | None = UNSET,
    friendly_name: str | Any = UNSET,
    is_active: bool | Any = UNSET,
) -> PhoneNumber:
    registered = (number.phone_number, number.telephony_account_id)
    if phone_number is not UNSET:
        number.phone_number = phone_number
    if friendly_name is not UNSET:
        number.friendly_name = friendly_name
    if is_active is not UNSET:
        number.is_active = is_active
    _apply_relations(
        number,
        organization=number.organization,
        telephony_account_id=telephony_account_id,
        assistant_id=assistant_id,
        flow_id=flow_id,
    )
    _cleaned(number)
    phone_number_registration_check(number=number, registered=registered)
    return _save(number)


def phone_number_delete(*, number: PhoneNumber) -> None:
    number.delete()


# --- assistants and flows --------------------------------------------------------------------------------------

MAX_SETTINGS_BYTES = 16 * 1024
MAX_SETTINGS_LEVELS = 6
MAX_DEFINITION_BYTES = 256 * 1024
# How many names a 409 lists before it only counts the rest.
MAX_NAMED = 10


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _deeper_than(value: Any, *, levels: int) -> bool:
    """Whether objects and lists nest more than `levels` deep, the outermost being level 1."""
    containers = [value] if isinstance(value, dict | list) else []
    for _ in range(levels):
        containers = [
            child
            for container in containers
            for child in (container.values() if isinstance(container, dict) else container)
            if isinstance(child, dict | list)
        ]
    return bool(containers)


def assistant_settings_checked(*, submitted: Mapping[str, Any] | Any, stored: Any) -> tuple[dict[str, Any], list[str]]:
    """The settings object to store, and what is wrong with it (nothing when the list is empty).

    Also what the admin's form calls: a mask sent back keeps the stored secret there as here.
    """
    if not isinstance(submitted, Mapping):
        return {}, ["Must be a JSON object."]
    too_deep = f"Objects and lists may nest at most {MAX_SETTINGS_LEVELS} levels deep."
    submitted = dict(submitted)
    # Checked before anything recursive walks it: a few hundred levels would exhaust the stack.
    if _deeper_than(submitted, levels=MAX_SETTINGS_LEVELS):
        return {}, [too_deep]
    settings, unmatched = keep_masked_secrets(submitted, stored)
    problems = [f"'{path}' is the mask, but no secret is stored there: send the secret itself." for path in unmatched]
    # Again after: a kept secret may itself be an object.
    if _deeper_than(settings, levels=MAX_SETTINGS_LEVELS):
        problems.append(too_deep)
    elif _json_bytes(settings) > MAX_SETTINGS_BYTES:
        problems.append(f"At most {MAX_SETTINGS_BYTES} bytes as JSON.")
    return settings, problems


def _apply_settings(assistant: Assistant, settings: Mapping[str, Mapping[str, Any] | Any]) -> None:
    errors: dict[str, list[str]] = {}
    checked: dict[str, dict[str, Any]] = {}
    for field, submitted in settings.items():
        checked[field], problems = assistant_settings_checked(submitted=submitted, stored=getattr(assistant, field))
        if problems:
            errors[field] = problems
    if errors:
        raise InvalidInput("Invalid request.", errors=errors)
    for field, value in checked.items():
        setattr(assistant, field, value)


def _save_assistant(assistant: Assistant) -> Assistant:
    try:
        assistant.full_clean()
    except ValidationError as exc:
        raise _validation_error(exc) from None
    assistant.save()
    return assistant


def _still_used_by(numbers: list[str], flows: list[str]) -> str:
    def listed(names: list[str]) -> str:
        more = len(names) - MAX_NAMED
        return ", ".join(names[:MAX_NAMED]) + (f" and {more} more" if more > 0 else "")

    users: list[str] = []
    if numbers:
        users.append(f"{len(numbers)} phone number(s): {listed(numbers)}")
    if flows:
        quoted = [f"'{name}'" for name in flows]
        users.append(f"{len(flows)} flow(s): {listed(quoted)}")
    # Empty only when a concurrent request changed them between the refusal and this query.
    return "; ".join(users) or "other records"


def _numbers_of(queryset: QuerySet[PhoneNumber]) -> list[str]:
    return [str(number) for number in queryset.order_by("phone_number").values_list("phone_number", flat=True)]


def assistant_create(
    *,
    organization: Organization,
    name: str,
    description: str = "",
    is_active: bool = True,
    welcome_message: str = "",
    max_call_length: int = DEFAULT_MAX_CALL_LENGTH,
    llm_settings: Mapping[str, Any] | None = None,
    tts_settings: Mapping[str, Any] | None = None,
    stt_settings: Mapping[str, Any] | None = None,
    custom_settings: Mapping[str, Any] | None = None,
) -> Assistant:
    # The welcome message's {{variables}} are rendered per call, by the calls app; here it is stored as given.
    assistant = Assistant(
        organization=organization,
        name=name,
        description=description,
        is_active=is_active,
        welcome_message=welcome_message,
        max_call_length=max_call_length,
    )
    _apply_settings(
        assistant,
        {
            "llm_settings": llm_settings or {},
            "tts_settings": tts_settings or {},
            "stt_settings": stt_settings or {},
            "custom_settings": custom_settings or {},
        },
    )
    return _save_assistant(assistant)


def assistant_update(
    *,
    assistant: Assistant,
    name: str | Any = UNSET,
    description: str | Any = UNSET,
    is_active: bool | Any = UNSET,
    welcome_message: str | Any = UNSET,
    max_call_length: int | Any = UNSET,
    llm_settings: Mapping[str, Any] | Any = UNSET,
    tts_settings: Mapping[str, Any] | Any = UNSET,
    stt_settings: Mapping[str, Any] | Any = UNSET,
    custom_settings: Mapping[str, Any] | Any = UNSET,
) -> Assistant:
    fields = {
        "name": name,
        "description": description,
        "is_active": is_active,
        "welcome_message": welcome_message,
        "max_call_length": max_call_length,
    }
    for field, value in fields.items():
        if value is not UNSET:
            setattr(assistant, field, value)
    # A settings object sent replaces the stored one whole; only masked secrets carry over from it.
    settings = {
        "llm_settings": llm_settings,
        "tts_settings": tts_settings,
        "stt_settings": stt_settings,
        "custom_settings": custom_settings,
    }
    _apply_settings(assistant, {field: value for field, value in settings.items() if value is not UNSET})
    return _save_assistant(assistant)


def assistant_delete(*, assistant: Assistant) -> None:
    try:
        with transaction.atomic():
            assistant.delete()
    except ProtectedError:
        numbers = _numbers_of(assistant.phone_numbers.all())
        flows = list(assistant.flows.order_by("name", "id").values_list("name", flat=True))
        raise Conflict(
            f"This assistant is still used by {_still_used_by(numbers, flows)}. Reassign or delete them first."
        ) from None


def _apply_flow_input(
    flow: ConversationFlow,
    *,
    organization: Organization,
    base_assistant_id: int | Any,
    definition: Any,
) -> None:
    errors: dict[str, list[str]] = {}
    if base_assistant_id is not UNSET:
        assistant = assistant_get(organization=organization, assistant_id=base_assistant_id)
        if assistant is None:
            errors["base_assistant_id"] = [NOT_IN_ORGANIZATION]
        else:
            flow.base_assistant = assistant
    if definition is not UNSET:
        if _json_bytes(definition) > MAX_DEFINITION_BYTES:
            problems = [f"At most {MAX_DEFINITION_BYTES} bytes as JSON."]
        else:
            problems = flow_definition_problems(definition)
        if problems:
            errors["definition"] = problems
        else:
            flow.definition = definition
    if errors:
        detail = "Invalid flow definition." if "definition" in errors else "Invalid request."
        raise InvalidInput(detail, errors=errors)


def _save_flow(flow: ConversationFlow) -> ConversationFlow:
    try:
        flow.full_clean()
    except ValidationError as exc:
        error = _validation_error(exc)
        if error.errors and "base_assistant" in error.errors:
            error.errors["base_assistant_id"] = error.errors.pop("base_assistant")
        raise error from None
    flow.save()
    return flow


def flow_create(
    *,
    organization: Organization,
    name: str,
    base_assistant_id: int,
    definition: Any,
    is_active: bool = True,
) -> ConversationFlow:
    flow = ConversationFlow(organization=organization, name=name, is_active=is_active)
    _apply_flow_input(flow, organization=organization, base_assistant_id=base_assistant_id, definition=definition)
    return _save_flow(flow)


def flow_update(
    *,
    flow: ConversationFlow,
    name: str | Any = UNSET,
    base_assistant_id: int | Any = UNSET,
    definition: Any = UNSET,
    is_active: bool | Any = UNSET,
) -> ConversationFlow:
    if name is not UNSET:
        flow.name = name
    if is_active is not UNSET:
        flow.is_active = is_active
    _apply_flow_input(flow, organization=flow.organization, base_assistant_id=base_assistant_id, definition=definition)
    return _save_flow(flow)


def flow_delete(*, flow: ConversationFlow) -> None:
    try:
        with transaction.atomic():
            flow.delete()
    except ProtectedError:
        numbers = _numbers_of(flow.phone_numbers.all())
        raise Conflict(
            f"This flow is still used by {_still_used_by(numbers, [])}. Reassign or delete them first."
        ) from None
