"""The do-not-call list (suppressions): adding numbers one by one, in bulk or from a callee's spoken opt-out; reading
and removing them. The dial-time check itself is calls.policy.suppressed_numbers / is_suppressed."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from burki.errors import Conflict, InvalidInput
from burki.models import Organization
from calls.models import Call, Suppression
from telephony.numbers import InvalidPhoneNumber, normalize_e164

MAX_REASON = 500
# One request's rows: enough for a typical list, small enough to validate and insert well within a request's time.
MAX_BULK_ROWS = 10_000
# A refusal lists at most this many rows (the count says how many there were): the report must stay readable.
MAX_REFUSED_LISTED = 1_000
INSERT_BATCH = 1_000
# How long after its call ended the voice engine may still record the callee's opt-out: it may only flush what it
# heard once the line is down, and a "stop calling me" said just before the hang-up must still count.
OPT_OUT_GRACE = timedelta(minutes=10)

Source = Suppression.Source


# --- reads ------------------------------------------------------------------------------------------------------


def suppression_list(
    *, organization: Organization, phone_number: str | None = None, source: str | None = None
) -> QuerySet[Suppression]:
    rows = Suppression.objects.filter(organization=organization).order_by("-created_at", "-id")
    if phone_number:
        rows = rows.filter(phone_number=phone_number)
    if source:
        rows = rows.filter(source=source)
    return rows


def suppression_get(*, organization: Organization, suppression_id: int) -> Suppression | None:
    return Suppression.objects.filter(organization=organization, pk=suppression_id).first()


# --- one number -------------------------------------------------------------------------------------------------


def _reason_errors(reason: object) -> list[str]:
    if not isinstance(reason, str):
        return ["Must be a string."]
    if len(reason) > MAX_REASON:
        return [f"At most {MAX_REASON} characters."]
    return []


def suppression_add(
    *,
    organization: Organization,
    phone_number: object,
    reason: object = "",
    source: str = Source.API,
    call: Call | None = None,
) -> tuple[Suppression, bool]:
    """Suppress a number (normalized to E.164); (the row, whether it is new). A number already on the list keeps its
    row as it is: adding it again is idempotent, whoever adds it and with whatever reason."""
    errors: dict[str, list[str]] = {}
    try:
        number = normalize_e164(phone_number)
    except InvalidPhoneNumber as exc:
        errors["phone_number"] = [str(exc)]
    problems = _reason_errors(reason)
    if problems:
        errors["reason"] = problems
    if errors:
        raise InvalidInput("Invalid request.", errors=errors)
    assert isinstance(reason, str)
    existing = Suppression.objects.filter(organization=organization, phone_number=number).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return (
                Suppression.objects.create(
                    organization=organization, phone_number=number, reason=reason.strip(), source=source, call=call
                ),
                True,
            )
    except IntegrityError:
        # Added meanwhile by another request: theirs is the row.
        return Suppression.objects.get(organization=organization, phone_number=number), False


def suppression_delete(*, suppression: Suppression) -> None:
    suppression.delete()


def suppression_opt_out(*, call: Call, reason: object = "") -> tuple[Suppression, bool]:
    """The callee of `call` asked never to be called again: suppressed at once (source opt-out, the call linked).

    Allowed while the call is live, and for OPT_OUT_GRACE after it ended; a Conflict otherwise."""
    if call.is_over:
        ended = call.ended_at or call.updated_at
        if ended is None or timezone.now() - ended > OPT_OUT_GRACE:
            minutes = int(OPT_OUT_GRACE.total_seconds() // 60)
            raise Conflict(
                f"Call {call.pk} ended more than {minutes} minutes ago (status {call.status}): "
                "an opt-out is recorded during the call or just after it. Add the number with POST "
                "/api/v1/suppressions instead.",
                extra={"call_id": call.pk, "status": call.status},
            )
    organization = Organization.objects.get(pk=call.organization_id)
    return suppression_add(
        organization=organization,
        phone_number=call.to_number,
        reason=reason or "Opted out during the call.",
        source=Source.OPT_OUT,
        call=call,
    )


# --- many numbers ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One row of a bulk request as given: `line` is its CSV line (the header is line 1), or its 1-based position
    in a JSON list."""

    line: int
    phone_number: object
    reason: object = ""


@dataclass(frozen=True)
class Refusal:
    line: int
    phone_number: str
    reason: str


@dataclass
class BulkResult:
    received: int
    created: int = 0
    duplicates_merged: int = 0
    already_suppressed: list[str] = field(default_factory=list)


class BulkRefused(InvalidInput):
    """Some rows are not valid: nothing was written. `refused` lists them (at most MAX_REFUSED_LISTED)."""

    def __init__(self, refused: list[Refusal], *, received: int) -> None:
        listed = refused[:MAX_REFUSED_LISTED]
        more = f" (the first {len(listed)} listed)" if len(refused) > len(listed) else ""
        super().__init__(
            f"{len(refused)} of {received} rows refused{more}: nothing was added. Fix them and send the whole "
            "list again.",
            extra={
                "refused": [
                    {"line": item.line, "phone_number": item.phone_number, "reason": item.reason} for item in listed
                ],
                "refused_count": len(refused),
            },
        )


def _shown(value: object) -> str:
    """What a refused row said, for the report: short, and only text."""
    text = value if isinstance(value, str) else "" if value is None else repr(value)
    return text[:40]


def suppressions_add_bulk(
    *, organization: Organization, rows: Sequence[Row], source: str = Source.API, default_reason: str = ""
) -> BulkResult:
    """Suppress every row's number, all or nothing: any invalid row refuses the request (BulkRefused) and nothing is
    written. A number given twice is added once (the first reason given wins); one already on the list is reported
    and left as it is."""
    if len(rows) > MAX_BULK_ROWS:
        raise InvalidInput(
            f"Too many rows: at most {MAX_BULK_ROWS:,} per request, this has {len(rows):,}. Send them in parts.",
            errors={"items": [f"At most {MAX_BULK_ROWS} rows."]},
        )
    if not rows:
        raise InvalidInput("No rows: nothing to add.", errors={"items": ["At least one row."]})
    refused: list[Refusal] = []
    wanted: dict[str, str] = {}
    duplicates = 0
    for row in rows:
        try:
            number = normalize_e164(row.phone_number)
        except InvalidPhoneNumber as exc:
            refused.append(Refusal(row.line, _shown(row.phone_number), str(exc)))
            continue
        reason = row.reason if row.reason not in (None, "") else default_reason
        problems = _reason_errors(reason)
        if problems:
            refused.append(Refusal(row.line, number, f"reason: {problems[0]}"))
            continue
        assert isinstance(reason, str)
        if number in wanted:
            duplicates += 1
            wanted[number] = wanted[number] or reason.strip()
        else:
            wanted[number] = reason.strip()
    if refused:
        raise BulkRefused(refused, received=len(rows))

    result = BulkResult(received=len(rows), duplicates_merged=duplicates)
    numbers = list(wanted)
    existing: set[str] = set()
    for start in range(0, len(numbers), INSERT_BATCH):
        chunk = numbers[start : start + INSERT_BATCH]
        existing.update(
            Suppression.objects.filter(organization=organization, phone_number__in=chunk).values_list(
                "phone_number", flat=True
            )
        )
    new = {number: reason for number, reason in wanted.items() if number not in existing}
    _insert(organization=organization, rows=new, source=source)
    result.created = len(new)
    result.already_suppressed = [number for number in numbers if number in existing]
    return result


def _insert(*, organization: Organization, rows: dict[str, str], source: str) -> None:
    """Insert {number: reason}; a number added by another request meanwhile is kept as that request added it."""
    if not rows:
        return
    connection = connections[Suppression.objects.db]
    if connection.vendor == "postgresql":
        # One statement for the lot: building 10,000 models and binding 60,000 parameters was most of the time.
        # The table's name is the model's own, quoted; every value is a parameter.
        table = connection.ops.quote_name(Suppression._meta.db_table)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (organization_id, phone_number, reason, source, created_at) "  # noqa: S608
                "SELECT %s, number, reason, %s, %s FROM unnest(%s::text[], %s::text[]) AS given(number, reason) "
                "ON CONFLICT DO NOTHING",
                [organization.pk, source, timezone.now(), list(rows), list(rows.values())],
            )
        return
    objects = [
        Suppression(organization=organization, phone_number=number, reason=reason, source=source)
        for number, reason in rows.items()
    ]
    with transaction.atomic():
        Suppression.objects.bulk_create(objects, batch_size=INSERT_BATCH, ignore_conflicts=True)


# --- CSV --------------------------------------------------------------------------------------------------------------


def csv_rows(content: bytes) -> list[Row]:
    """A CSV file's rows: a header with a `phone_number` column and optionally `reason` (others are ignored).
    InvalidInput for a file that is not such a CSV."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            "The CSV file is not UTF-8 text.", errors={"file": ["Must be UTF-8 encoded CSV text."]}
        ) from None
    if "\x00" in text:
        raise InvalidInput("The CSV file holds a NUL character.", errors={"file": ["Must be CSV text."]})
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidInput(
                "The CSV file is empty.", errors={"file": ["Needs a header with a phone_number column."]}
            )
        columns = [name.strip().lower() for name in header]
        if "phone_number" not in columns:
            raise InvalidInput(
                "The CSV file has no phone_number column: its first line must name the columns, e.g. "
                "phone_number,reason.",
                errors={"file": ["Needs a header with a phone_number column."]},
            )
        number_at = columns.index("phone_number")
        reason_at = columns.index("reason") if "reason" in columns else None
        rows: list[Row] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines, a trailing newline
            if len(rows) >= MAX_BULK_ROWS:
                raise InvalidInput(
                    f"Too many rows: at most {MAX_BULK_ROWS:,} per request. Send them in parts.",
                    errors={"file": [f"At most {MAX_BULK_ROWS} rows."]},
                )
            rows.append(
                Row(
                    line=reader.line_num,
                    phone_number=cells[number_at] if number_at < len(cells) else "",
                    reason=cells[reason_at] if reason_at is not None and reason_at < len(cells) else "",
                )
            )
    except csv.Error as exc:
        raise InvalidInput(
            f"The CSV file cannot be read at line {reader.line_num}: {exc}.", errors={"file": ["Not valid CSV."]}
        ) from None
    return rows


def json_rows(body: object) -> tuple[list[Row], str]:
    """A JSON body's rows and default reason: `{"items": [...], "reason": "..."}`, each item an object with
    `phone_number` and an optional `reason`, or just the number as a string. InvalidInput for any other shape."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise InvalidInput(
            'Invalid request: send {"items": [{"phone_number": "+14155550100", "reason": "..."}, ...]}, or a CSV file.',
            errors={"items": ["A list of rows is required."]},
        )
    default_reason = body.get("reason", "")
    if default_reason is None:
        default_reason = ""
    problems = _reason_errors(default_reason)
    if problems:
        raise InvalidInput("Invalid request.", errors={"reason": problems})
    assert isinstance(default_reason, str)
    items: list[object] = body["items"]
    if len(items) > MAX_BULK_ROWS:
        raise InvalidInput(
            f"Too many rows: at most {MAX_BULK_ROWS:,} per request, this has {len(items):,}. Send them in parts.",
            errors={"items": [f"At most {MAX_BULK_ROWS} rows."]},
        )
    rows = []
    for line, item in enumerate(items, start=1):
        if isinstance(item, dict):
            rows.append(Row(line=line, phone_number=item.get("phone_number"), reason=item.get("reason", "")))
        else:
            rows.append(Row(line=line, phone_number=item))
    return rows, default_reason
