"""On PostgreSQL: the call log's reads use its indexes, and the migrations that build them are safe on a live table.

What the plan tests prove: with 20,000 calls in one organization and 2,000 in another, ANALYZEd, every read the
API makes for a list (the SQL captured from real requests, EXPLAINed) is served by the index expected for its
filter, and nothing reads the calls table without a limit that stops it early. The figures at scale (a million
calls) are `make bench-scale`'s, which prints the same plans.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test.utils import CaptureQueriesContext

from burki.migration_operations import AddIndexConcurrently, RemoveIndexConcurrently, _prepare
from burki.models import Organization
from calls.models import Call, CallEvent
from tests.factories import ApiKeyFactory, AssistantFactory, OrganizationFactory

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner and CONCURRENTLY"),
    pytest.mark.django_db,
]

LOG_INDEXES = {
    "call_org_created_idx",
    "call_org_status_idx",
    "call_org_to_number_idx",
    "call_org_assistant_idx",
    "call_org_duration_idx",
    "call_created_idx",
}
SUPERSEDED = {"calls_call_organiz_1bb544_idx", "calls_call_organiz_2c2244_idx"}
CALLS = 20_000


def generate_calls(organization: Any, assistant: Any, count: int) -> None:
    """`count` calls over the last `count` minutes: statuses, 500 customers, durations 0-300 s, one assistant."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO calls_call (direction, from_number, to_number, provider, call_sid, status, welcome_message,
                agenda, variables, metadata, error_message, end_reason, duration, token, created_at, updated_at,
                assistant_id, organization_id)
            SELECT 'outbound', '+14155550100', '+1415555' || lpad((i %% 500)::text, 4, '0'), 'sandbox',
                'SB' || md5(i::text || %(org)s), (ARRAY['completed', 'completed', 'completed', 'completed',
                'completed', 'completed', 'no-answer', 'busy', 'failed', 'canceled'])[1 + i %% 10], 'Hello', '',
                '{}', '{}', '', '', i %% 301, md5(i::text || %(org)s || 'token'), now() - i * interval '1 minute',
                now(), %(assistant)s, %(org)s
            FROM generate_series(1, %(count)s) i
            """,
            {"org": organization.pk, "assistant": assistant.pk, "count": count},
        )


@pytest.fixture(scope="module")
def big(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """An organization with CALLS calls beside one with a tenth of that, committed and VACUUM ANALYZEd, as a table
    that autovacuum keeps is (statistics, and a visibility map for index-only scans): built once for the module."""
    with django_db_blocker.unblock():
        organizations = [OrganizationFactory(slug="big-log"), OrganizationFactory(slug="small-log")]
        for organization, count in zip(organizations, (CALLS, CALLS // 10), strict=True):
            generate_calls(organization, AssistantFactory(organization=organization), count)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE calls_call")
        key = ApiKeyFactory(organization=organizations[0])
    yield {"organization": organizations[0], "key": key.raw_key}
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        ids = [organization.pk for organization in organizations]
        cursor.execute(
            "DELETE FROM calls_callevent WHERE call_id IN (SELECT id FROM calls_call WHERE organization_id = ANY(%s))",
            [ids],
        )
        cursor.execute("DELETE FROM calls_call WHERE organization_id = ANY(%s)", [ids])
        Organization.objects.filter(pk__in=ids).delete()


@pytest.fixture
def api(big: dict[str, Any], client_for: Any) -> Any:
    return client_for(big["key"])


# Nodes that pass rows up as they get them: a Limit above them stops what is below. A Sort or a hash reads all.
STREAMING = {"Limit", "Nested Loop", "Memoize", "Subquery Scan", "Result", "Incremental Sort"}


def plan_nodes(plan: dict[str, Any], *, limited: bool = False) -> Iterator[dict[str, Any]]:
    """Every node of a plan, each marked "Limited" when a Limit above it stops it early."""
    limited = plan["Node Type"] == "Limit" or (limited and plan["Node Type"] in STREAMING)
    yield {**plan, "Limited": limited}
    for child in plan.get("Plans", []):
        yield from plan_nodes(child, limited=limited)


def explain(sql: str) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        (plan,) = cursor.fetchone()
    return list(plan_nodes((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]))


def call_reads(api: Any, url: str) -> list[list[dict[str, Any]]]:
    """The plan of every read of calls_call the request made."""
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200, response.content
    sqls = [q["sql"] for q in captured.captured_queries]
    reads = [sql for sql in sqls if sql.startswith("SELECT") and '"calls_call"' in sql]
    assert reads, sqls
    return [explain(sql) for sql in reads]


def indexes_used(plans: list[list[dict[str, Any]]]) -> set[str]:
    return {node["Index Name"] for plan in plans for node in plan if "Index Name" in node}


def unbounded_scans_of_calls(plans: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Sequential scans of calls_call that nothing stops early. (Counting at most LIST_EXACT_TOTAL_LIMIT + 1 rows of
    an organization that holds most of the table, the planner rightly reads the table from its start and stops at
    the limit.)"""
    return [
        node
        for plan in plans
        for node in plan
        if node["Node Type"] == "Seq Scan" and node.get("Relation Name") == "calls_call" and not node["Limited"]
    ]


DAY = "date_from={day}&date_to={day}"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"call_org_created_idx"}),
        ("status=failed", {"call_org_status_idx"}),
        ("customer_phone=%2B14155550042", {"call_org_to_number_idx"}),
        ("assistant_id={assistant}", {"call_org_assistant_idx"}),
        ("min_duration=290", {"call_org_created_idx", "call_org_duration_idx"}),
        ("max_duration=10", {"call_org_created_idx", "call_org_duration_idx"}),
        ("call_sid=SBnone", {"calls_call_call_si_7a505b_idx", "call_unique_provider_sid"}),
        (DAY, {"call_org_created_idx"}),
        (f"status=failed&{DAY}", {"call_org_status_idx"}),
        (f"customer_phone=%2B14155550042&{DAY}", {"call_org_to_number_idx"}),
        (f"assistant_id={{assistant}}&{DAY}", {"call_org_assistant_idx"}),
        (f"min_duration=290&{DAY}", {"call_org_created_idx"}),
        ("skip=9900&limit=100", {"call_org_created_idx"}),
    ],
)
def test_every_call_list_read_uses_an_index_of_the_call_log(api: Any, big: Any, query: str, expected: set[str]) -> None:
    calls = Call.objects.filter(organization=big["organization"])
    assistant = calls.values_list("assistant_id", flat=True).first()
    day = calls.order_by("-created_at").values_list("created_at", flat=True)[0]
    url = "/api/v1/calls?" + query.format(assistant=assistant, day=day.date().isoformat())

    plans = call_reads(api, url)

    assert unbounded_scans_of_calls(plans) == []
    used = indexes_used(plans)
    assert used & expected, used


def test_a_cursor_page_is_a_range_on_the_lists_index(api: Any, big: Any) -> None:
    first = api.get("/api/v1/calls?limit=100").json()

    plans = call_reads(api, f"/api/v1/calls?limit=100&cursor={first['next_cursor']}")

    page = plans[0]
    scans = [node for node in page if node.get("Index Name") == "call_org_created_idx"]
    assert scans, page
    assert "created_at <=" in scans[0]["Index Cond"]  # bounded by the cursor: it does not walk the pages before


def test_the_total_beyond_the_bound_is_the_planners_estimate(api: Any, big: Any, settings: Any) -> None:
    settings.LIST_EXACT_TOTAL_LIMIT = 1000

    body = api.get("/api/v1/calls?limit=1").json()

    assert body["total_is_estimate"] is True
    assert 0.8 * CALLS <= body["total"] <= 1.2 * CALLS  # the statistics' figure: near, never counted


def test_a_calls_events_are_read_by_their_calls_index(api: Any, big: Any) -> None:
    call = Call.objects.filter(organization=big["organization"]).first()
    assert call is not None
    for n in range(3):
        CallEvent.objects.create(call=call, provider="sandbox", event_type="status", key=str(n))

    plans = call_reads(api, f"/api/v1/calls/{call.pk}/events")
    events = [
        node
        for plan in plans
        for node in plan
        if node.get("Relation Name") == "calls_callevent" or "Index Name" in node
    ]

    assert not [node for node in events if node["Node Type"] == "Seq Scan" and not node["Limited"]]


def test_the_log_migration_is_non_atomic_and_builds_its_indexes_concurrently() -> None:
    migration = MigrationLoader(connection).get_migration("calls", "0004_call_log_indexes")

    assert migration.atomic is False
    assert {type(op) for op in migration.operations} == {AddIndexConcurrently, RemoveIndexConcurrently}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_class.relname, pg_index.indisvalid FROM pg_index "
            "JOIN pg_class ON pg_class.oid = pg_index.indexrelid "
            "WHERE pg_index.indrelid = 'calls_call'::regclass"
        )
        indexes = dict(cursor.fetchall())
    assert {name: indexes.get(name) for name in LOG_INDEXES} == dict.fromkeys(LOG_INDEXES, True)
    assert not SUPERSEDED & set(indexes)


@pytest.mark.django_db(transaction=True)
def test_the_log_migration_runs_backwards_and_forwards_outside_a_transaction() -> None:
    call_command("migrate", "calls", "0003", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'calls_call'")
        back = {name for (name,) in cursor.fetchall()}
    # Every app forward again, not only calls: going back unapplied the apps that depend on calls (campaigns), and
    # the tests after this one need their tables.
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'calls_call'")
        forward = {name for (name,) in cursor.fetchall()}

    assert back >= SUPERSEDED
    assert not LOG_INDEXES & back
    assert forward >= LOG_INDEXES
    assert not SUPERSEDED & forward


@pytest.mark.django_db(transaction=True)
def test_a_rerun_keeps_a_built_index_and_rebuilds_one_a_failed_concurrent_build_left_invalid() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX test_left_invalid ON calls_call (end_reason)")
        cursor.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'test_left_invalid'::regclass"
        )  # what a cancelled CREATE INDEX CONCURRENTLY leaves
    try:
        with connection.schema_editor(atomic=False) as editor:
            keep = _prepare(editor, "call_org_created_idx")
            rebuild = _prepare(editor, "test_left_invalid")
            build = _prepare(editor, "test_never_built")
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_class WHERE relname = 'test_left_invalid'")
            (left,) = cursor.fetchone()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS test_left_invalid")

    assert (keep, rebuild, build) == (False, True, True)
    assert left == 0
