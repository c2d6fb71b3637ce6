from __future__ import annotations

from django.db.models import QuerySet

from burki.models import Organization
from telephony.models import TelephonyAccount


def telephony_account_list(*, organization: Organization) -> QuerySet[TelephonyAccount]:
    return TelephonyAccount.objects.filter(organization=organization).order_by("name", "id")


def telephony_account_get(*, organization: Organization, account_id: int) -> TelephonyAccount | None:
    return telephony_account_list(organization=organization).filter(pk=account_id).first()
