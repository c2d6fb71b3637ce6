"""Burki's list shape: `?skip=&limit=` in, `{"items", "total", "skip", "limit"}` out."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


class PageParams(serializers.Serializer[Any]):
    skip = serializers.IntegerField(min_value=0, max_value=10**9, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)


def page_params(request: Request) -> tuple[int, int]:
    params = PageParams(data={k: v for k, v in request.query_params.items() if k in ("skip", "limit")})
    params.is_valid(raise_exception=True)
    return params.validated_data["skip"], params.validated_data["limit"]


def paginated_response(
    request: Request, queryset: QuerySet[Any], output: type[serializers.BaseSerializer[Any]]
) -> Response:
    """One page of `queryset` per the request's skip/limit, each item rendered by `output`."""
    skip, limit = page_params(request)
    items = list(queryset[skip : skip + limit])
    return Response({"items": output(items, many=True).data, "total": queryset.count(), "skip": skip, "limit": limit})
