"""Idempotency-Key: a client that retries after a timeout gets the first response, and nothing happens twice."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from burki.errors import Conflict, InvalidInput, ServiceError
from burki.models import IdempotencyRecord, Organization

HEADER = "Idempotency-Key"
_VALID_KEY = re.compile(r"[\x20-\x7e]{1,255}")


class KeyReused(ServiceError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY


@dataclass(frozen=True)
class Replay:
    status: int
    body: Any


def request_fingerprint(*, operation: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{operation}\n{canonical}".encode()).hexdigest()


def idempotency_begin(*, organization: Organization, key: str, fingerprint: str) -> IdempotencyRecord | Replay:
    """Claim the key for this request, or say what a repeat of it gets."""
    now = timezone.now()
    for _ in range(3):
        try:
            # Its own transaction, committed at once: concurrent repeats must see the claim immediately.
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    organization=organization,
                    key=key,
                    fingerprint=fingerprint,
                    expires_at=now + timedelta(seconds=settings.IDEMPOTENCY_TTL),
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(organization=organization, key=key).first()
        if existing is None:
            continue  # released by its request in the meantime: claim it again
        if existing.expires_at <= now:
            IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
            continue
        if existing.fingerprint != fingerprint:
            raise KeyReused(f"This {HEADER} was already used with a different request.")
        if existing.response_status is None:
            raise Conflict(f"A request with this {HEADER} is still being processed.", retry_after=1)
        return Replay(status=existing.response_status, body=existing.response_body)
    raise Conflict(f"A request with this {HEADER} is still being processed.", retry_after=1)


def idempotency_finish(*, record: IdempotencyRecord, response: Response) -> None:
    record.response_status = response.status_code
    record.response_body = json.loads(json.dumps(response.data, default=str))
    record.save(update_fields=["response_status", "response_body"])


def idempotency_release(*, record: IdempotencyRecord) -> None:
    record.delete()


def idempotency_purge_expired() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


def idempotent(
    view: APIView,
    request: Request,
    *,
    organization: Organization,
    operation: str,
    handler: Callable[[], Response],
    keep: Callable[[Response], bool],
) -> Response:
    """Run `handler` once per Idempotency-Key; a response `keep` accepts is stored and replayed to repeats.

    A response `keep` refuses (e.g. invalid input: nothing happened) releases the key, so the client can fix the
    request and retry with the same key.
    """
    key = request.headers.get(HEADER)
    if key is None:
        return handler()
    if not _VALID_KEY.fullmatch(key) or not key.strip():
        raise InvalidInput("Invalid request.", errors={HEADER: ["Must be 1 to 255 printable ASCII characters."]})
    claim = idempotency_begin(
        organization=organization, key=key, fingerprint=request_fingerprint(operation=operation, body=request.data)
    )
    if isinstance(claim, Replay):
        return Response(claim.body, status=claim.status, headers={"Idempotent-Replayed": "true"})
    try:
        response = handler()
    except Exception as exc:
        response = view.handle_exception(exc)
    if keep(response):
        idempotency_finish(record=claim, response=response)
    else:
        idempotency_release(record=claim)
    return response
