from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
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
from telephony.backends.base import MAX_OWNED_NUMBERS, OwnedNumber, ProviderAccount, TelephonyError
from telephony.detection import MachineDetection
from telephony.models import TelephonyAccount
from telephony.numbers import InvalidPhoneNumber, mask_number, normalize_e164
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
    return _listing_error(
        exc,
        could_not="Could not verify that the telephony account owns this number, so nothing was saved",
        account_name=account_name,
        field="telephony_account_id",
    )


def _listing_error(exc: TelephonyError, *, could_not: str, account_name: str, field: str) -> ServiceError:
    """What a failed listing of an account's numbers at its provider answers; `field` is blamed when the account cannot
    be asked as it is (missing credentials, ...)."""
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
        return InvalidInput(f"{could_not}: {exc.message}", errors={field: [exc.message]})
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


# --- numbers brought in from the provider ---------------------------------------------------------------------

# One request lists or imports at most what one listing returns.
MAX_IMPORTED_NUMBERS = MAX_OWNED_NUMBERS


class ImportOutcome(StrEnum):
    IMPORTED = "imported"
    ALREADY_REGISTERED = "already_registered"  # the organization holds it already (on this account or another)
    SKIPPED = "skipped"  # listed by the provider, but not a number Burki can register (`detail` says why)


@dataclass(frozen=True)
class AvailableNumber:
    """A number the provider lists for the account, and the organization's registration of it, if any."""

    phone_number: str
    friendly_name: str
    provider_id: str
    registered: PhoneNumber | None


@dataclass(frozen=True)
class ImportResult:
    phone_number: str
    outcome: ImportOutcome
    number: PhoneNumber | None = None  # the registration: the new one, or the one that was already there
    detail: str = ""


def _listed_numbers(account: TelephonyAccount, *, could_not: str) -> list[OwnedNumber]:
    """Every number the provider lists for the account (E.164 where it can be read so), each once, in its order.
    Asks the provider: never inside a transaction."""
    try:
        owned = get_backend(account.provider).owned_numbers(
            ProviderAccount(id=account.pk, provider=account.provider, credentials=account.credentials)
        )
    except TelephonyError as exc:
        logger.warning("account %s: listing its numbers failed (%s): %s", account.pk, exc.kind, exc)
        raise _listing_error(exc, could_not=could_not, account_name=account.name, field="credentials") from None
    listed: dict[str, OwnedNumber] = {}
    for item in owned:
        try:
            number = normalize_e164(item.number)
        except InvalidPhoneNumber:
            number = item.number
        listed.setdefault(number, replace(item, number=number))
    return list(listed.values())


def _registered_in(organization_id: int, numbers: list[str]) -> dict[str, PhoneNumber]:
    registered = PhoneNumber.objects.filter(organization_id=organization_id, phone_number__in=numbers)
    return {number.phone_number: number for number in registered}


def phone_numbers_available(*, account: TelephonyAccount) -> list[AvailableNumber]:
    """The numbers the account's provider lists for it (at most MAX_OWNED_NUMBERS), each with the organization's
    registration of it, if any. Asks the provider: never inside a transaction."""
    listed = _listed_numbers(account, could_not="Could not list the numbers of the telephony account")
    registered = _registered_in(account.organization_id, [item.number for item in listed])
    return [
        AvailableNumber(
            phone_number=item.number,
            friendly_name=item.friendly_name,
            provider_id=item.provider_id,
            registered=registered.get(item.number),
        )
        for item in listed
    ]


def phone_numbers_import(
    *,
    account: TelephonyAccount,
    phone_numbers: list[str] | None = None,
    import_all: bool = False,
    assistant_id: int | None = None,
    flow_id: int | None = None,
) -> list[ImportResult]:
    """Register on `account` the chosen numbers (`phone_numbers`, or every one listed with `import_all`) that its
    provider lists for it, assigned to `assistant_id` or `flow_id` if given; numbers the organization holds already
    are left as they are. One result per number, in order.

    Invalid input, or a chosen number the provider does not list, is an InvalidInput and registers nothing; so is a
    provider that cannot be asked (429, 502, 504 as when a number is registered). The provider is asked before the
    one transaction that registers them, never inside it.
    """
    if (phone_numbers is None) == (not import_all):
        raise InvalidInput(
            "Choose the numbers to import: a list of phone_numbers, or all.",
            errors={"phone_numbers": ["Give phone_numbers or all=true, not both."]}
            if phone_numbers is not None
            else {"phone_numbers": ["Give phone_numbers, or all=true."]},
        )
    # Each chosen number (E.164) and where the request gave it first: errors name that index.
    given = _chosen_numbers(phone_numbers) if phone_numbers is not None else {}
    relations = PhoneNumber(organization=account.organization, telephony_account=account)
    _apply_relations(
        relations,
        organization=account.organization,
        telephony_account_id=UNSET,
        assistant_id=UNSET if assistant_id is None else assistant_id,
        flow_id=UNSET if flow_id is None else flow_id,
    )

    could_not = f"Could not list the numbers of the telephony account '{account.name}', so nothing was imported"
    listed = {item.number: item for item in _listed_numbers(account, could_not=could_not)}
    chosen = list(listed) if import_all else list(given)
    if not import_all:
        not_listed = {
            str(index): [f"{number} is not a number of the {account.get_provider_display()} account '{account.name}'."]
            for number, index in given.items()
            if number not in listed
        }
        if not_listed:
            raise InvalidInput(
                "The telephony account does not own every number chosen; nothing was imported.",
                errors={"phone_numbers": not_listed},
            )

    registered = _registered_in(account.organization_id, chosen)
    results: dict[str, ImportResult] = {}
    new: list[PhoneNumber] = []
    for number in chosen:
        if number in registered:
            results[number] = ImportResult(number, ImportOutcome.ALREADY_REGISTERED, registered[number])
            continue
        candidate = PhoneNumber(
            organization=account.organization,
            telephony_account=account,
            phone_number=number,
            friendly_name=listed[number].friendly_name[: PhoneNumber._meta.get_field("friendly_name").max_length],
            assistant=relations.assistant,
            flow=relations.flow,
        )
        try:
            candidate.full_clean(validate_constraints=False)
        except ValidationError as exc:
            problem = " ".join(message for messages in exc.message_dict.values() for message in messages)
            if not import_all:
                raise InvalidInput(
                    "Invalid request.", errors={"phone_numbers": {str(given[number]): [problem]}}
                ) from None
            results[number] = ImportResult(number, ImportOutcome.SKIPPED, detail=problem)
            continue
        new.append(candidate)

    with transaction.atomic():
        for candidate in new:
            try:
                with transaction.atomic():
                    candidate.save()
            except IntegrityError:
                # Registered meanwhile, by another request of the organization.
                taken = PhoneNumber.objects.get(
                    organization_id=account.organization_id, phone_number=candidate.phone_number
                )
                results[candidate.phone_number] = ImportResult(
                    candidate.phone_number, ImportOutcome.ALREADY_REGISTERED, taken
                )
            else:
                results[candidate.phone_number] = ImportResult(
                    candidate.phone_number, ImportOutcome.IMPORTED, candidate
                )
    imported = sum(result.outcome == ImportOutcome.IMPORTED for result in results.values())
    logger.info("account %s: %d of %d numbers imported from the provider", account.pk, imported, len(chosen))
    return [results[number] for number in chosen]


def _chosen_numbers(phone_numbers: list[str]) -> dict[str, int]:
    """Each number, normalized to E.164, with the index where it was first given; InvalidInput naming each unreadable
    one by its index."""
    chosen: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    for index, raw in enumerate(phone_numbers):
        try:
            chosen.setdefault(normalize_e164(raw), index)
        except InvalidPhoneNumber as exc:
            errors[str(index)] = [str(exc)]
    if errors:
        raise InvalidInput("Invalid request.", errors={"phone_numbers": errors})
    if not chosen:
        raise InvalidInput("Invalid request.", errors={"phone_numbers": ["Choose at least one number."]})
    return chosen


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
    machine_detection: str = MachineDetection.OFF,
    voicemail_message: str = "",
    record: bool = False,
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
        machine_detection=machine_detection,
        voicemail_message=voicemail_message,
        record=record,
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
    machine_detection: str | Any = UNSET,
    voicemail_message: str | Any = UNSET,
    record: bool | Any = UNSET,
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
        "machine_detection": machine_detection,
        "voicemail_message": voicemail_message,
        "record": record,
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
