"""The lake's spool: rows stream into Hive-partitioned Parquet sorted by key, in writes of bounded size."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from ops.etl import lake

COLUMNS = {"id": "bigint", "status": "string", "created_at": "timestamp"}
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
ROWS, BATCH, DAYS = 2_000, 100, 5


def batches(seed: int = 7) -> list[pa.RecordBatch]:
    """ROWS rows over DAYS days, ids shuffled so neither day nor key arrives in order."""
    ids = list(range(1, ROWS + 1))
    random.Random(seed).shuffle(ids)
    out = []
    for start in range(0, ROWS, BATCH):
        chunk = ids[start:start + BATCH]
        out.append(pa.RecordBatch.from_pydict({
            "id": pa.array(chunk, pa.int64()),
            "status": [("new", "paid")[i % 2] for i in chunk],
            "created_at": pa.array([T0 + timedelta(hours=i % (24 * DAYS)) for i in chunk], pa.timestamp("us", "UTC"))}))
    return out


def test_writes_hold_a_bounded_number_of_rows_and_the_spool_is_whole_and_sorted(tmp_path: Path, monkeypatch) -> None:
    written: list[int] = []
    real = pads.write_dataset

    def counting(data, *args, **kwargs):  # the real write, told how many rows each call was given
        given = list(data)
        written.append(sum(b.num_rows for b in given))
        return real(iter(given), *args, **kwargs)

    monkeypatch.setattr(lake, "SPOOL_ROWS", 500)
    monkeypatch.setattr(pads, "write_dataset", counting)
    sp = lake.spool(iter(batches()), tmp_path / "orders", COLUMNS, "created_at", ("id",))
    assert written == [500] * 4  # 2,000 rows in four writes of 500 (five batches each), never all at once
    assert sp.rows == ROWS and sp.partition == "created_at_date"
    assert [f.parent.name for f in sp.files] == [f"created_at_date={(T0 + timedelta(days=d)).date()}" for d in range(DAYS)]
    ids = []
    for f in sp.files:
        day = pq.read_table(f).column("id").to_pylist()
        assert day == sorted(day)  # one file per day, sorted by the key
        ids += day
    assert sorted(ids) == list(range(1, ROWS + 1))


def test_a_write_past_the_bound_ends_on_a_whole_batch(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(lake, "SPOOL_ROWS", 450)  # not a multiple of the batch: each write takes one batch more
    sp = lake.spool(iter(batches()), tmp_path / "orders", COLUMNS, "created_at", ("id",))
    assert sp.rows == ROWS
    assert sorted(pads.dataset(str(sp.root), partitioning="hive").to_table().column("id").to_pylist()) == list(range(1, ROWS + 1))


@pytest.mark.parametrize("partition_by", [None, "created_at"])
def test_an_empty_stream_spools_an_empty_table_of_the_declared_columns(tmp_path: Path, partition_by: str | None) -> None:
    """An empty source is judged as an empty batch (its rules not measured), not as a batch without columns."""
    import pyarrow.parquet as pq

    sp = lake.spool(iter(()), tmp_path / "orders", COLUMNS, partition_by, ("id",))
    assert sp.rows == 0 and sp.partition is None and len(sp.files) == 1
    table = pq.read_table(sp.files[0])
    assert table.num_rows == 0 and table.column_names == list(COLUMNS)


def test_a_string_partition_of_digits_reads_back_as_the_declared_string(tmp_path: Path) -> None:
    """Hive paths hold '007' and '10': read back by the declared type, not guessed as integers."""
    import pyarrow as pa

    columns = {"id": "bigint", "code": "string"}
    batch = pa.RecordBatch.from_pydict({"id": [1, 2, 3], "code": ["007", "10", "007"]},
                                       schema=pa.schema([("id", pa.int64()), ("code", pa.string())]))
    sp = lake.spool(iter([batch]), tmp_path / "codes", columns, "code", ("id",))
    table = sp.dataset().to_table()
    assert table.schema.field("code").type == pa.string()
    assert sorted(zip(table.column("id").to_pylist(), table.column("code").to_pylist())) == [(1, "007"), (2, "10"), (3, "007")]


def test_a_month_grain_partitions_by_the_first_day_of_each_utc_month(tmp_path: Path) -> None:
    """Rows across a month's end land in the partitions of their UTC month; a day grain of the same rows makes
    one partition per day (the negative control)."""
    edges = [datetime(2025, 1, 31, 23, 59, 59, 999999, tzinfo=timezone.utc), datetime(2025, 2, 1, tzinfo=timezone.utc),
             datetime(2025, 2, 28, 12, tzinfo=timezone.utc), datetime(2025, 3, 1, 0, 0, 0, 1, tzinfo=timezone.utc)]
    batch = pa.RecordBatch.from_pydict({"id": pa.array(range(1, 5), pa.int64()), "status": ["new"] * 4,
                                        "created_at": pa.array(edges, pa.timestamp("us", "UTC"))})
    month = lake.spool(iter([batch]), tmp_path / "m", COLUMNS, "created_at", ("id",), grain="month")
    assert month.partition == "created_at_month" and month.columns["created_at_month"] == "date"
    assert [f.parent.name for f in month.files] == ["created_at_month=2025-01-01", "created_at_month=2025-02-01",
                                                    "created_at_month=2025-03-01"]
    table = month.dataset().to_table().sort_by("id")
    assert [str(d) for d in table.column("created_at_month").to_pylist()] == ["2025-01-01", "2025-02-01", "2025-02-01", "2025-03-01"]
    day = lake.spool(iter([batch]), tmp_path / "d", COLUMNS, "created_at", ("id",))
    assert len(day.files) == 4 and day.partition == "created_at_date"


def test_a_date_column_with_a_month_grain_gets_a_month_column_beside_it(tmp_path: Path) -> None:
    from datetime import date

    columns = {"id": "bigint", "day": "date"}
    batch = pa.RecordBatch.from_pydict({"id": pa.array([1, 2], pa.int64()), "day": pa.array([date(2025, 5, 31), date(2025, 6, 1)], pa.date32())})
    sp = lake.spool(iter([batch]), tmp_path / "d", columns, "day", ("id",), grain="month")
    assert sp.partition == "day_month"
    assert sorted(sp.dataset().to_table().column("day").to_pylist()) == [date(2025, 5, 31), date(2025, 6, 1)]
