"""Dates and timestamps PostgreSQL holds that the lake cannot: published as NULL, and the row fails `representable`.

PostgreSQL keeps 'infinity' and '-infinity', BC dates and years up to 294276 (5874897 for a date). The lake holds
years 1 to 9999: the four-digit years of ISO 8601, which every reader of it parses (the CSV the extract streams
through, Python's datetime, the text forms of DuckDB and Athena). A value outside them does not stop the run and
is never clamped to a date that looks real: it is published as NULL, and its row fails the implicit row rule
`representable(COLUMN)`, judged with the declared row rules (ops.etl.quality): it counts against the table's
valid share and its keys are listed in the report, so one such row is reported and many quarantine the batch.

The extract flags each replaced value in the same scan (one boolean per date or timestamp column, beside the
value) and spools the flagged rows' keys, with the column's name, to a Parquet file of their own (Replaced):
memory stays flat however many there are, and the published files carry no extra column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

RULE = "representable"
# Keys of replaced rows a manifest keeps per column: enough that `etl check` counts the rows failing a row rule as
# the run did; past it only the count is kept (and the valid share is not measured again).
RECORDED_KEYS = 10_000
FIRST, END = "0001-01-01", "10000-01-01"  # the lake's dates: FIRST <= value < END
COLUMN = "__dbops_column"  # in the spooled keys: the column whose value was replaced
TYPES = ("date", "timestamp")


def held_sql(value: str, declared: str) -> str:
    """PostgreSQL: TRUE when `value` (an expression of the declared type) is one the lake holds; NULL for NULL.
    'infinity' sorts after every date and '-infinity' before, so both fall outside."""
    cast = "timestamp" if declared == "timestamp" else "date"
    return f"({value} >= {cast} '{FIRST}' AND {value} < {cast} '{END}')"


class Replaced:
    """The rows of one table whose values were replaced by NULL: their keys and the column, as Parquet under path."""

    def __init__(self, path: Path, key: tuple[str, ...]) -> None:
        self.path, self.key = path, key
        self.counts: dict[str, int] = {}
        self.writer: Any = None

    def add(self, batch: pa.RecordBatch, flags: dict[str, pa.Array]) -> None:
        """Spool the keys of the rows of `batch` flagged in flags[column] (True: replaced)."""
        for column, flag in flags.items():
            hits = pc.fill_null(flag, False)
            n = pc.sum(hits).as_py() or 0
            if not n:
                continue
            self.counts[column] = self.counts.get(column, 0) + n
            keys = pa.Table.from_batches([batch.select(list(self.key))]).filter(hits)
            rows = keys.append_column(COLUMN, pa.array([column] * n, pa.string()))
            if self.writer is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.writer = pq.ParquetWriter(str(self.path), rows.schema)
            self.writer.write_table(rows)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def dataset(self) -> pads.Dataset | None:
        """The replaced rows as DuckDB scans them; None when no value was replaced."""
        self.close()
        return pads.dataset(str(self.path), format="parquet") if self.counts else None


def recorded(replaced: Replaced | None, limit: int = RECORDED_KEYS) -> dict[str, dict[str, Any]]:
    """What a manifest keeps of the values replaced by NULL, per column: their count and the keys of the first
    `limit` of their rows, by key (JSON: dates and timestamps of a key as ISO text), so `etl check` judges
    representable(COLUMN) again from the published batch."""
    data = replaced.dataset() if replaced is not None else None
    if data is None or replaced is None:
        return {}
    rows = data.to_table()  # keys and a column name per replaced value only, never the row's other data
    out: dict[str, dict[str, Any]] = {}
    for column, count in sorted(replaced.counts.items()):
        hits = rows.filter(pc.equal(rows[COLUMN], column)).select(list(replaced.key))
        first = hits.sort_by([(k, "ascending") for k in replaced.key]).slice(0, limit)
        out[column] = {"count": count, "keys": [[_json(row[k]) for k in replaced.key] for row in first.to_pylist()]}
    return out


def _json(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def recorded_keys(record: dict[str, dict[str, Any]], schema: pa.Schema, key: tuple[str, ...]) -> pa.Table | None:
    """A manifest's record of replaced values as the extract spooled them (the key columns, of the batch's types
    in `schema`, and COLUMN), for quality.evaluate's `replaced`; None when nothing was replaced."""
    rows = [(column, k) for column, r in sorted(record.items()) for k in r["keys"]]
    if not rows:
        return None
    arrays = {name: pa.array([k[i] for _, k in rows]).cast(schema.field(name).type) for i, name in enumerate(key)}
    return pa.table({**arrays, COLUMN: pa.array([column for column, _ in rows], pa.string())})
