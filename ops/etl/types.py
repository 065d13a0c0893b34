"""The column types a pipeline declares, and the Arrow type each one travels as.

Declared types are strings: "string", "bigint", "int", "double", "decimal(P,S)", "boolean", "date",
"timestamp" (UTC, microseconds). Anything else is a UsageError naming the type.
"""

from __future__ import annotations

import re

import pyarrow as pa

from ops.errors import UsageError

_DECIMAL = re.compile(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)")
_SIMPLE = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
MAX_DECIMAL_PRECISION = 38  # decimal128, and Athena's DECIMAL limit


def arrow_type(name: str) -> pa.DataType:
    """The Arrow type of a declared column type."""
    text = name.strip().lower() if isinstance(name, str) else ""
    if text in _SIMPLE:
        return _SIMPLE[text]
    match = _DECIMAL.fullmatch(text)
    if match:
        precision, scale = int(match[1]), int(match[2])
        if 1 <= precision <= MAX_DECIMAL_PRECISION and scale <= precision:
            return pa.decimal128(precision, scale)
        raise UsageError(f"column type {name!r}: decimal(P,S) needs 1 <= P <= {MAX_DECIMAL_PRECISION} and S <= P")
    known = ", ".join([*_SIMPLE, "decimal(P,S)"])
    raise UsageError(f"unknown column type {name!r} (known: {known})")
