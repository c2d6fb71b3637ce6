"""A campaign's results as CSV: one row per contact, streamed batch by batch (memory stays flat)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from burki.pagination import keyset_batches
from calls.export import csv_cell
from campaigns.models import Campaign, CampaignContact

BATCH_SIZE: Final = 1000
# Column: the contact's value it comes from.
RESULT_SOURCES: Final = {
    "line": "line",
    "phone_number": "phone_number",
    "state": "state",
    "reason": "reason",
    "attempts": "attempts",
    "last_call_id": "last_call_id",
    "call_status": "last_call__status",
    "call_duration": "last_call__duration",
    "answered_by": "last_call__answered_by",
    "updated_at": "updated_at",
}
RESULT_COLUMNS: Final = list(RESULT_SOURCES)


class _Line:
    def write(self, value: str) -> str:
        return value


def result_lines(rows: Iterable[Mapping[str, Any]], *, header: bool = False) -> str:
    writer = csv.writer(_Line())
    head = writer.writerow(RESULT_COLUMNS) if header else ""
    return head + "".join(
        writer.writerow([csv_cell(row[source]) for source in RESULT_SOURCES.values()]) for row in rows
    )


def campaign_results_csv(campaign: Campaign) -> Iterator[str]:
    yield result_lines([], header=True)
    contacts = (
        CampaignContact.objects.filter(campaign=campaign).order_by("line", "id").values("id", *RESULT_SOURCES.values())
    )
    for batch in keyset_batches(contacts, size=BATCH_SIZE):
        yield result_lines(batch)
