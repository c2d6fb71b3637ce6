"""Every list pages by `skip` or by `cursor` (burki.pagination); `total` is exact up to a bound, an estimate beyond."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from assistants.models import Assistant
from burki.pagination import keyset_batches, paginate
from calls.models import Call, CallEvent
from tests.factories import AssistantFactory, CallFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

MOMENT = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def walk(api: Any, url: str, *, limit: int, between: Any = None) -> list[list[int]]:
    """Every page of `url` followed by next_cursor, as lists of ids; `between(n)` runs after page n."""
    pages: list[list[int]] = []
    body = api.get(f"{url}?limit={limit}").json()
    while True:
        pages.append([item["id"] for item in body["items"]])
        if between is not None:
            between(len(pages))
        if body["next_cursor"] is None:
            return pages
        response = api.get(f"{url}?limit={limit}&cursor={body['next_cursor']}")
        assert response.status_code == 200, response.content
        body = response.json()


def calls_at(organization: Any, *moments: datetime) -> list[Call]:
    calls: list[Call] = [CallFactory(organization=organization) for _ in moments]
    for call, moment in zip(calls, moments, strict=True):
        Call.objects.filter(pk=call.pk).update(created_at=moment)
    return calls


def test_calls_page_by_cursor_newest_first_to_the_end(api: Any, organization: Any) -> None:
    calls = calls_at(organization, *(MOMENT + timedelta(minutes=n) for n in range(7)))
    CallFactory(organization=OrganizationFactory())

    pages = walk(api, "/api/v1/calls", limit=3)

    newest_first = [call.pk for call in reversed(calls)]
    assert pages == [newest_first[:3], newest_first[3:6], newest_first[6:]]


def test_calls_created_while_paging_neither_repeat_nor_shift_the_following_pages(api: Any, organization: Any) -> None:
    calls = [CallFactory(organization=organization) for _ in range(6)]
    added: list[Call] = []

    pages = walk(api, "/api/v1/calls", limit=2, between=lambda n: added.append(CallFactory(organization=organization)))

    seen = [pk for page in pages for pk in page]
    assert seen == [call.pk for call in reversed(calls)]
    assert len(added) == 3  # newer than the first page: the next client to start from the top sees them


def test_calls_with_the_same_creation_time_are_each_listed_once(api: Any, organization: Any) -> None:
    calls = calls_at(organization, *([MOMENT] * 5), MOMENT - timedelta(seconds=1))

    pages = walk(api, "/api/v1/calls", limit=2)

    assert [pk for page in pages for pk in page] == [call.pk for call in reversed(calls[:5])] + [calls[5].pk]


def test_a_cursor_keeps_the_lists_filters(api: Any, organization: Any) -> None:
    failed = [CallFactory(organization=organization, status="failed") for _ in range(3)]
    CallFactory(organization=organization, status="completed")

    pages = walk(api, "/api/v1/calls?status=failed", limit=2)

    assert [pk for page in pages for pk in page] == [call.pk for call in reversed(failed)]


def test_skip_still_pages_and_its_next_cursor_continues_after_the_page(api: Any, organization: Any) -> None:
    calls = [CallFactory(organization=organization) for _ in range(6)]
    newest_first = [call.pk for call in reversed(calls)]

    page = api.get("/api/v1/calls?skip=2&limit=2").json()
    following = api.get(f"/api/v1/calls?limit=10&cursor={page['next_cursor']}").json()

    assert [item["id"] for item in page["items"]] == newest_first[2:4]
    assert [item["id"] for item in following["items"]] == newest_first[4:]
    assert following["next_cursor"] is None
    assert following["total"] == 6  # the whole list's, not what is left after the cursor


def test_the_last_page_has_no_next_cursor_and_a_skip_past_the_end_is_empty(api: Any, organization: Any) -> None:
    [CallFactory(organization=organization) for _ in range(3)]

    exact = api.get("/api/v1/calls?limit=3").json()
    beyond = api.get("/api/v1/calls?skip=10").json()

    assert (len(exact["items"]), exact["next_cursor"]) == (3, None)
    assert (beyond["items"], beyond["next_cursor"], beyond["total"]) == ([], None, 3)


def test_a_call_events_page_by_cursor_oldest_first(api: Any, organization: Any) -> None:
    call = CallFactory(organization=organization)
    events = [
        CallEvent.objects.create(call=call, provider="sandbox", event_type="status", key=f"k{n}") for n in range(5)
    ]
    CallEvent.objects.filter(pk__in=[event.pk for event in events[3:]]).update(received_at=MOMENT)

    pages = walk(api, f"/api/v1/calls/{call.pk}/events", limit=2)

    assert [pk for page in pages for pk in page] == [events[3].pk, events[4].pk] + [e.pk for e in events[:3]]


def test_assistants_page_by_cursor_in_name_order_ties_included(api: Any, organization: Any) -> None:
    names = ["Bea", "Ann", "Bea", "Cy", "Ann"]
    assistants = [AssistantFactory(organization=organization, name=name) for name in names]

    pages = walk(api, "/api/v1/assistants", limit=2)

    expected = sorted(assistants, key=lambda a: (a.name, a.pk))
    assert [pk for page in pages for pk in page] == [a.pk for a in expected]


def test_a_cursor_of_another_list_or_with_a_naive_time_is_400(api: Any, organization: Any) -> None:
    AssistantFactory.create_batch(3, organization=organization)
    assistants_cursor = api.get("/api/v1/assistants?limit=1").json()["next_cursor"]
    naive = base64.urlsafe_b64encode(json.dumps(["2026-05-04T12:00:00", 1]).encode()).decode()

    for cursor in (assistants_cursor, naive):
        response = api.get(f"/api/v1/calls?cursor={cursor}")
        assert response.status_code == 400
        assert response.json()["errors"] == {"cursor": ["Invalid cursor."]}


@override_settings(LIST_EXACT_TOTAL_LIMIT=3)
def test_total_is_exact_up_to_the_bound(api: Any, organization: Any) -> None:
    [CallFactory(organization=organization) for _ in range(3)]

    body = api.get("/api/v1/calls?limit=1").json()

    assert (body["total"], body["total_is_estimate"]) == (3, False)


@override_settings(LIST_EXACT_TOTAL_LIMIT=3)
def test_total_beyond_the_bound_is_an_estimate_flagged_as_one(api: Any, organization: Any) -> None:
    [CallFactory(organization=organization) for _ in range(6)]

    body = api.get("/api/v1/calls?limit=1").json()
    narrow = api.get("/api/v1/calls?limit=1&status=failed").json()

    # Counting stopped at bound + 1: never more than that is known, so never less is claimed.
    assert body["total"] >= 4
    assert body["total_is_estimate"] is True
    assert (narrow["total"], narrow["total_is_estimate"]) == (0, False)


def test_deep_skip_reads_the_same_rows_as_a_plain_slice(organization: Any) -> None:
    [CallFactory(organization=organization) for _ in range(9)]
    calls = Call.objects.filter(organization=organization).order_by("-created_at", "-id")

    page = paginate(calls, skip=4, limit=3)

    assert [call.pk for call in page.items] == [call.pk for call in calls[4:7]]
    assert page.next_cursor is not None


def test_keyset_batches_yield_every_row_once_in_order(organization: Any) -> None:
    calls = calls_at(organization, *([MOMENT] * 4), *(MOMENT + timedelta(seconds=n) for n in range(3)))

    batches = list(keyset_batches(Call.objects.filter(organization=organization).order_by("created_at", "id"), size=3))

    assert [len(batch) for batch in batches] == [3, 3, 1]
    assert [call.pk for batch in batches for call in batch] == [call.pk for call in calls]


@pytest.mark.parametrize("order", [("name",), ("-created_at",), ("name", "organization__name", "id")])
def test_a_list_not_ordered_by_plain_fields_ending_in_a_unique_one_cannot_be_paginated(
    organization: Any, order: tuple[str, ...]
) -> None:
    with pytest.raises(ImproperlyConfigured):
        paginate(Assistant.objects.order_by(*order), limit=10)
