"""`make bench-scale` (python -m bench.scale): the call log's reads on an organization with 10,000 calls and on one
with 1,000,000, side by side in one run.

Creates a database afresh (BENCH_SCALE_DATABASE_URL; --reuse keeps one this script filled before), migrates it,
generates both organizations' calls with SQL (statuses, durations 0-300 s, 5,000 customer numbers, five assistants
each, 100 days of history, four provider events on every tenth call), VACUUM ANALYZEs, then times every list read
in process through Django's WSGI handler (the server's own time: middleware, authentication, queries and JSON), on
the small and the big organization alternately, and prints medians, the big/small ratio, the indexes each read's
plan uses on the big organization, and a `BENCH_SCALE ...` line. Target per read: at most 1.5x the small
organization's time, and under 50 ms. Then the export's peak memory for a week of each organization's calls.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SMALL, BIG = "scale-small", "scale-big"
RATIO_TARGET = 1.5
MS_TARGET = 50.0
CUSTOMER = "+14155550042"

GENERATE = """
SELECT setseed(0.17);
INSERT INTO burki_organization (name, slug, created_at, updated_at, allowed_destination_countries,
    block_premium_destinations)
VALUES ('Scale small', %(small)s, now(), now(), '[]', true), ('Scale big', %(big)s, now(), now(), '[]', true);
INSERT INTO assistants_assistant (name, description, is_active, welcome_message, max_call_length, llm_settings,
    tts_settings, stt_settings, custom_settings, created_at, updated_at, organization_id)
SELECT 'Assistant ' || n, '', true, 'Hi', 600, '{}', '{}', '{}', '{}', now(), now(), o.id
FROM burki_organization o, generate_series(1, 5) n WHERE o.slug IN (%(small)s, %(big)s);
CREATE TEMP TABLE scale_assistants AS
    SELECT organization_id, array_agg(id ORDER BY id) ids FROM assistants_assistant GROUP BY organization_id;
-- Every (every_small)th call is the small organization's: both histories interleave in the table, as they would.
INSERT INTO calls_call (direction, from_number, to_number, provider, call_sid, status, welcome_message, agenda,
    variables, metadata, error_message, end_reason, duration, started_at, answered_at, ended_at, token, created_at,
    updated_at, assistant_id, organization_id)
SELECT 'outbound', '+14155550100', '+1415555' || lpad(floor(r.n * 5000)::int::text, 4, '0'), 'twilio',
    'CA' || md5(s.i::text), st.status, 'Hello, this is Burki calling about your appointment.', '',
    '{"name": "Ann"}', '{}', CASE WHEN st.status = 'failed' THEN 'The provider refused the call.' ELSE '' END, '',
    CASE WHEN st.status = 'completed' THEN floor(r.d * 301)::int END, t.created_at,
    CASE WHEN st.status = 'completed' THEN t.created_at + interval '5 seconds' END,
    CASE WHEN st.status = 'completed' THEN t.created_at + make_interval(secs => 5 + floor(r.d * 301)) END,
    md5(s.i::text || 'token'), t.created_at, t.created_at, a.ids[1 + floor(r.a * 5)::int], o.id
FROM generate_series(1, %(total)s) s(i)
-- random() in a LATERAL that names s.i: evaluated per row, not once.
CROSS JOIN LATERAL (SELECT random() + 0 * s.i n, random() d, random() a, random() s) r
CROSS JOIN LATERAL (SELECT CASE WHEN r.s < .70 THEN 'completed' WHEN r.s < .80 THEN 'no-answer'
    WHEN r.s < .85 THEN 'busy' WHEN r.s < .95 THEN 'failed' ELSE 'canceled' END status) st
CROSS JOIN LATERAL (SELECT now() - interval '100 days' + s.i * (interval '100 days' / %(total)s) created_at) t
JOIN burki_organization o ON o.slug = CASE WHEN s.i %% %(every_small)s = 0 THEN %(small)s ELSE %(big)s END
JOIN scale_assistants a ON a.organization_id = o.id;
INSERT INTO calls_callevent (provider, event_type, status, key, payload, received_at, call_id)
SELECT 'twilio', 'status', e.status, 'k' || e.n, jsonb_build_object('CallStatus', e.status),
    c.created_at + e.n * interval '3 seconds', c.id
FROM calls_call c
CROSS JOIN (VALUES (1, 'initiated'), (2, 'ringing'), (3, 'in-progress'), (4, 'completed')) e(n, status)
WHERE c.id %% 10 = 0;
"""


def log(message: str) -> None:
    print(f"[bench-scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "0"
    os.environ["SECRET_KEY"] = "bench-scale-" + os.urandom(16).hex()
    os.environ["CREDENTIALS_ENCRYPTION_KEYS"] = "YmVuY2gtc2NhbGUta2V5LTMyLWJ5dGVzLWxvbmchISE="
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ["LOG_LEVEL"] = "WARNING"  # no request log line per read
    os.environ["DJANGO_SETTINGS_MODULE"] = "burki.settings"
    import django

    django.setup()


def populated(small: int, big: int) -> bool:
    from django.db.utils import DatabaseError

    from calls.models import Call

    try:
        counts = {slug: Call.objects.filter(organization__slug=slug).order_by().count() for slug in (SMALL, BIG)}
    except DatabaseError:
        return False
    return counts == {SMALL: small, BIG: big}


def generate(small: int, big: int) -> None:
    from django.db import connection

    total = small + big
    if total % small:
        raise SystemExit("--big must be a multiple of --small")
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(GENERATE, {"small": SMALL, "big": BIG, "total": total, "every_small": total // small})
        log(f"generated {total:,} calls in {time.monotonic() - started:.0f} s; VACUUM ANALYZE")
        cursor.execute("VACUUM ANALYZE")


def principals() -> dict[str, dict[str, Any]]:
    """Per organization: an API key, an assistant, a call with events, a call sid, a deep cursor."""
    from django.contrib.auth import get_user_model

    from burki.models import Organization
    from burki.pagination import encode_cursor, ordering
    from burki.services import api_key_create
    from calls.models import Call, CallEvent
    from calls.selectors import call_list

    user_model = get_user_model()
    if not user_model.objects.filter(username="bench-scale").exists():
        user_model.objects.create_superuser("bench-scale", "bench@example.com", "bench-scale-password")
    found = {}
    for slug in (SMALL, BIG):
        organization = Organization.objects.get(slug=slug)
        calls = call_list(organization=organization)
        middle = calls.count() // 2
        event = CallEvent.objects.filter(call__organization=organization).order_by("-call_id").first()
        assert event is not None
        deep = calls[middle]
        found[slug] = {
            "organization": organization,
            "key": api_key_create(organization=organization, name="bench-scale", role="member")[1],
            "assistant": Call.objects.filter(organization=organization).values_list("assistant_id", flat=True)[0],
            "call_with_events": event.call_id,
            "sid": calls[middle // 3].call_sid,
            "deep_cursor": encode_cursor(deep, ordering(calls)),
        }
    return found


def reads(day: str) -> list[tuple[str, Callable[[dict[str, Any]], str]]]:
    """(name, path for an organization's principals): the issue's table first, then each filter with a date range."""
    one_day = f"date_from={day}&date_to={day}"
    phone = quote(CUSTOMER)
    calls = "/api/v1/calls?"
    return [
        ("first page (limit=50)", lambda p: calls + "limit=50"),
        ("customer_phone", lambda p: calls + f"customer_phone={phone}"),
        ("min_duration=290", lambda p: calls + "min_duration=290"),
        ("skip=9900&limit=100", lambda p: calls + "limit=100&skip=9900"),
        ("status=failed", lambda p: calls + "status=failed"),
        ("one day date_from/date_to", lambda p: calls + one_day),
        ("max_duration=10", lambda p: calls + "max_duration=10"),
        ("assistant_id", lambda p: calls + f"assistant_id={p['assistant']}"),
        ("call_sid", lambda p: calls + f"call_sid={p['sid']}"),
        ("status=failed + day", lambda p: calls + f"status=failed&{one_day}"),
        ("customer_phone + day", lambda p: calls + f"customer_phone={phone}&{one_day}"),
        ("min_duration=290 + day", lambda p: calls + f"min_duration=290&{one_day}"),
        ("max_duration=10 + day", lambda p: calls + f"max_duration=10&{one_day}"),
        ("assistant_id + day", lambda p: calls + f"assistant_id={p['assistant']}&{one_day}"),
        ("call_sid + day", lambda p: calls + f"call_sid={p['sid']}&{one_day}"),
        ("cursor, middle of history", lambda p: calls + f"limit=50&cursor={p['deep_cursor']}"),
        ("events of a call", lambda p: f"/api/v1/calls/{p['call_with_events']}/events"),
        ("admin changelist", lambda p: f"/admin/calls/call/?organization__id__exact={p['organization'].pk}"),
    ]


def clients(found: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    admin = Client()
    admin.force_login(get_user_model().objects.get(username="bench-scale"))
    made = {}
    for slug, p in found.items():
        made[slug] = {"api": Client(HTTP_AUTHORIZATION=f"Bearer {p['key']}"), "admin": admin}
    return made


def timed(client: Any, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{path}: {response.status_code} {response.content[:300]!r}")
    return elapsed


def sql_and_items(client: Any, path: str, rounds: int = 5) -> tuple[float, int | None]:
    """The request's time in the database driver (median of `rounds`, ms) and the items on its page."""
    from django.db import connection

    spent: list[float] = []

    def timer(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent.append(time.perf_counter() - started)

    sql = []
    for _ in range(rounds):
        spent.clear()
        with connection.execute_wrapper(timer):
            response = client.get(path)
        sql.append(sum(spent) * 1000)
    items = len(response.json()["items"]) if response["Content-Type"] == "application/json" else None
    return statistics.median(sql), items


def plan_indexes(client: Any, path: str) -> list[str]:
    """The indexes (or Seq Scan) of each read of calls_call the request made, from EXPLAIN of its captured SQL."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(path)
    used = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if not sql.startswith("SELECT") or '"calls_call' not in sql:
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            (plan,) = cursor.fetchone()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        names: list[str] = []

        def walk(node: dict[str, Any], names: list[str] = names) -> None:
            if "Index Name" in node and node["Index Name"] != "assistants_assistant_pkey":
                names.append(node["Index Name"])
            elif node["Node Type"] == "Seq Scan" and node.get("Relation Name", "").startswith("calls_"):
                names.append(f"Seq Scan {node['Relation Name']}")
            for child in node.get("Plans", []):
                walk(child)

        walk(plan[0]["Plan"])
        used.append("+".join(dict.fromkeys(names)) or "-")
    return used


def export_memory(client: Any, since: str, until: str) -> dict[str, float]:
    path = f"/api/v1/calls/export?date_from={since}&date_to={until}"
    started = time.perf_counter()
    rows = sum(chunk.count(b"\n") for chunk in client.get(path).streaming_content) - 1
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        for _ in client.get(path).streaming_content:
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {"rows": rows, "seconds": seconds, "peak_kib": peak / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_SCALE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/burki_bench_scale"),
        help="a dedicated PostgreSQL database, dropped and created afresh (default %(default)s)",
    )
    parser.add_argument("--small", type=int, default=10_000, help="calls of the small organization")
    parser.add_argument("--big", type=int, default=1_000_000, help="calls of the big organization")
    parser.add_argument("--repeat", type=int, default=25, help="timed rounds (medians are reported)")
    parser.add_argument("--reuse", action="store_true", help="keep the database if it already holds these calls")
    parser.add_argument("--no-export", action="store_true", help="skip the export memory measurement")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--output", type=Path, default=RESULTS / "scale.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    RESULTS.mkdir(parents=True, exist_ok=True)

    from bench.run import fresh_database

    setup_django(args.database_url)
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    if not (args.reuse and populated(args.small, args.big)):
        log(f"fresh database {args.database_url.rsplit('/', 1)[-1]}")
        connection.close()
        fresh_database(args.database_url)
        call_command("migrate", "--noinput", verbosity=0)
        generate(args.small, args.big)
    else:
        call_command("migrate", "--noinput", verbosity=0)
        log("reusing the generated calls")
    found = principals()
    made = clients(found)
    day = (timezone.now() - timedelta(days=50)).date().isoformat()
    table = reads(day)

    def client_for(slug: str, name: str) -> Any:
        return made[slug]["admin" if name.startswith("admin") else "api"]

    log(f"warming up, then {args.repeat} rounds of {len(table)} reads on each organization")
    for name, path in table:
        for slug in (SMALL, BIG):
            timed(client_for(slug, name), path(found[slug]))
    times: dict[str, dict[str, list[float]]] = {name: {SMALL: [], BIG: []} for name, _ in table}
    for round_ in range(args.repeat):
        gc.collect()
        for name, path in table:
            # Alternately small then big, big then small: neither always reads a cache the other warmed.
            order = (SMALL, BIG) if round_ % 2 == 0 else (BIG, SMALL)
            for slug in order:
                times[name][slug].append(timed(client_for(slug, name), path(found[slug])))

    results: list[dict[str, Any]] = []
    for name, path in table:
        small, big = (statistics.median(times[name][slug]) for slug in (SMALL, BIG))
        ratio = big / small
        (small_sql, small_items), (big_sql, big_items) = (
            sql_and_items(client_for(slug, name), path(found[slug])) for slug in (SMALL, BIG)
        )
        results.append(
            {
                "read": name,
                "small_ms": round(small, 2),
                "big_ms": round(big, 2),
                "ratio": round(ratio, 2),
                "ok": ratio <= RATIO_TARGET and big < MS_TARGET,
                "small_sql_ms": round(small_sql, 2),
                "big_sql_ms": round(big_sql, 2),
                "items": [small_items, big_items],
                "plan": plan_indexes(client_for(BIG, name), path(found[BIG])),
            }
        )

    width = max(len(r["read"]) for r in results)
    print(f"\nCall log reads, median of {args.repeat} (ms, in process); {args.small:,} vs {args.big:,} calls")
    print("(sql: the request's time executing its SQL; items: on the page, small/big)")
    header = f"{'small':>7}  {'big':>7}  {'ratio':>6}  target  {'sql small':>9}  {'sql big':>7}  {'items':>7}"
    print(f"{'read':<{width}}  {header}  big organization's plan")
    for r in results:
        mark = "ok" if r["ok"] else "MISS"
        items = "/".join("-" if n is None else str(n) for n in r["items"])
        figures = (
            f"{r['small_ms']:>7.2f}  {r['big_ms']:>7.2f}  {r['ratio']:>5.2f}x  {mark:<6}  "
            f"{r['small_sql_ms']:>9.2f}  {r['big_sql_ms']:>7.2f}  {items:>7}"
        )
        print(f"{r['read']:<{width}}  {figures}  {', '.join(r['plan'])}")

    export = {}
    if not args.no_export:
        until = (timezone.now() - timedelta(days=44)).date().isoformat()
        since = (timezone.now() - timedelta(days=50)).date().isoformat()
        log(f"export of {since}..{until} on each organization")
        for slug in (SMALL, BIG):
            export[slug] = export_memory(made[slug]["api"], since, until)
        print("\nExport (CSV) of one week: rows, seconds (untraced), peak Python memory while serving it (tracemalloc)")
        for slug in (SMALL, BIG):
            e = export[slug]
            print(f"{slug:<12} {e['rows']:>8,} rows  {e['seconds']:6.2f} s  peak {e['peak_kib']:8.0f} KiB")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
            "WHERE relname = 'calls_call' ORDER BY 2 DESC"
        )
        index_sizes = {name: size for name, size in cursor.fetchall()}
        cursor.execute("SELECT pg_relation_size('calls_call')")
        (table_size,) = cursor.fetchone()
    print(
        f"\ncalls_call: table {table_size / 2**20:.0f} MiB, indexes "
        + ", ".join(f"{name} {size / 2**20:.0f}" for name, size in index_sizes.items())
        + " (MiB)"
    )

    misses = [r["read"] for r in results if not r["ok"]]
    worst_ratio = max(r["ratio"] for r in results)
    worst_big = max(r["big_ms"] for r in results)
    line = (
        f"BENCH_SCALE worst_ratio={worst_ratio:.2f} worst_big_ms={worst_big:.1f} "
        f"first_page_ratio={results[0]['ratio']:.2f} misses={len(misses)}"
    )
    if export:
        line += (
            f" export_peak_kib_small={export[SMALL]['peak_kib']:.0f} export_peak_kib_big={export[BIG]['peak_kib']:.0f}"
        )
    print("\n" + line)
    if misses:
        print("missed: " + "; ".join(misses))
    args.output.write_text(
        json.dumps({"reads": results, "export": export, "index_sizes": index_sizes, "line": line}, indent=2)
    )
    return 1 if args.strict and misses else 0


if __name__ == "__main__":
    sys.exit(main())
