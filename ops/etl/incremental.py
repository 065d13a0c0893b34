"""A DynamoDB table's batch at T from its previous batch at T0 and an incremental export of [T0, T).

An incremental export holds, for each item written in the period, its keys and its image after the period's
last write to it (none for a delete). The batch at T is the previous batch without the items changed, plus the
new images: computed in DuckDB over the previous batch's Parquet files and the changes, streamed out in record
batches (memory bounded by DuckDB's limit, not by the table). When a key appears more than once among the
changes, its latest write wins.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa

from ops.etl import duck

# The service's bound on an incremental export's period (ExportFromTime to ExportToTime): at most 24 hours
# (DynamoDB developer guide, "Incremental export"); its minimum (15 minutes) is the service's to apply: a
# refused period is exported whole.
MAX_PERIOD = timedelta(hours=24)
# After this many incremental batches in a row the next one is a full export, which the service's own count
# reconciles (an incremental batch is reconciled against its previous batch and its changes only).
FULL_EVERY = 7
CHANGE_COLUMN = "_change"
WRITTEN_COLUMN = "_written_at"


def period_ok(since: datetime, at: datetime, earliest: datetime | None) -> bool:
    """An incremental export of [since, at) may be asked for: at most MAX_PERIOD, inside the PITR window."""
    return timedelta(0) < at - since <= MAX_PERIOD and (earliest is None or since >= earliest)


def merged(previous: Path, changes: Iterable[pa.RecordBatch], schema: pa.Schema, columns: list[str], key: list[str],
           spill: Path) -> Iterator[pa.RecordBatch]:
    """Record batches of the table at T: the previous batch's rows (Parquet files under `previous`, Hive
    partitions ignored) not changed in the period, and the changes' new images."""
    con = duck.connect(memory_limit="512MB", temp_directory=str(spill), threads=2)
    try:
        con.register("changes", pa.Table.from_batches(list(changes), schema=schema))
        cols = ", ".join(f'"{c}"' for c in columns)
        keys = ", ".join(f'"{k}"' for k in key)
        same_key = " AND ".join(f'c."{k}" = p."{k}"' for k in key)
        latest = f'SELECT * FROM changes QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY "{WRITTEN_COLUMN}" DESC) = 1'
        new = f"SELECT {cols} FROM ({latest}) WHERE \"{CHANGE_COLUMN}\" = 'put'"
        files = [str(p) for p in previous.rglob("*.parquet")]
        if files:
            kept = (f"SELECT {cols} FROM read_parquet($files, hive_partitioning = false, union_by_name = true) p "
                    f"WHERE NOT EXISTS (SELECT 1 FROM ({latest}) c WHERE {same_key})")
            result = con.sql(f"{kept} UNION ALL {new}", params={"files": files})
        else:
            result = con.sql(new)
        yield from result.to_arrow_reader(65_536)
    finally:
        con.close()
