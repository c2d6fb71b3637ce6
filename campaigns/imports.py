"""Contacts as they arrive: a CSV file (upload or body) or a JSON list, read into rows for the import service.

Only the file's shape is judged here (encoding, header, size); each row's content is the service's to judge, so
that a bad row is reported with its line rather than refusing the file.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any, Final

from burki.errors import InvalidInput
from calls.templating import MAX_STRING_VALUE, MAX_VARIABLES
from campaigns.services import MAX_CONTACTS_PER_REQUEST, ContactRow

PHONE_COLUMN: Final = "phone_number"
TIMEZONE_COLUMN: Final = "timezone"
# Every other column is a template variable: it must be a name `{{ ... }}` can use.
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# A cell longer than any value a template takes (with room for a long time-zone name); csv refuses longer fields.
MAX_CELL: Final = MAX_STRING_VALUE


def _refuse(detail: str) -> InvalidInput:
    return InvalidInput(detail, errors={"file": [detail]})


def csv_rows(data: bytes) -> list[ContactRow]:
    """The rows of a CSV file: UTF-8 (a BOM is fine), a header naming `phone_number`, optional `timezone`, and
    template variables. `line` is the file's line where a row starts (the header is line 1). An empty cell is a
    variable left out (a template's `default(...)` applies)."""
    if b"\x00" in data:
        raise _refuse("The CSV file contains NUL bytes: is it a spreadsheet (.xlsx) rather than CSV? Save it as CSV.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _refuse(f"The CSV file must be UTF-8: invalid byte on line {line}. Save it as CSV UTF-8.") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise _refuse("The CSV file is empty: it needs a header line with a phone_number column.")
        columns = [name.strip() for name in header]
        _check_header(columns)
        rows: list[ContactRow] = []
        line = reader.line_num + 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue  # blank lines, as spreadsheets leave at the end
            if len(rows) == MAX_CONTACTS_PER_REQUEST:
                raise InvalidInput(
                    f"At most {MAX_CONTACTS_PER_REQUEST} contacts per request: send the file in parts.",
                    errors={"contacts": [f"At most {MAX_CONTACTS_PER_REQUEST} contacts per request."]},
                )
            rows.append(_row(columns, cells, start))
    except csv.Error as exc:
        raise _refuse(f"The CSV file is malformed on line {reader.line_num}: {exc}.") from None
    return rows


def _check_header(columns: list[str]) -> None:
    if PHONE_COLUMN not in columns:
        raise _refuse("The CSV header must name a phone_number column.")
    if len(set(columns)) != len(columns):
        raise _refuse("Each column of the CSV header must have its own name.")
    variables = [name for name in columns if name not in (PHONE_COLUMN, TIMEZONE_COLUMN)]
    if len(variables) > MAX_VARIABLES:
        raise _refuse(f"At most {MAX_VARIABLES} variable columns.")
    for name in variables:
        if not _VARIABLE_NAME.fullmatch(name):
            raise _refuse(
                f"Column {name[:40]!r} cannot be a template variable: letters, digits and _ only, not starting with a "
                "digit, at most 64 characters."
            )


def _row(columns: list[str], cells: list[str], line: int) -> ContactRow:
    if len(cells) > len(columns):
        # More cells than the header names: a row with an unquoted comma. Its variables would be shifted.
        return ContactRow(
            line=line, phone_number=cells[0][:32], problem="more cells than the header has columns (an unquoted comma?)"
        )
    values = dict(zip(columns, cells, strict=False))
    variables = {
        name: value for name, value in values.items() if name not in (PHONE_COLUMN, TIMEZONE_COLUMN) and value != ""
    }
    return ContactRow(
        line=line,
        phone_number=values.get(PHONE_COLUMN, ""),
        timezone=values.get(TIMEZONE_COLUMN, "").strip(),
        variables=variables,
    )


JSON_FIELDS: Final = frozenset({"phone_number", "timezone", "variables", "metadata"})


def json_rows(contacts: list[Any]) -> list[ContactRow]:
    """The items of `contacts`, each checked for its shape; `line` is the position in the list (1 = the first)."""
    return [_json_row(index, contact) for index, contact in enumerate(contacts, start=1)]


def _json_row(line: int, contact: Any) -> ContactRow:
    if not isinstance(contact, dict):
        return ContactRow(line=line, phone_number=None, problem="must be an object with a phone_number")
    raw = contact.get("phone_number")
    problem = ""
    unknown = sorted(str(name)[:40] for name in set(contact) - JSON_FIELDS)
    if unknown:
        problem = f"unknown field {unknown[0]!r} (phone_number, timezone, variables, metadata)"
    elif not isinstance(raw, str):
        problem = "phone_number must be a string in E.164, e.g. +14155550100"
    elif not isinstance(contact.get("timezone", ""), str | None):
        problem = "timezone must be a string (an IANA name, e.g. America/New_York)"
    elif not isinstance(contact.get("variables", {}), dict | None):
        problem = "variables must be an object"
    elif not isinstance(contact.get("metadata", {}), dict | None):
        problem = "metadata must be an object"
    return ContactRow(
        line=line,
        phone_number=raw,
        timezone=(contact.get("timezone") or "") if not problem else "",
        variables=contact.get("variables") or {} if not problem else {},
        metadata=contact.get("metadata") or {} if not problem else {},
        problem=problem,
    )
