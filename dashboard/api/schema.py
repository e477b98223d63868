"""Document the API's error answers in the OpenAPI schema (a drf-spectacular postprocessing
hook), so clients and schema-driven tests know every status an operation can return.

drf-spectacular documents only the success answer. Every operation can also answer 401 (no or
a bad token) and 403 (the role does not allow it); one with a path parameter 404; a write, or a
list with filters, 400 with field errors; the decision verdicts 409 when someone else moved the
decision first; throttled actions (a view's `throttled_actions`) 429 with `Retry-After`; the
actions that only send a message to the broker (`check`) 503 with `Retry-After` when it is down.
"""

from __future__ import annotations

import re
from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "description": "`detail` says what went wrong; a 400 names the fields (or policy problems "
    "with their line), a 409 adds `current_state`.",
    # A string, or a field error list when the request itself has a `detail` field.
    "properties": {
        "detail": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    },
    "additionalProperties": True,
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
_PARAMETER = re.compile(r"\{[^}]*\}")
CONFLICTING = {"approve", "reject", "override", "outcome", "activate"}
# Actions whose only effect is a message to the broker: 503 when it cannot take it.
BROKER_BOUND = {"check"}


def _answer(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def _throttled_operations(generator: Any) -> set[tuple[str, str]]:
    """{(path, method)} of the actions a view lists in `throttled_actions`."""
    found = set()
    for path, _regex, method, callback in getattr(generator, "endpoints", None) or ():
        cls = getattr(callback, "cls", None)
        action = (getattr(callback, "actions", None) or {}).get(method.lower())
        if action in getattr(cls, "throttled_actions", ()):
            found.add((_PARAMETER.sub("{}", path), method.lower()))
    return found


def document_error_responses(result: dict[str, Any], generator: Any, **kwargs: Any) -> Any:
    throttled = _throttled_operations(generator)
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        action = path.rstrip("/").rsplit("/", 1)[-1]
        for method, operation in operations.items():
            answers = operation.setdefault("responses", {})
            extra = {
                "401": _answer("No credentials, or invalid ones."),
                "403": _answer("Your role does not allow this."),
            }
            if "{" in path:
                extra["404"] = _answer("No such object.")
            if method != "get" or operation.get("parameters"):
                extra["400"] = _answer("Invalid input: the fields and what is wrong with them.")
            if method == "post" and action in CONFLICTING:
                extra["409"] = _answer("The object is no longer in a state that allows this.")
            if method == "post" and action in BROKER_BOUND:
                extra["503"] = {
                    **_answer(
                        "The task broker is unreachable: nothing was queued; retry after "
                        "`Retry-After` seconds."
                    ),
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                }
            if (_PARAMETER.sub("{}", path), method) in throttled:
                extra["429"] = {
                    **_answer("Too many requests: wait `Retry-After` seconds."),
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                }
            for code, answer in extra.items():
                answers.setdefault(code, answer)
    return result
