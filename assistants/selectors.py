from __future__ import annotations

from django.db.models import QuerySet

from assistants.models import Assistant, ConversationFlow, PhoneNumber
from burki.config import cache_entry, cached_entry, config_cache_enabled
from burki.models import Organization


def phone_number_get_active(
    *, organization: Organization, number: str, config_version: int | None = None
) -> PhoneNumber | None:
    """The organization's active number, with everything a call needs in the same query.

    With `config_version` (the organization's, read at the start of the request, burki.config): from the cache
    while it holds the number as of that version; else read, and kept there.
    """
    cached = config_version is not None and config_cache_enabled()
    key = f"number:{organization.pk}:{number}"
    if cached:
        found: PhoneNumber | None = cached_entry(key, version=config_version)  # type: ignore[arg-type]
        if found is not None:
            return found
    # A number is unique within its organization, so no ORDER BY: .first() would add one (the model's ordering), and
    # compiling it over the five joined tables' columns costs about a third of a millisecond on every initiate.
    numbers = list(
        PhoneNumber.objects.select_related("telephony_account", "assistant", "flow__base_assistant")
        .filter(organization=organization, phone_number=number, is_active=True)
        .order_by()[:1]
    )
    if not numbers:
        return None
    if cached:
        cache_entry(key, numbers[0], version=config_version)  # type: ignore[arg-type]
    return numbers[0]


def assistant_get(*, organization: Organization, assistant_id: int) -> Assistant | None:
    return Assistant.objects.filter(organization=organization, pk=assistant_id).first()


def phone_number_find(*, number: str, organization_slug: str | None = None) -> list[PhoneNumber]:
    """The numbers with this E.164 value in every organization (or in the one named), by organization: for
    operators' tools, never for an API request. Several organizations may each hold the same number."""
    numbers = PhoneNumber.objects.select_related("organization").filter(phone_number=number)
    if organization_slug is not None:
        numbers = numbers.filter(organization__slug=organization_slug)
    return list(numbers.order_by("organization__slug"))


def phone_number_list(*, organization: Organization) -> QuerySet[PhoneNumber]:
    return (
        PhoneNumber.objects.filter(organization=organization)
        .select_related("telephony_account")
        # The id makes the order a keyset (burki.pagination) even where a number is unique only per organization.
        .order_by("phone_number", "id")
    )


def phone_number_get(*, organization: Organization, number_id: int) -> PhoneNumber | None:
    return phone_number_list(organization=organization).filter(pk=number_id).first()


def flow_get(*, organization: Organization, flow_id: int) -> ConversationFlow | None:
    return ConversationFlow.objects.filter(organization=organization, pk=flow_id).first()


def assistant_list(*, organization: Organization, active_only: bool = False) -> QuerySet[Assistant]:
    assistants = Assistant.objects.filter(organization=organization)
    if active_only:
        assistants = assistants.filter(is_active=True)
    return assistants.order_by("name", "id")


def flow_list(*, organization: Organization) -> QuerySet[ConversationFlow]:
    return ConversationFlow.objects.filter(organization=organization).order_by("name", "id")
