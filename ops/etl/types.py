"""The declared column types of a source and the Arrow type each is carried as."""

from __future__ import annotations

import re

import pyarrow as pa

from ops.errors import ConfigError

_SIMPLE = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")


def arrow_type(name: str) -> pa.DataType:
    """The Arrow type of a declared column type ("string", "bigint", "int", "double", "decimal(P,S)",
    "boolean", "date", "timestamp": UTC, microseconds)."""
    simple = _SIMPLE.get(name)
    if simple is not None:
        return simple
    match = _DECIMAL.fullmatch(name)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2))
        if 1 <= precision <= 38 and 0 <= scale <= precision:
            return pa.decimal128(precision, scale)
    known = ", ".join(list(_SIMPLE) + ["decimal(P,S) with 1 <= P <= 38, 0 <= S <= P"])
    raise ConfigError(f"column type {name!r} is not one of {known}")
