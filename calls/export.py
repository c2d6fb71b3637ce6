"""The call log as a file: CSV or NDJSON, written batch by batch as it is read, so memory stays the same whatever
the number of calls (GET /api/v1/calls/export)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.db.models import QuerySet

from burki.pagination import keyset_batches
from calls.models import Call
from calls.serializers import CALL_SOURCES, CallOutput, call_object

BATCH_SIZE = 1000
# The call object's fields, less the aliases kept for Burki's clients (customer_phone, twilio_phone).
CSV_COLUMNS = [name for name in CallOutput.Meta.fields if name not in ("customer_phone", "twilio_phone")]
# Spreadsheets run a cell that starts with one of these as a formula ("CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ...but a plain number is only a number: phone numbers (+14155550100) stay as they are.
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def csv_cell(value: Any) -> str:
    """A value as CSV text, prefixed with ' where a spreadsheet would take it for a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class _Line:
    """csv.writer's file: hands back each row instead of keeping it."""

    def write(self, value: str) -> str:
        return value


def _objects(calls: QuerySet[Call]) -> Iterator[list[dict[str, Any]]]:
    # Plain values, not models: a tenth of the work a row.
    for batch in keyset_batches(calls.values(*set(CALL_SOURCES.values())), size=BATCH_SIZE):
        yield [call_object(row) for row in batch]


def csv_lines(objects: Iterable[Mapping[str, Any]], *, header: bool = False) -> str:
    """Call objects as CSV lines (the header first, with `header`)."""
    writer = csv.writer(_Line())
    head = writer.writerow(CSV_COLUMNS) if header else ""
    return head + "".join(writer.writerow([csv_cell(call[name]) for name in CSV_COLUMNS]) for call in objects)


def calls_csv(calls: QuerySet[Call]) -> Iterator[str]:
    yield csv_lines([], header=True)
    for batch in _objects(calls):
        yield csv_lines(batch)


def calls_ndjson(calls: QuerySet[Call]) -> Iterator[str]:
    """One call object per line, as the list's items."""
    for batch in _objects(calls):
        yield "".join(json.dumps(call, ensure_ascii=False) + "\n" for call in batch)
