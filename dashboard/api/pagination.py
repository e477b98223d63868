"""Limit/offset pagination whose numbers stay within what a database can take.

DRF's `LimitOffsetPagination` passes any positive `offset` (and, without `max_limit`, any
`limit`) to the query; on SQLite a number past 64 bits in LIMIT/OFFSET fails with "datatype
mismatch", a 500 (found by the schema fuzzing). No table here comes near such sizes, so larger
numbers are clamped: an offset past the end gives an empty page, as any offset past the end does.
"""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import LimitOffsetPagination

MAX_NUMBER = 2**31 - 1


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """DRF's limit/offset pagination with `limit` and `offset` clamped to `MAX_NUMBER`."""

    def get_limit(self, request: Any) -> int | None:
        limit = super().get_limit(request)
        return min(limit, MAX_NUMBER) if limit is not None else None

    def get_offset(self, request: Any) -> int:
        return min(super().get_offset(request), MAX_NUMBER)
