"""The API's JSON parser: DRF's strict one (no NaN or Infinity), which also refuses strings that
no database column, log line or response can hold.

JSON may spell a lone UTF-16 surrogate (``"\\ud800"``) or a NUL (``"\\u0000"``): both parse
into a Python `str`, but UTF-8 cannot encode the first (echoing it in an error answer failed
with a 500) and PostgreSQL's text and jsonb refuse the second. Refusing them here, once, gives
a 400 before any service sees the payload.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def unstorable_text(data: Any) -> str | None:
    """The first string (key or value) in `data` with a NUL or a lone surrogate, else None."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or (not item.isascii() and _has_surrogate(item)):
                return item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, str | dict | list))
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class StorableJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if unstorable_text(data) is not None:
            raise ParseError(
                "JSON parse error - strings must not contain NUL characters or lone surrogates"
            )
        return data
