"""The column types a pipeline declares, and the Arrow type each one is published as."""

from __future__ import annotations

import re

import pyarrow as pa

from ops.errors import UsageError

_SIMPLE = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
_DECIMAL = re.compile(r"decimal\((\d{1,2}),\s*(\d{1,2})\)")
TYPE_NAMES = (*_SIMPLE, "decimal(P,S)")


def arrow_type(name: str) -> pa.DataType:
    """The Arrow type of a declared column type; an unknown one is a UsageError naming the known ones."""
    text = name.strip().lower() if isinstance(name, str) else ""
    if text in _SIMPLE:
        return _SIMPLE[text]
    m = _DECIMAL.fullmatch(text)
    if m and 1 <= int(m.group(1)) <= 38 and int(m.group(2)) <= int(m.group(1)):
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    raise UsageError(f"unknown column type {name!r} (one of: {', '.join(TYPE_NAMES)}, P 1-38, S <= P)")


def arrow_schema(columns: dict[str, str]) -> pa.Schema:
    return pa.schema([pa.field(c, arrow_type(t)) for c, t in columns.items()])
