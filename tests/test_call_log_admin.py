"""The admin's call changelist at scale: a bounded count, no query that reads every call, exact search."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from calls.models import Call, CallEvent
from tests.factories import CallFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:calls_call_changelist")


def changelist(admin_client: Any, params: dict[str, str] | None = None) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(CHANGELIST, params or {})
    assert response.status_code == 200
    return response, [q["sql"] for q in captured.captured_queries if '"calls_call"' in q["sql"]]


@override_settings(LIST_EXACT_TOTAL_LIMIT=3)
def test_the_changelist_counts_at_most_the_bound_and_says_so_nowhere_else(admin_client: Any) -> None:
    CallFactory.create_batch(6)

    response, queries = changelist(admin_client)

    cl = response.context["cl"]
    assert cl.result_count >= 4  # the bound + 1 at least: an estimate past the bound
    assert cl.full_result_count is None  # no second count of the whole table
    counts = [sql for sql in queries if "COUNT(" in sql.upper()]
    assert counts
    assert all("LIMIT 4" in sql for sql in counts)


def test_the_changelist_reads_no_distinct_values_of_every_call(admin_client: Any) -> None:
    CallFactory.create_batch(3, provider="sandbox")

    _, queries = changelist(admin_client)

    # date_hierarchy and a provider filter of all values would each read every call's value on every page view.
    assert not [sql for sql in queries if "DISTINCT" in sql.upper()]


def test_the_changelist_filters_by_date_and_provider_without_reading_them_all(admin_client: Any) -> None:
    recent = CallFactory(provider="twilio")
    CallFactory(provider="sandbox")
    old = CallFactory(provider="twilio")
    Call.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    # As the filter's "Past 7 days" link sends it.
    since = str(timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=7))

    response, _ = changelist(admin_client, {"created_at__gte": since, "provider": "twilio"})

    assert list(response.context["cl"].result_list) == [recent]


def test_the_changelist_searches_exact_numbers_and_call_ids_only(admin_client: Any) -> None:
    call = CallFactory(to_number="+14155550177", call_sid="CAexact")
    CallFactory(to_number="+14155550178")

    by_number, _ = changelist(admin_client, {"q": "+14155550177"})
    by_sid, _ = changelist(admin_client, {"q": "CAexact"})
    partial, _ = changelist(admin_client, {"q": "4155550177"})

    assert list(by_number.context["cl"].result_list) == [call]
    assert list(by_sid.context["cl"].result_list) == [call]
    assert list(partial.context["cl"].result_list) == []


@override_settings(LIST_EXACT_TOTAL_LIMIT=2)
def test_the_event_changelist_counts_at_most_the_bound_too(admin_client: Any) -> None:
    call = CallFactory(organization=OrganizationFactory())
    for n in range(4):
        CallEvent.objects.create(call=call, provider="sandbox", event_type="status", key=str(n))

    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(reverse("admin:calls_callevent_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].full_result_count is None
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper() and "callevent" in q["sql"]]
    assert counts
    assert all("LIMIT 3" in sql for sql in counts)
