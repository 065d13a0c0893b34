"""The bounds of an answer of rows: at most row_limit rows, each value cut to MAX_VALUE_BYTES, and no more rows
fetched once the values received pass MAX_ANSWER_BYTES.

Rows are taken from a cursor in small, growing batches (1, 4, 16, then 64 at most), so a result of huge rows
stops after the first batch that passes the bound instead of being fetched whole. A bound on rows does not
bound bytes: a server sends a row whole (one PostgreSQL value may be 1 GB), so the bytes of the rows of the
last batch fetched still reach this process; only what is kept of them is cut.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from datetime import date, datetime, time as time_of_day, timedelta
from decimal import Decimal
from typing import Any, Callable, Sequence
from uuid import UUID

MAX_VALUE_BYTES = 8 * 1024
MAX_ANSWER_BYTES = 1024 * 1024
_BATCHES = (1, 4, 16, 64)


@dataclass(frozen=True)
class Taken:
    rows: tuple[tuple[Any, ...], ...]  # JSON-safe, each value cut to MAX_VALUE_BYTES
    truncated_by: str | None  # "row_limit" | "byte_limit" when there was more than was taken
    values_cut: int  # values cut to MAX_VALUE_BYTES, each ending in a marker saying so


def json_safe(value: Any) -> Any:
    """A value JSON can carry without losing what it was: exact numbers and times as text, bytes as base64."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date, time_of_day)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return str(value)


def cut(value: Any) -> tuple[Any, int, bool]:
    """(the JSON-safe value at most MAX_VALUE_BYTES long, the bytes the value had, whether it was cut).

    Text is cut at a character boundary and ends in '… [value cut: N bytes]'; bytes keep their first
    MAX_VALUE_BYTES as base64 with `cut_from_bytes`; a JSON document or an array longer than the cap becomes
    its JSON text, cut the same way."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        if len(raw) <= MAX_VALUE_BYTES:
            return json_safe(raw), len(raw), False
        return {"base64": base64.b64encode(raw[:MAX_VALUE_BYTES]).decode("ascii"), "cut_from_bytes": len(raw)}, len(raw), True
    safe = json_safe(value)
    if isinstance(safe, (dict, list)):
        text = json.dumps(safe, ensure_ascii=False)
        size = _size(text)
        return (safe, size, False) if size <= MAX_VALUE_BYTES else (_cut_text(text, size), size, True)
    if isinstance(safe, str):
        size = _size(safe)
        return (safe, size, False) if size <= MAX_VALUE_BYTES else (_cut_text(safe, size), size, True)
    return safe, len(str(safe)), False


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _cut_text(text: str, size: int) -> str:
    head = text[:MAX_VALUE_BYTES].encode("utf-8")[:MAX_VALUE_BYTES].decode("utf-8", "ignore")
    return f"{head}… [value cut: {size} bytes]"


def take(fetch: Callable[[int], Sequence[Sequence[Any]]], row_limit: int, max_bytes: int = MAX_ANSWER_BYTES) -> Taken:
    """Rows from fetch(n) (a cursor's fetchmany) until row_limit rows are kept, the bytes received pass max_bytes, or
    the rows end; one more row than row_limit is asked for, to know whether there were more."""
    kept: list[tuple[Any, ...]] = []
    received = cuts = 0
    batch = 0
    while True:
        rows = fetch(min(_BATCHES[batch], row_limit + 1 - len(kept)))
        batch = min(batch + 1, len(_BATCHES) - 1)
        if not rows:
            return Taken(tuple(kept), None, cuts)
        for row in rows:
            if len(kept) == row_limit:
                return Taken(tuple(kept), "row_limit", cuts)
            if received >= max_bytes:
                return Taken(tuple(kept), "byte_limit", cuts)
            values = [cut(v) for v in row]
            kept.append(tuple(v for v, _, _ in values))
            received += sum(size for _, size, _ in values)
            cuts += sum(1 for _, _, was_cut in values if was_cut)
        if received >= max_bytes:
            more = fetch(1)
            return Taken(tuple(kept), "byte_limit" if more else None, cuts)
