"""Burki's list shape: `?skip=&limit=` or `?cursor=&limit=` in, `{"items", "total", "skip", "limit", "next_cursor",
"total_is_estimate"}` out.

Every list is ordered by fields that end in a unique one (`-created_at, -id`; `name, id`), so a row's values of
those fields are its position: `next_cursor` carries the last row's, and `cursor=` continues strictly after them
(keyset pagination). A page then costs the same however deep it is, and rows inserted meanwhile neither repeat nor
shift the pages that follow. `skip` keeps working, but walks every skipped row.

`total` counts at most LIST_EXACT_TOTAL_LIMIT matching rows exactly; past that it is the database planner's
estimate (at least the bound + 1) and `total_is_estimate` is true, so no list ever counts a million rows.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Field, Model, Q, QuerySet
from django.utils.functional import cached_property
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from burki.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 1024


class PageParams(serializers.Serializer[Any]):
    skip = serializers.IntegerField(
        min_value=0,
        max_value=10**9,
        default=0,
        help_text="Rows to skip. Deep pages walk every skipped row: use `cursor` to go far.",
    )
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
    cursor = serializers.CharField(
        max_length=MAX_CURSOR_LENGTH,
        required=False,
        allow_blank=True,  # the first page, for a client that sends back an empty next_cursor
        help_text="A previous page's `next_cursor`: the page right after it (then `skip` must be 0 or absent).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("cursor") and attrs["skip"]:
            raise serializers.ValidationError({"cursor": ["Send either cursor or skip, not both."]})
        return attrs


@dataclass(frozen=True)
class PageRequest:
    skip: int
    limit: int
    cursor: str | None


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int
    total_is_estimate: bool
    next_cursor: str | None


def page_params(request: Request) -> PageRequest:
    params = PageParams(data={k: v for k, v in request.query_params.items() if k in ("skip", "limit", "cursor")})
    params.is_valid(raise_exception=True)
    data = params.validated_data
    return PageRequest(skip=data["skip"], limit=data["limit"], cursor=data.get("cursor") or None)


def paginated_response(
    request: Request,
    queryset: QuerySet[Any],
    output: type[serializers.BaseSerializer[Any]],
    *,
    values: Sequence[str] | None = None,
) -> Response:
    """One page of `queryset` per the request's skip/cursor and limit, each item rendered by `output` (a model, or
    with `values` a `.values(*values)` row)."""
    params = page_params(request)
    page = paginate(queryset, skip=params.skip, limit=params.limit, cursor=params.cursor, values=values)
    return Response(
        {
            "items": output(page.items, many=True).data,
            "total": page.total,
            "skip": params.skip,
            "limit": params.limit,
            "next_cursor": page.next_cursor,
            "total_is_estimate": page.total_is_estimate,
        }
    )


def paginate(
    queryset: QuerySet[Any],
    *,
    skip: int = 0,
    limit: int,
    cursor: str | None = None,
    values: Sequence[str] | None = None,
) -> Page:
    """A page of `queryset`'s models, or with `values` of its `.values(*values)` rows (which must name the order's
    fields and the pk). Only the page's rows are read that way: counting and walking ids use `queryset` itself,
    without the joins that values of related rows would bring along."""
    order = ordering(queryset)
    rows = queryset
    if cursor is not None:
        rows = rows.filter(after(order, decode_cursor(cursor, order)))
    read = (lambda q: q.values(*values)) if values else (lambda q: q)
    if skip:
        # Deep pages: the skipped rows are walked for their ids only (an index-only scan where the list's index
        # covers its filters), and just the page's rows are read whole.
        ids = list(rows.values_list("pk", flat=True)[skip : skip + limit + 1])
        pk_name = queryset.model._meta.pk.attname
        by_pk = {
            item[pk_name] if isinstance(item, dict) else item.pk: item
            for item in read(queryset.filter(pk__in=ids).order_by())
        }
        items = [by_pk[pk] for pk in ids if pk in by_pk]
    else:
        items = list(read(rows)[: limit + 1])
    next_cursor = encode_cursor(items[limit - 1], order) if len(items) > limit else None
    total, estimated = bounded_count(queryset)
    return Page(items=items[:limit], total=total, total_is_estimate=estimated, next_cursor=next_cursor)


def keyset_batches(queryset: QuerySet[Any], *, size: int) -> Iterator[list[Any]]:
    """Every row of `queryset` in its order, `size` at a time: one short query per batch, no transaction or server
    cursor held in between, so memory and locks stay constant however many rows there are."""
    order = ordering(queryset)
    rows = queryset
    while True:
        batch = list(rows[:size])
        if batch:
            yield batch
        if len(batch) < size:
            return
        rows = queryset.filter(after(order, position(batch[-1], order)))


class BoundedCountPaginator(Paginator):
    """Django's paginator with the lists' bounded count, for the admin's changelists (with
    `show_full_result_count = False`, the only count the changelist makes)."""

    @cached_property
    def count(self) -> int:
        total, _ = bounded_count(self.object_list)  # type: ignore[arg-type]  # always a queryset in the admin
        return total


# --- total ----------------------------------------------------------------------------------------------------------


def bounded_count(queryset: QuerySet[Any]) -> tuple[int, bool]:
    """The number of rows, exact up to LIST_EXACT_TOTAL_LIMIT; beyond it an estimate, flagged as one."""
    bound: int = settings.LIST_EXACT_TOTAL_LIMIT
    counted = queryset.order_by().values("pk")[: bound + 1].count()
    if counted <= bound:
        return counted, False
    return max(counted, planner_estimate(queryset)), True


def planner_estimate(queryset: QuerySet[Any]) -> int:
    """PostgreSQL's estimate of the rows `queryset` matches (from its statistics: planning only, no rows read);
    0 on databases that give none."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return 0
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        # The statement is the ORM's own, its values passed as parameters.
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


# --- keyset -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One field of a list's order."""

    name: str
    descending: bool
    field: Field[Any, Any]


def ordering(queryset: QuerySet[Any]) -> list[Key]:
    """The list's order, checked to be usable as a keyset: plain non-null fields ending in a unique one (so that
    a row's values are its position)."""
    model = queryset.model
    names = list(queryset.query.order_by) or list(model._meta.ordering)
    order = []
    for name in names:
        if not isinstance(name, str) or "?" in name or "__" in name:
            raise ImproperlyConfigured(f"{model.__name__} list: order by plain fields to paginate, not {name!r}.")
        field = _field(model, name.lstrip("-"))
        if field.null:
            raise ImproperlyConfigured(f"{model.__name__} list: {name!r} is nullable, so it cannot order a keyset.")
        order.append(Key(name=name.lstrip("-"), descending=name.startswith("-"), field=field))
    if not order or not order[-1].field.unique:
        raise ImproperlyConfigured(f"{model.__name__} list: its order {names} must end with a unique field.")
    return order


def after(order: list[Key], values: list[Any]) -> Q:
    """Rows strictly after `values` in `order`."""
    condition: Q | None = None
    for key, value in reversed(list(zip(order, values, strict=True))):
        strictly = Q(**{f"{key.name}__{'lt' if key.descending else 'gt'}": value})
        condition = strictly if condition is None else strictly | (Q(**{key.name: value}) & condition)
    assert condition is not None
    # Redundant but for the planner: a plain range on the first field bounds the index scan (the OR alone is only a
    # filter, and the scan would walk every row before the cursor).
    first = order[0]
    return Q(**{f"{first.name}__{'lte' if first.descending else 'gte'}": values[0]}) & condition


def position(item: Model | dict[str, Any], order: list[Key]) -> list[Any]:
    """A row's values of the order's fields: a model's, or a `values()` row's (which must include them)."""
    if isinstance(item, dict):
        return [item[key.name] for key in order]
    return [getattr(item, key.field.attname) for key in order]


def encode_cursor(item: Model | dict[str, Any], order: list[Key]) -> str:
    values = [value.isoformat() if isinstance(value, datetime) else value for value in position(item, order)]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order: list[Key]) -> list[Any]:
    """The position a cursor names, each value cleaned by its model field; anything else is a 400."""
    invalid = InvalidInput(
        "Invalid cursor: pass a next_cursor of this list, unchanged.", errors={"cursor": ["Invalid cursor."]}
    )
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise invalid from None
    if not isinstance(raw, list) or len(raw) != len(order):
        raise invalid
    values = []
    for key, value in zip(order, raw, strict=True):
        if isinstance(value, bool) or not isinstance(value, str | int) or "\x00" in str(value):
            raise invalid
        try:
            cleaned = key.field.to_python(value)
            # The field's validators: an id out of the column's range must be a 400, not a database error.
            key.field.run_validators(cleaned)
            if isinstance(cleaned, datetime):
                if cleaned.tzinfo is None:
                    raise ValueError("naive")
                cleaned = cleaned.astimezone(UTC)
        except (ValidationError, TypeError, ValueError, OverflowError):
            raise invalid from None
        values.append(cleaned)
    return values


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    try:
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    except FieldDoesNotExist:
        raise ImproperlyConfigured(f"{model.__name__} has no field {name!r} to order by.") from None
    assert isinstance(field, Field)
    return field
