"""The one way the export opens DuckDB: in process, loading no extension (no network at run time), and reading
time in UTC as Athena does. DuckDB's session time zone is otherwise the machine's: a cast of a timestamp to a
date, or a timestamp literal, would answer differently in a shell with another TZ."""

from __future__ import annotations

from typing import Any

# The memory of DuckDB judging a batch (rules, reconciliation), beyond which it spills to disk: a unique key's hash
# table grows with the table, and a run's memory must not.
RULES_MEMORY = "128MB"


def connect(**settings: Any) -> Any:
    import duckdb

    con = duckdb.connect(":memory:", config={"autoload_known_extensions": False, "autoinstall_known_extensions": False,
                                             **settings})
    con.execute("SET TimeZone='UTC'")
    return con


def register(con: Any, name: str, data: Any) -> None:
    """`data` as the view `name`: an Arrow table as itself; a dataset of Parquet files read by DuckDB's own
    scan, which its memory limit bounds (DuckDB scanning an Arrow dataset holds the Arrow scanner's read-ahead
    outside that limit: 10 M rows cost about 170 MB more)."""
    import pyarrow.dataset as pads

    if isinstance(data, pads.FileSystemDataset) and isinstance(data.format, pads.ParquetFileFormat) and data.files:
        listed = ", ".join(_literal(f) for f in data.files)
        part = data.partitioning.schema if data.partitioning is not None else None
        options = ""
        if part is not None and len(part):
            types = ", ".join(f"{_literal(f.name)}: {duck_type(f.type)}" for f in part)
            options = f", hive_partitioning = true, hive_types = {{{types}}}, hive_types_autocast = false"
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM read_parquet([{listed}]{options})')
        return
    con.register(name, data)


def unregister(con: Any, name: str) -> None:
    con.execute(f'DROP VIEW IF EXISTS "{name}"')
    con.unregister(name)


def duck_type(arrow: Any) -> str:
    """DuckDB's name for an Arrow type of a partition column (the declared types: ops.etl.types)."""
    import pyarrow as pa

    if pa.types.is_decimal(arrow):
        return f"DECIMAL({arrow.precision}, {arrow.scale})"
    if pa.types.is_timestamp(arrow):
        return "TIMESTAMPTZ" if arrow.tz else "TIMESTAMP"
    for test, name in ((pa.types.is_string, "VARCHAR"), (pa.types.is_large_string, "VARCHAR"), (pa.types.is_int64, "BIGINT"),
                       (pa.types.is_int32, "INTEGER"), (pa.types.is_float64, "DOUBLE"), (pa.types.is_boolean, "BOOLEAN"),
                       (pa.types.is_date32, "DATE")):
        if test(arrow):
            return name
    raise ValueError(f"no DuckDB type for a partition column of Arrow type {arrow}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
