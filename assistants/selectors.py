from __future__ import annotations

from assistants.models import Assistant, PhoneNumber
from burki.models import Organization


def phone_number_get_active(*, organization: Organization, number: str) -> PhoneNumber | None:
    """The organization's active number, with everything a call needs in the same query."""
    return (
        PhoneNumber.objects.select_related("telephony_account", "assistant", "flow__base_assistant")
        .filter(organization=organization, phone_number=number, is_active=True)
        .first()
    )


def assistant_get(*, organization: Organization, assistant_id: int) -> Assistant | None:
    return Assistant.objects.filter(organization=organization, pk=assistant_id).first()
