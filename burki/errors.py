"""One error envelope for the whole API: a JSON object with a human-readable `detail` (Burki clients read it).

Services raise `ServiceError`s; views never build error responses by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

# A database that cannot be reached (down, restarting, out of connections) is worth retrying shortly.
DATABASE_UNAVAILABLE = "Service temporarily unavailable."
DATABASE_RETRY_AFTER = 5


# What a 429's `limit` names, so that a client knows which limit it met (the Error schema lists them).
LIMITS = {
    "max_concurrent_calls": "The organization's live calls at once (max_concurrent_calls).",
    "calls_per_second": "The telephony account's calls per second.",
    "provider": "The telephony provider's own rate limit.",
    # A 403, not a 429: waiting does not help.
    "suppressed": "The destination is on the organization's do-not-call list (a 403).",
}


def request_too_large_detail(limit: int) -> str:
    return f"Request body too large (limit {limit} bytes)."


class ServiceError(Exception):
    """A refusal the client should see, with its HTTP status and anything else worth saying."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    default_detail = "Invalid request."

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, Any] | None = None,
        retry_after: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        self.errors = errors
        self.retry_after = retry_after
        self.extra = extra or {}
        super().__init__(self.detail)


class InvalidInput(ServiceError):
    status_code = status.HTTP_400_BAD_REQUEST


class NotFound(ServiceError):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "Not found."


class Forbidden(ServiceError):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "Forbidden."


class Conflict(ServiceError):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."


class TooManyRequests(ServiceError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "Too many requests."


def limit_reached(detail: str, *, limit: str, retry_after: int, extra: dict[str, Any] | None = None) -> TooManyRequests:
    """A 429 naming the limit met (one of LIMITS), with Retry-After."""
    if limit not in LIMITS:
        raise ValueError(f"Unknown limit {limit!r}: add it to burki.errors.LIMITS.")
    return TooManyRequests(detail, retry_after=retry_after, extra={**(extra or {}), "limit": limit})


def rule_refusal(detail: str, *, limit: str) -> Forbidden:
    """A 403 naming the rule (one of LIMITS) that refuses the request for good."""
    if limit not in LIMITS:
        raise ValueError(f"Unknown limit {limit!r}: add it to burki.errors.LIMITS.")
    return Forbidden(detail, extra={"limit": limit})


class BadGateway(ServiceError):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The telephony provider refused the request."


class GatewayTimeout(ServiceError):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    default_detail = "The telephony provider did not answer in time."


def error_body(detail: str, errors: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def _field_errors(data: Any) -> dict[str, Any]:
    if isinstance(data, dict):
        return {str(key): _flatten(value) for key, value in data.items()}
    return {"non_field_errors": _flatten(data)}


def _flatten(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _flatten(v) for k, v in value.items()}
    if isinstance(value, list):
        # A list of error strings stays a list; nested structures are kept as they are.
        return [_flatten(v) if isinstance(v, dict | list) else str(v) for v in value]
    return [str(value)]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return Response(error_body(exc.detail, exc.errors, **exc.extra), status=exc.status_code, headers=headers)
    if isinstance(exc, exceptions.ValidationError):
        return Response(error_body("Invalid request.", _field_errors(exc.detail)), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, OperationalError | InterfaceError):
        logger.error("Database unavailable: %s", exc)
        return Response(
            error_body(DATABASE_UNAVAILABLE),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
        )
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        return Response(error_body(request_too_large_detail(limit)), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, SuspiciousOperation):
        # What Django answers for these outside DRF (too many fields, a bad Host...), rather than a 500.
        logging.getLogger(f"django.security.{exc.__class__.__name__}").warning("%s", exc)
        return Response(error_body("Bad request."), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        # Unexpected: log with the traceback, answer with the envelope and nothing internal.
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
        return Response(error_body("Internal server error."), status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    data = response.data
    if isinstance(data, dict) and "detail" in data:
        response.data = error_body(str(data["detail"]))
    else:
        response.data = error_body("Invalid request.", _field_errors(data))
    return response


# Django-level handlers, for URLs outside DRF views (unknown paths, CSRF, crashes): same envelope.
def json_bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("Bad request."), status=400)


def json_permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("Forbidden."), status=403)


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("Not found."), status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("Internal server error."), status=500)
