from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from assistants.models import PhoneNumber
from assistants.selectors import assistant_get, flow_get
from burki.errors import InvalidInput
from burki.models import Organization
from telephony.selectors import telephony_account_get

# Unknown and foreign ids get the same answer: an id in another organization must not be told apart.
NOT_IN_ORGANIZATION = "Not found in your organization."
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


def _save(number: PhoneNumber) -> PhoneNumber:
    try:
        number.full_clean()
    except ValidationError as exc:
        if "phone_number" in exc.message_dict and any("already exists" in m for m in exc.message_dict["phone_number"]):
            raise InvalidInput(
                "Invalid request.", errors={"phone_number": ["This number is already registered."]}
            ) from None
        raise _validation_error(exc) from None
    try:
        with transaction.atomic():
            number.save()
    except IntegrityError:
        # Lost a race with another request registering the same number.
        raise InvalidInput(
            "Invalid request.", errors={"phone_number": ["This number is already registered."]}
        ) from None
    return number


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
    return _save(number)


def phone_number_delete(*, number: PhoneNumber) -> None:
    number.delete()
