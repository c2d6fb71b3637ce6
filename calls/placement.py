"""Recording a call within the organization's limits in one round trip to PostgreSQL: the common case of initiate.

calls.services.call_initiate takes, in one transaction, the organization's row lock, counts its live calls, checks
its account's calls-per-second window and inserts the call; through the ORM that is six round trips (BEGIN, the
lock, the count, the window, the INSERT, COMMIT) and most of the CPU an initiate spends in the database layer.
`call_insert_within_limits` sends the same work as one query string of two statements:

1. the organization's row lock (`SELECT ... FOR UPDATE`), as the ORM path takes it;
2. the INSERT of the call, made only when every condition holds: fewer live calls than the limit, fewer calls in
   the account's last second than its rate, no webhook endpoint wanting `call.initiated` (the event would have to
   be recorded in the same transaction: the ORM path does that), and the destination not on the organization's
   do-not-call list (calls.Suppression).

PostgreSQL runs a query string of several statements as one transaction (an implicit one, committed at its end,
when no transaction is open; inside a caller's transaction, as part of it), and under READ COMMITTED each statement
takes a fresh snapshot: the second one, which starts once the lock is held, sees every call committed by whoever
held the lock before. So the guarantees are the ORM path's, statement for statement.

When a condition fails nothing is written and the caller takes the ORM path, which checks again under the same
lock and says exactly why (429 with the limit and Retry-After, expired stale calls, the event recorded). SQLite (and
any other database) always takes the ORM path.
"""

from __future__ import annotations

import functools
from contextlib import nullcontext
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from burki.models import Organization
from calls.events import CALL_INITIATED
from calls.models import Call, Suppression
from telephony.models import TelephonyAccount
from telephony.status import LIVE_STATUSES
from webhooks.models import WebhookEndpoint

_LIVE = tuple(sorted(str(status) for status in LIVE_STATUSES))


def supports_single_statement_insert() -> bool:
    return connection.vendor == "postgresql"


@functools.cache
def _insert_head() -> tuple[str, tuple[Field[Any, Any], ...]]:
    """`INSERT INTO "calls_call" (<every column but id>) SELECT %s, ...`, and the fields in that order: built once."""
    fields = tuple(field for field in Call._meta.concrete_fields if not field.primary_key)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {quote(Call._meta.db_table)} ({columns}) SELECT {placeholders}", fields


def _insert_statement(call: Call) -> tuple[str, list[Any]]:
    """The INSERT of `call` as Django's would write it (each field's pre_save, then its database value), as
    `INSERT ... SELECT <values>` so that a WHERE can follow."""
    head, fields = _insert_head()
    return head, [field.get_db_prep_save(field.pre_save(call, add=True), connection) for field in fields]


def call_insert_within_limits(
    *,
    call: Call,
    organization: Organization,
    account: TelephonyAccount,
) -> bool:
    """INSERT `call` (not yet saved) in one round trip if the organization's limits allow it and nothing else is
    needed; True when it did (`call` then has its id). False when any condition failed, or on a database other than
    PostgreSQL: nothing was written, and the caller takes the ORM path.
    """
    if not supports_single_statement_insert():
        return False
    now = timezone.now()
    insert, insert_params = _insert_statement(call)
    limit = organization.effective_max_concurrent_calls
    placeholders = ", ".join(["%s"] * len(_LIVE))
    # Only constants and Django's own INSERT are interpolated below; every value is a parameter.
    live = f'SELECT 1 FROM "calls_call" WHERE "organization_id" = %s AND "status" IN ({placeholders}) LIMIT %s'  # noqa: S608
    live_params: list[object] = [organization.pk, *_LIVE, limit]
    conditions = [f'(SELECT COUNT(*) FROM ({live}) "live") < %s']  # noqa: S608
    params: list[object] = [*live_params, limit]
    per_second = account.effective_calls_per_second
    if per_second:
        conditions.append(
            '(SELECT COUNT(*) FROM (SELECT 1 FROM "calls_call" WHERE "telephony_account_id" = %s AND "created_at" > %s '
            'LIMIT %s) "recent") < %s'
        )
        params += [account.pk, now - timedelta(seconds=1), per_second, per_second]
    conditions.append(
        f'NOT EXISTS (SELECT 1 FROM "{WebhookEndpoint._meta.db_table}" WHERE "organization_id" = %s AND "enabled" '  # noqa: S608
        'AND (jsonb_array_length("event_types") = 0 OR "event_types" ? %s))'
    )
    params += [organization.pk, CALL_INITIATED]
    # The do-not-call list (the ORM path checks it in call_plan).
    conditions.append(
        f'NOT EXISTS (SELECT 1 FROM "{Suppression._meta.db_table}" WHERE "organization_id" = %s '  # noqa: S608
        'AND "phone_number" = %s)'
    )
    params += [organization.pk, call.to_number]
    # What the INSERT saw (the same snapshot): the call's id, or none, and the live calls, counted up to the limit.
    result = f'SELECT (SELECT "id" FROM "placed"), COUNT(*) FROM ({live}) subquery'  # noqa: S608
    placed = f'WITH "placed" AS ({insert} WHERE {" AND ".join(conditions)} RETURNING "id")'
    sql = f'SELECT 1 FROM "burki_organization" WHERE "id" = %s FOR UPDATE;\n{placed}\n{result}'  # noqa: S608
    all_params: list[Any] = [organization.pk, *insert_params, *params, *live_params]
    # Inside a caller's transaction, a savepoint keeps a failure here from breaking it (as the ORM path's atomic).
    with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
        cursor.execute(sql, all_params)
        cursor.nextset()
        row = cursor.fetchone()
    if row is None or row[0] is None:
        return False
    call.pk = row[0]
    call._state.adding = False
    call._state.db = connection.alias
    return True
