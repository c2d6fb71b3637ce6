"""Request-level guards and the request log: whatever a client sends, it gets a JSON answer, never a 500."""

from __future__ import annotations

import io
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.asgi import ASGIRequest
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.status import is_client_error, is_server_error

from burki.errors import (
    DATABASE_RETRY_AFTER,
    DATABASE_UNAVAILABLE,
    ServiceError,
    error_body,
    request_too_large_detail,
)
from burki.logging import JSON_FIELDS, REASON_ATTRIBUTE, current_request_id, redact_webhook_token
from burki.text import UNSTORABLE_TEXT, is_unstorable, printable
from burki.throttling import client_address

request_log = logging.getLogger("burki.requests")
logger = logging.getLogger(__name__)

GetResponse = Callable[[HttpRequest], HttpResponse]

REQUEST_ID_HEADER = "X-Request-Id"
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
MAX_LOGGED_PATH = 512


def _answer(
    status: int, detail: str, headers: dict[str, str] | None = None, *, errors: dict[str, Any] | None = None
) -> JsonResponse:
    response = JsonResponse(error_body(detail, errors), status=status, headers=headers)
    # The request log has the line for it; django.request would log the path a second time.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def too_large(limit: int) -> JsonResponse:
    return _answer(413, request_too_large_detail(limit))


class RequestLogMiddleware:
    """Gives every request an id (X-Request-Id, in and out) and logs one line for it once answered: its fields are
    the JSON line's in production (burki.logging.JsonFormatter), and every other line logged meanwhile has the id.

    The line holds no query string, body or header value: only what identifies the request and its outcome (and,
    for a request Django refused as suspicious, its reason).
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        offered = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = offered if _CLIENT_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]

        token = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)

        response[REQUEST_ID_HEADER] = request_id
        method = (request.method or "")[:16]
        path = redact_webhook_token(request.path)[:MAX_LOGGED_PATH]
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        fields = {
            "request_id": request_id,
            "method": method,
            "path": path,
            "status": response.status_code,
            "duration_ms": duration_ms,
            # Set by OrganizationAPIView once it knows whom the request acts for.
            "organization_id": getattr(request, "burki_organization_id", None),
            # The client's address as the login throttles take it: behind NUM_PROXIES proxies, not the proxy's.
            "client_ip": client_address(request)[:64] or None,
        }
        # Django's own line for it was dropped (burki.logging.OneLinePerResponse): its reason is said here instead.
        reason = getattr(request, REASON_ATTRIBUTE, None)
        if reason:
            fields["reason"] = reason
        level = logging.ERROR if response.status_code >= 500 else logging.WARNING if reason else logging.INFO
        request_log.log(
            level, "%s %s %s (%s ms)", method, path, response.status_code, duration_ms, extra={JSON_FIELDS: fields}
        )
        return response


def _unannounced_body(request: HttpRequest) -> IO[bytes] | None:
    """Where to read a body sent without Content-Length (chunked), if the server lets us read it at all."""
    if isinstance(request, ASGIRequest):
        return request._stream  # ASGI servers hand over the whole body, de-chunked
    if request.META.get("wsgi.input_terminated"):
        # Gunicorn and friends de-chunk and mark the end of the input; Django alone would read none of it.
        return request.META["wsgi.input"]
    return None


def _buffer(request: HttpRequest, body: bytes) -> None:
    """From here on, the body is an ordinary one that Django and DRF take as already read and checked."""
    request._body = body
    request._stream = io.BytesIO(body)
    request.META["CONTENT_LENGTH"] = str(len(body))


# Every answer under these paths is JSON, whatever renders it: the API (its root initiate included) and the provider
# webhooks. The admin and the docs page keep Django's HTML.
JSON_PATH_PREFIXES = ("/api/", "/calls/", "/telephony/")
_DEFAULT_DETAILS = {
    400: "Bad request.",
    403: "Forbidden.",
    404: "Not found.",
    500: "Internal server error.",
}


def wants_json(path: str) -> bool:
    return any(path.startswith(prefix) or path == prefix.rstrip("/") for prefix in JSON_PATH_PREFIXES)


class JsonErrorPagesMiddleware:
    """Django's own error pages become the JSON envelope on the API's and the webhooks' paths.

    handler404 and friends cover production, but not DEBUG (its technical 404 and 500 pages bypass them), nor the
    405 that a plain Django view answers through require_http_methods (an empty text/html body). Whatever an API
    client or a provider sends to those paths, in any mode, the answer is a JSON object with a `detail`.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        status = response.status_code
        if not (is_client_error(status) or is_server_error(status)) or not wants_json(request.path):
            return response
        if response.get("Content-Type", "").startswith("application/json") or response.streaming:
            return response
        if status == 405:
            detail = f'Method "{(request.method or "")[:16]}" not allowed.'
        else:
            detail = _DEFAULT_DETAILS.get(status) or f"{response.reason_phrase}."
        replaced = JsonResponse(error_body(detail), status=status)
        for header in ("Allow", "Retry-After"):
            if header in response:
                replaced[header] = response[header]
        # Logged already (or not) as the page it replaces: django.request must not log the path a second time.
        replaced._has_been_logged = getattr(response, "_has_been_logged", False)  # type: ignore[attr-defined]
        return replaced


class RequestBodyLimitMiddleware:
    """Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE are a 413 before anything reads them, announced or chunked.

    Django checks the limit only against Content-Length, which a chunked request does not send (and, under
    WSGI, would see dropped unread), and only once something reads `request.body`. The check waits for URL
    resolution (process_view) so that a view can be allowed more, and a body sent to no view is never read.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., HttpResponse], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        limit = self.limit_for(view_func)
        announced = request.META.get("CONTENT_LENGTH") or ""
        if announced:
            try:
                length = int(announced)
            except ValueError:
                length = -1
            if length < 0:
                return _answer(400, "Invalid Content-Length header.")
            if limit is not None and length > limit:
                return too_large(limit)
            if limit != settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                # Read now, within this view's own allowance: Django (and DRF through it) would hold the body
                # to the global limit when it reads it.
                _buffer(request, request.read())
        elif request.META.get("HTTP_TRANSFER_ENCODING"):
            stream = _unannounced_body(request)
            if stream is None:
                # The server (runserver, for one) does not pass a chunked body on: the view would see none.
                return _answer(411, "A request body needs a Content-Length header on this server.")
            body = stream.read() if limit is None else stream.read(limit + 1)
            if limit is not None and len(body) > limit:
                return too_large(limit)
            _buffer(request, body)
        return None

    def limit_for(self, view_func: Callable[..., HttpResponse]) -> int | None:
        """A view class may allow itself more with a `max_body_size` attribute (bytes)."""
        allowed = getattr(getattr(view_func, "view_class", None), "max_body_size", None)
        return allowed or settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class UnstorableTextMiddleware:
    """A NUL or a lone surrogate in a path parameter or the query string is a 400 naming it, before any view runs.

    Every view, DRF's or plain Django's (webhooks, the admin), filters the database with what it is given: such text
    would reach PostgreSQL and come back as a 500 (see burki.text). JSON bodies are checked by burki.parsers.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., HttpResponse], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        bad = [name for name, value in view_kwargs.items() if isinstance(value, str) and is_unstorable(value)]
        if any(isinstance(value, str) and is_unstorable(value) for value in view_args):
            bad.append("path")
        for name, values in request.GET.lists():
            if is_unstorable(name) or any(is_unstorable(value) for value in values):
                bad.append(printable(name))
        if not bad:
            return None
        return _answer(400, "Invalid request.", errors={name: [UNSTORABLE_TEXT] for name in bad})


class ExceptionMiddleware:
    """What a plain Django view may raise that deserves its own answer, not Django's 400 or 500 page.

    DRF views get the same answers from burki.errors.exception_handler.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, ServiceError):
            # The same refusal a DRF view gives, e.g. the admin's login past the limit of failed logins (429).
            headers = {"Retry-After": str(exception.retry_after)} if exception.retry_after is not None else None
            response = JsonResponse(
                error_body(exception.detail, exception.errors, **exception.extra),
                status=exception.status_code,
                headers=headers,
            )
            response._has_been_logged = True  # type: ignore[attr-defined]
            return response
        if isinstance(exception, OperationalError | InterfaceError):
            # Down, restarting, out of connections: worth retrying shortly, and nothing internal to show.
            logger.error("Database unavailable: %s", exception)
            return _answer(503, DATABASE_UNAVAILABLE, {"Retry-After": str(DATABASE_RETRY_AFTER)})
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if isinstance(exception, RequestDataTooBig) and limit is not None:
            # Django's own check, should a view read a body that RequestBodyLimitMiddleware let through.
            return too_large(limit)
        return None
