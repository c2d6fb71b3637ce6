"""Logging filters that keep personal data and secrets out of every log line, whoever wrote the record.

They sit on the handlers (settings.LOGGING), not on loggers: a logger's filters only see records logged on that
logger, while a handler sees everything that reaches it, our code's and Django's and the provider SDKs' alike.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# E.164-looking: a + (or its URL encoding) and 8 to 15 digits, with the separators humans put between them.
_PHONE_NUMBER = re.compile(r"(?:\+|%2[Bb])\d(?:[ \-.()]{0,2}\d){7,14}(?!\d)")
# A webhook path's last segment is the call's token: whoever has it can post events for the call.
_WEBHOOK_TOKEN = re.compile(r"(/telephony/[^/\s\"'?]+/[^/\s\"'?]+/)[^\s\"'?]+")
# Query strings (in request lines such as runserver's) can carry anything the client sent.
_QUERY_STRING = re.compile(r"(/[^\s\"'?]*)\?[^\s\"']+")

_traceback_formatter = logging.Formatter()

# The id of the request being served (burki.middleware.RequestLogMiddleware), for every line logged while serving it.
current_request_id: ContextVar[str | None] = ContextVar("burki_request_id", default=None)
# A record's own JSON fields (`logger.info(message, extra={JSON_FIELDS: {...}})`), e.g. the request log's.
JSON_FIELDS = "json_fields"
# Where a 4xx's reason, as django.security words it, waits for the request log's line (see OneLinePerResponse).
REASON_ATTRIBUTE = "burki_log_reason"
MAX_REASON = 512


def mask_phone_numbers(text: str) -> str:
    return _PHONE_NUMBER.sub(lambda match: "…" + re.sub(r"\D", "", match.group())[-4:], text)


def redact_webhook_token(path: str) -> str:
    """/telephony/<provider>/<kind>/<token> -> /telephony/<provider>/<kind>/…"""
    return _WEBHOOK_TOKEN.sub(r"\1…", path)


def redact_urls(text: str) -> str:
    return _QUERY_STRING.sub(r"\1?…", redact_webhook_token(text))


class _RewriteRecord(logging.Filter):
    """Rewrites the formatted message, and any traceback or stack text, of every record it sees."""

    def rewrite(self, text: str) -> str:
        raise NotImplementedError

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is reported by the handler; a filter must never raise
            return True
        rewritten = self.rewrite(message)
        if rewritten != message:
            record.msg, record.args = rewritten, None
        if record.exc_info and not record.exc_text:
            # Formatters cache the traceback text here; filling it now lets us rewrite it too.
            record.exc_text = _traceback_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.rewrite(record.exc_text)
        if record.stack_info:
            record.stack_info = self.rewrite(record.stack_info)
        fields = getattr(record, JSON_FIELDS, None)
        if isinstance(fields, Mapping):
            setattr(
                record,
                JSON_FIELDS,
                {key: self.rewrite(value) if isinstance(value, str) else value for key, value in fields.items()},
            )
        return True


class MaskPhoneNumbers(_RewriteRecord):
    """+14155550100, +1 (415) 555-0100 or %2B14155550100 become …0100: enough to tell calls apart."""

    def rewrite(self, text: str) -> str:
        return mask_phone_numbers(text)


class RedactUrls(_RewriteRecord):
    """Webhook tokens and query strings, wherever a URL or request line shows up in a message."""

    def rewrite(self, text: str) -> str:
        return redact_urls(text)


class OneLinePerResponse(logging.Filter):
    """A 4xx gets one line: the request log's (burki.middleware.RequestLogMiddleware), which has its id and status.

    Django logs each 4xx again: django.request ("Not Found: /x", after the response is built) and django.security
    (an invalid Host header, a CSRF failure, while it is built). Those records are dropped; django.security's
    message, the only one saying more than the status, becomes the request line's `reason`. 5xx records are kept:
    they carry the traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("django.request", "django.security")):
            return True
        status = getattr(record, "status_code", None)
        if not isinstance(status, int) or status >= 500:
            return True
        request = getattr(record, "request", None)
        if record.name.startswith("django.security") and request is not None and not hasattr(request, REASON_ATTRIBUTE):
            try:
                setattr(request, REASON_ATTRIBUTE, record.getMessage()[:MAX_REASON])
            except Exception:  # a filter must never raise
                return False
        return False


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the request's id when the line was logged while
    serving one, the record's own fields (JSON_FIELDS), and the traceback as text (`exc_info`), if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id.get() or getattr(getattr(record, "request", None), "request_id", None)
        if isinstance(request_id, str):
            line["request_id"] = request_id
        fields = getattr(record, JSON_FIELDS, None)
        if isinstance(fields, Mapping):
            line.update({str(key): value for key, value in fields.items() if key not in line})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        # Readable UTF-8; a lone surrogate (no encoding can write one) becomes its JSON escape, \ud800.
        return json.dumps(line, default=str, ensure_ascii=False).encode("utf-8", "backslashreplace").decode()
