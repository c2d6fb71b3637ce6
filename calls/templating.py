"""`{{variable}}` substitution in welcome messages and agendas.

Deliberately not a template engine: a placeholder is a name or a dotted path into nested JSON objects, with an
optional `| default('…')`. Nothing else is evaluated, so no user-supplied template can run code or reach a Python
attribute. Substitution is one pass: braces inside a value are inserted as text, never rendered again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# What a rendered text may hold, in characters (checked before anything is recorded or dialled).
MAX_WELCOME_MESSAGE = 1000
MAX_AGENDA = 4000
MAX_VARIABLES = 50
MAX_KEY_LENGTH = 64
MAX_DEPTH = 4
MAX_STRING_VALUE = 1000
MAX_NESTED_KEYS = 200

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PLACEHOLDER = re.compile(
    r"\{\{\s*(?P<path>" + _NAME + r"(?:\." + _NAME + r")*)\s*"
    r"(?:\|\s*default\(\s*(?:'(?P<single>[^']*)'|\"(?P<double>[^\"]*)\")\s*\)\s*)?\}\}"
)

_MISSING = object()


@dataclass
class Rendered:
    text: str
    missing: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    # The whole rendering's length in characters; more than len(text) when the text stopped at a limit.
    length: int = 0


def variables_errors(variables: Any) -> list[str]:
    """Problems with a `variables` object: JSON scalars, or nested objects of them, within size limits."""
    if not isinstance(variables, Mapping):
        return ["Must be a JSON object."]
    if len(variables) > MAX_VARIABLES:
        return [f"At most {MAX_VARIABLES} variables."]
    problems: list[str] = []
    count = 0

    def walk(value: Any, path: str, depth: int) -> None:
        nonlocal count
        if isinstance(value, Mapping):
            if depth > MAX_DEPTH:
                problems.append(f"'{path}' is nested more than {MAX_DEPTH} levels deep.")
                return
            for key, inner in value.items():
                count += 1
                if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
                    problems.append(f"Keys must be strings of 1 to {MAX_KEY_LENGTH} characters (in '{path}').")
                    continue
                walk(inner, f"{path}.{key}" if path else key, depth + 1)
        elif isinstance(value, str):
            if len(value) > MAX_STRING_VALUE:
                problems.append(f"'{path}' is longer than {MAX_STRING_VALUE} characters.")
        elif isinstance(value, list):
            problems.append(f"'{path}' is a list: values must be strings, numbers, booleans, null or objects.")
        elif value is not None and not isinstance(value, bool | int | float):
            problems.append(f"'{path}' has an unsupported type.")

    walk(variables, "", 0)
    if count > MAX_NESTED_KEYS:
        problems.append(f"At most {MAX_NESTED_KEYS} keys in all.")
    return problems


def _lookup(variables: Mapping[str, Any], path: str) -> Any:
    value: Any = variables
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    # Numbers as JSON writes them; an object referenced whole is inserted as compact JSON.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _expressions(template: str) -> Iterator[str]:
    r"""Each `{{…}}` in the template, as a lazy `\{\{.*?\}\}` would find them, in linear time: that regex scans to
    the end of the text from every unclosed `{{`.
    """
    start = template.find("{{")
    while start != -1:
        end = template.find("}}", start + 2)
        if end == -1:
            return
        yield template[start : end + 2]
        start = template.find("{{", end + 2)


def render(template: str, variables: Mapping[str, Any], *, limit: int | None = None) -> Rendered:
    """With a `limit`, the text stops growing once it passes `limit` characters: a large value referenced many
    times costs the limit, not the product of the two. `length` is still the whole rendering's, and every missing
    variable is still listed.
    """
    result = Rendered(text="")
    # Anything in double braces that is not a placeholder we understand is an error, not text to say aloud.
    result.invalid = [expr[:60] for expr in _expressions(template) if not _PLACEHOLDER.fullmatch(expr)]
    cap = None if limit is None else limit + 1
    pieces: list[str] = []
    # Each path's text, converted once however often it is referenced (an object is converted to JSON).
    texts: dict[str, str] = {}

    def emit(text: str) -> None:
        if cap is None:
            pieces.append(text)
        elif result.length < cap:
            pieces.append(text[: cap - result.length])
        result.length += len(text)

    def substitute(match: re.Match[str]) -> str:
        path = match["path"]
        value = _lookup(variables, path)
        default = match["single"] if match["single"] is not None else match["double"]
        if value is _MISSING or (value is None and default is not None):
            if default is not None:
                return default
            if path not in result.missing:
                result.missing.append(path)
            return ""
        if path not in texts:
            texts[path] = _as_text(value)
        return texts[path]

    position = 0
    for match in _PLACEHOLDER.finditer(template):
        emit(template[position : match.start()])
        emit(substitute(match))
        position = match.end()
    emit(template[position:])
    result.text = "".join(pieces)
    return result
