"""Text the database cannot store: NUL characters and lone surrogates.

PostgreSQL refuses NUL in text and `\\u0000` in jsonb; no database encodes a lone surrogate (U+D800 to U+DFFF), which
`json.loads` accepts as "\\ud800". Reaching the database, either is a 500 whose error quotes the statement's data (the
settings, secrets and all) into the application's and the database's logs. So they are refused where input arrives.
"""

from __future__ import annotations

import re
from typing import Any

UNSTORABLE_TEXT = "Contains a NUL character or an invalid Unicode surrogate."
# Enough to say what to fix; a document full of them must not make an answer larger than the request.
MAX_REPORTED = 10

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def printable(text: str) -> str:
    """`text` with each unstorable character written as its escape, fit to be echoed in an answer or a log."""
    return _UNSTORABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def unstorable_paths(document: Any, *, root: str = "") -> list[str]:
    """The paths ("settings.voices[0].name") of the strings, keys included, in a JSON document that hold unstorable
    text; at most MAX_REPORTED. A path names a bad key in its escaped form. Iterative: any depth is safe.
    """
    found: list[str] = []
    stack: list[tuple[str, Any]] = [(root, document)]
    while stack and len(found) < MAX_REPORTED:
        path, value = stack.pop()
        if isinstance(value, str):
            if is_unstorable(value):
                found.append(path)
        elif isinstance(value, dict):
            children: list[tuple[str, Any]] = []
            for key, item in value.items():
                name = str(key)
                here = f"{path}.{printable(name)}" if path else printable(name)
                if is_unstorable(name):
                    found.append(here)
                children.append((here, item))
            stack.extend(reversed(children))  # popped in document order
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in reversed(list(enumerate(value))))
    return found[:MAX_REPORTED]


def unstorable_errors(document: Any, *, root: str = "") -> dict[str, list[str]]:
    """`{path: [UNSTORABLE_TEXT]}` for each bad string in `document` (see unstorable_paths); empty when all is well.

    A bad document that is itself a string, at the root, is reported as "non_field_errors".
    """
    return {path or "non_field_errors": [UNSTORABLE_TEXT] for path in unstorable_paths(document, root=root)}
