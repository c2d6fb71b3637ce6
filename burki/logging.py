"""Logging filters that keep personal data and secrets out of every log line, whoever wrote the record.

They sit on the handlers (settings.LOGGING), not on loggers: a logger's filters only see records logged on that
logger, while a handler sees everything that reaches it, our code's and Django's and the provider SDKs' alike.
"""

from __future__ import annotations

import logging
import re

# E.164-looking: a + (or its URL encoding) and 8 to 15 digits, with the separators humans put between them.
_PHONE_NUMBER = re.compile(r"(?:\+|%2[Bb])\d(?:[ \-.()]{0,2}\d){7,14}(?!\d)")
# A webhook path's last segment is the call's token: whoever has it can post events for the call.
_WEBHOOK_TOKEN = re.compile(r"(/telephony/[^/\s\"'?]+/[^/\s\"'?]+/)[^\s\"'?]+")
# Query strings (in request lines such as runserver's) can carry anything the client sent.
_QUERY_STRING = re.compile(r"(/[^\s\"'?]*)\?[^\s\"']+")

_traceback_formatter = logging.Formatter()


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
        return True


class MaskPhoneNumbers(_RewriteRecord):
    """+14155550100, +1 (415) 555-0100 or %2B14155550100 become …0100: enough to tell calls apart."""

    def rewrite(self, text: str) -> str:
        return mask_phone_numbers(text)


class RedactUrls(_RewriteRecord):
    """Webhook tokens and query strings, wherever a URL or request line shows up in a message."""

    def rewrite(self, text: str) -> str:
        return redact_urls(text)
