"""GET /api/v1/calls/export: the call log as CSV or NDJSON, streamed in batches at constant memory."""

from __future__ import annotations

import csv
import io
import json
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from calls.export import CSV_COLUMNS
from calls.models import Call
from tests.factories import CallFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/calls/export"
FORMATS = ("text/csv", "application/x-ndjson")
# Calls in the memory test: a few batches, then five times as many.
SMALL, LARGE = 2_000, 10_000
MOMENT = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def body(response: Any) -> str:
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode()


def rows(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body(response))))


def aged(call: Call, minutes: int) -> Call:
    Call.objects.filter(pk=call.pk).update(created_at=MOMENT + timedelta(minutes=minutes))
    call.refresh_from_db()
    return call


def test_the_export_is_a_csv_file_of_every_call_oldest_first(api: Any, organization: Any) -> None:
    newer = aged(CallFactory(organization=organization, status="completed", duration=42), 5)
    older = aged(CallFactory(organization=organization, variables={"name": "Ann"}), 1)

    response = api.get(URL)
    exported = rows(response)

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="calls-acme-')
    assert list(exported[0]) == CSV_COLUMNS
    assert [row["id"] for row in exported] == [str(older.pk), str(newer.pk)]
    assert exported[0]["variables"] == '{"name":"Ann"}'
    assert exported[0]["created_at"] == "2026-05-04T12:01:00Z"
    last = exported[1]
    assert (last["status"], last["duration"], last["to_number"]) == ("completed", "42", "+14155550199")
    assert exported[0]["ended_at"] == ""


def test_cells_a_spreadsheet_would_run_as_formulas_are_quoted_but_phone_numbers_are_not(
    api: Any, organization: Any
) -> None:
    CallFactory(
        organization=organization,
        welcome_message='=HYPERLINK("http://evil.example","click")',
        agenda="+1+cmd|' /C calc'!A0",
        error_message="@SUM(1+1)",
        end_reason="-2+3",
    )

    (row,) = rows(api.get(URL))

    assert row["welcome_message"] == '\'=HYPERLINK("http://evil.example","click")'
    assert row["agenda"] == "'+1+cmd|' /C calc'!A0"
    assert row["error_message"] == "'@SUM(1+1)"
    assert row["end_reason"] == "'-2+3"
    assert (row["from_number"], row["to_number"]) == ("+14155550100", "+14155550199")


@pytest.mark.parametrize(("query", "accept"), [("", "application/x-ndjson"), ("?format=ndjson", "text/csv")])
def test_ndjson_lines_are_the_lists_call_objects(api: Any, organization: Any, query: str, accept: str) -> None:
    calls = [
        aged(CallFactory(organization=organization, metadata={"k": [1, 2]}, status="completed", duration=9), 1),
        aged(CallFactory(organization=organization, assistant=None), 2),
    ]
    Call.objects.filter(pk=calls[0].pk).update(ended_at=MOMENT + timedelta(seconds=1, microseconds=250))

    response = api.get(URL + query, HTTP_ACCEPT=accept)
    lines = body(response).splitlines()

    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert [json.loads(line) for line in lines] == [api.get(f"/api/v1/calls/{call.pk}").json() for call in calls]


def test_the_export_takes_the_lists_filters(api: Any, organization: Any) -> None:
    wanted = aged(CallFactory(organization=organization, status="failed", to_number="+14155550123"), 60 * 24)
    aged(CallFactory(organization=organization, status="completed", to_number="+14155550123"), 60 * 24)
    aged(CallFactory(organization=organization, status="failed", to_number="+14155550123"), 0)
    aged(CallFactory(organization=organization, status="failed"), 60 * 24)

    query = "status=failed&customer_phone=%2B14155550123&date_from=2026-05-05&date_to=2026-05-05"
    exported = rows(api.get(f"{URL}?{query}"))

    assert [row["id"] for row in exported] == [str(wanted.pk)]


@pytest.mark.parametrize("query", ["?status=nope", "?format=xml", "?date_from=2026-05-05&date_to=2026-05-04"])
def test_invalid_filters_are_a_json_400_even_when_csv_is_asked_for(api: Any, query: str) -> None:
    response = api.get(URL + query, HTTP_ACCEPT="text/csv")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"] == "Invalid request."


def test_the_export_has_nothing_of_another_organization(api: Any, organization: Any) -> None:
    mine = CallFactory(organization=organization)
    CallFactory(organization=OrganizationFactory(), call_sid="CAtheirs", to_number="+14155550177")

    text = body(api.get(URL)) + body(api.get(URL, HTTP_ACCEPT="application/x-ndjson"))

    assert "CAtheirs" not in text
    assert "4155550177" not in text
    assert str(mine.call_sid) in text


def add_calls(organization: Any, count: int) -> None:
    Call.objects.bulk_create(
        [
            Call(
                organization=organization,
                from_number="+14155550100",
                to_number=f"+1415555{n % 10000:04d}",
                provider="sandbox",
                status="completed",
                duration=n % 301,
                welcome_message="Hello, this is Burki calling about your appointment tomorrow.",
                variables={"name": "Ann", "n": n},
            )
            for n in range(count)
        ],
        batch_size=2000,
    )


def export_peak(api: Any, accept: str) -> tuple[int, int, float]:
    """Peak Python memory (bytes) while serving and reading the whole export, its size, and the time it took."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        response = api.get(URL, HTTP_ACCEPT=accept)
        size = sum(len(chunk) for chunk in response.streaming_content)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, size, time.perf_counter() - started


def test_the_exports_memory_does_not_grow_with_the_number_of_calls(api: Any, organization: Any) -> None:
    add_calls(organization, SMALL)
    small = {accept: export_peak(api, accept) for accept in FORMATS}
    add_calls(organization, LARGE - SMALL)
    large = {accept: export_peak(api, accept) for accept in FORMATS}

    for accept in FORMATS:
        (small_peak, small_size, _), (large_peak, large_size, _) = small[accept], large[accept]
        assert large_size > 0.9 * LARGE / SMALL * small_size  # five times the calls...
        assert large_peak < 1.25 * small_peak  # ...in the same memory: one batch at a time
        assert large_peak < 16 * 1024 * 1024
