from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import BaseParser, JSONParser

from burki.text import unstorable_errors


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, with pathologically nested documents refused as bad input instead of crashing, and text no
    database can store (NUL, lone surrogates: see burki.text) refused as a 400 naming each field, for every view.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            document = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        errors = unstorable_errors(document)
        if errors:
            raise ValidationError(errors)
        return document


class CSVParser(BaseParser):
    """A `text/csv` body, handed over as bytes: the view decides how to read it (and says what is wrong with it)."""

    media_type = "text/csv"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:  # bytes
        return stream.read() if stream is not None else b""
