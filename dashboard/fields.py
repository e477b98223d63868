"""A model field for JSON-like documents that hold long runs of numbers: reference profiles and
telemetry samples.

Stored as JSON, a reference of 20 columns x 2,000 samples is ~0.4 MB of text, and decoding it
(parsing 40,000 floats) cost more than computing the drift signals from it. `PackedDocumentField`
keeps the same document but stores every long list of numbers as raw little-endian
float64/int64 bytes after a small JSON skeleton, so reading it back is a JSON parse of a few
kilobytes plus `np.frombuffer` per list. The encoding is lossless (float64 stays float64, ints
stay ints, so integer class labels stay labels).

On read, those lists come back as read-only 1-D numpy arrays (everything else as JSON gives it);
code that reads the documents uses `np.asarray`, `len` and indexing, which work on both. The
REST API never returns these documents, so no payload changes.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
from django.db import models

MAGIC = b"SHP1"
"""Packed format: MAGIC, uint32 skeleton length, skeleton JSON, then the number buffers."""
JSON_MAGIC = b"SHJ1"
"""Fallback format: MAGIC then plain JSON (a document with a key that looks like a marker)."""
MARKER = "\x00packed"
"""The skeleton's stand-in for a packed list: {MARKER: [dtype, offset, count]}."""
MIN_PACKED = 16
"""Shorter lists stay in the JSON skeleton: packing them saves nothing."""
_INT64 = (-(2**63), 2**63 - 1)


class _MarkerClash(Exception):
    """A document's own key equals MARKER; it is stored as plain JSON instead."""


def _numbers(values: list[Any]) -> np.ndarray[Any, Any] | None:
    """`values` as a float64 or int64 array when every item is a float (or every item an int),
    else None (mixed, strings, bools, nested, or ints outside int64 stay JSON)."""
    first = type(values[0])
    if first is float:
        if all(type(v) is float for v in values):
            return np.array(values, dtype="<f8")
        return None
    if first is int and all(type(v) is int for v in values):
        if min(values) < _INT64[0] or max(values) > _INT64[1]:
            return None
        return np.array(values, dtype="<i8")
    return None


def _array_of(value: np.ndarray[Any, Any]) -> np.ndarray[Any, Any] | None:
    if value.ndim != 1:
        return None
    if value.dtype.kind == "f":
        return value.astype("<f8", copy=False)
    if value.dtype.kind in "iu" and (value.size == 0 or value.max() <= _INT64[1]):
        return value.astype("<i8", copy=False)
    return None


def pack_document(document: Any) -> bytes:
    """Encode a JSON-like document (numpy arrays and scalars allowed) as packed bytes."""
    buffers: list[bytes] = []
    offset = 0

    def walk(value: Any) -> Any:
        nonlocal offset
        array = None
        if isinstance(value, np.ndarray):
            array = _array_of(value)
            if array is None:
                return [walk(v) for v in value.tolist()]
        elif isinstance(value, (list, tuple)):
            if len(value) >= MIN_PACKED:
                array = _numbers(list(value))
            if array is None:
                return [walk(v) for v in value]
        elif isinstance(value, dict):
            if MARKER in value:
                raise _MarkerClash
            return {str(k): walk(v) for k, v in value.items()}
        elif isinstance(value, np.generic):
            return value.item()
        else:
            return value
        raw = array.tobytes()
        buffers.append(raw)
        marker = {MARKER: [array.dtype.str, offset, int(array.size)]}
        offset += len(raw)
        return marker

    try:
        skeleton = json.dumps(walk(document), separators=(",", ":"), allow_nan=True).encode()
    except _MarkerClash:
        return JSON_MAGIC + json.dumps(document, separators=(",", ":")).encode()
    return b"".join([MAGIC, struct.pack("<I", len(skeleton)), skeleton, *buffers])


def unpack_document(data: bytes | memoryview) -> Any:
    """Decode `pack_document`'s bytes; packed lists come back as read-only numpy arrays."""
    raw = bytes(data) if not isinstance(data, bytes) else data
    if raw.startswith(JSON_MAGIC):
        return json.loads(raw[len(JSON_MAGIC) :])
    if not raw.startswith(MAGIC):
        raise ValueError("not a packed document")
    (length,) = struct.unpack_from("<I", raw, len(MAGIC))
    start = len(MAGIC) + 4
    body = start + length

    def unmark(pairs: list[tuple[str, Any]]) -> Any:
        if len(pairs) == 1 and pairs[0][0] == MARKER:
            dtype, offset, count = pairs[0][1]
            return np.frombuffer(raw, dtype=dtype, count=count, offset=body + offset)
        return dict(pairs)

    return json.loads(raw[start:body], object_pairs_hook=unmark)


class PackedDocumentField(models.BinaryField):
    """A JSON-like document stored with `pack_document` (see the module docstring)."""

    # For django-stubs: the attribute holds the document, not bytes.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return None if value is None else unpack_document(value)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, (bytes, memoryview)):
            return unpack_document(value)
        return value

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        if not isinstance(value, (bytes, memoryview)):  # already packed: as the database gave it
            value = pack_document(value)
        return super().get_db_prep_value(value, connection, prepared)

    def value_to_string(self, obj: models.Model) -> str:
        # Serialization (dumpdata) writes the document as JSON, lists as lists.
        return json.dumps(_plain(self.value_from_object(obj)))


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
