"""python -m bench.suppressions_bulk: `POST /api/v1/suppressions/bulk` with 10,000 rows, through the whole stack
(Django's test client: middleware, authentication, parsing, validation, the insert), on a throwaway test database
of DATABASE_URL (PostgreSQL for figures that mean something; SQLite works too).

Times, each the median of --repeat runs on a fresh organization: 10,000 new numbers as JSON, the same as a CSV
body, the JSON again once they are all on the list (nothing to insert), and one invalid row at the end of 10,000
(validated whole, refused, nothing written); beside them, the floor: normalizing the 10,000 numbers alone with
initiate's normalizer (libphonenumber), which is most of a request's time. Target: each well under 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "burki.settings_test")
os.environ.setdefault("DEBUG", "1")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

ROWS = 10_000


def numbers(offset: int) -> list[str]:
    # Valid US numbers, distinct per run: +1 415 2xx xxxx.
    return [f"+1415{2000000 + offset + n}" for n in range(ROWS)]


def client_for_new_organization(tag: str) -> APIClient:
    from burki.models import Organization
    from tests.factories import ApiKeyFactory

    organization = Organization.objects.create(name=f"Bench {tag}", slug=f"bench-{tag}")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiKeyFactory(organization=organization).raw_key}")
    return client


def timed(client: APIClient, body: object, content_type: str = "application/json") -> float:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    start = time.perf_counter()
    response = client.generic("POST", "/api/v1/suppressions/bulk", data, content_type=content_type)
    elapsed = time.perf_counter() - start
    assert response.status_code in (200, 400), (response.status_code, response.content[:300])
    assert response.status_code == 400 or response.json()["received"] == ROWS
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from telephony.numbers import normalize_e164

        results: dict[str, list[float]] = {
            "normalize only": [],
            "json new": [],
            "csv new": [],
            "json all listed": [],
            "one bad row": [],
        }
        for run in range(args.repeat):
            rows = numbers(run * ROWS)
            # The floor, side by side: initiate's own normalizer (libphonenumber) on the same 10,000 numbers.
            start = time.perf_counter()
            for number in rows:
                normalize_e164(number)
            results["normalize only"].append(time.perf_counter() - start)
            api = client_for_new_organization(f"json-{run}")
            body = {"items": [{"phone_number": number, "reason": "bench"} for number in rows]}
            results["json new"].append(timed(api, body))
            results["json all listed"].append(timed(api, body))
            bad = {"items": [*body["items"][:-1], {"phone_number": "not a number"}]}
            results["one bad row"].append(timed(api, bad))
            text = ("phone_number,reason\n" + "".join(f"{number},bench\n" for number in rows)).encode()
            results["csv new"].append(timed(client_for_new_organization(f"csv-{run}"), text, "text/csv"))
        print(f"{ROWS:,} rows per request, {connection.vendor}, median of {args.repeat}:")
        for name, times in results.items():
            print(f"  {name:<16} {statistics.median(times) * 1000:8.0f} ms   (max {max(times) * 1000:.0f} ms)")
        summary = " ".join(f"{name.replace(' ', '_')}={statistics.median(t):.3f}s" for name, t in results.items())
        print(f"BENCH_SUPPRESSIONS_BULK {summary}")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
