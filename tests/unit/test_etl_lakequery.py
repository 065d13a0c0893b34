"""The lake's queries on DuckDB locally: the files read measured from DuckDB's own profile (a
partition predicate reads fewer, none reads all), and bad input refused in one line."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ops.errors import UsageError
from ops.etl.athena import QueryFailed, to_athena
from ops.etl.lakequery import query_local


@pytest.fixture
def events(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """Three days of different sizes, so a wrong file counted shows in the sum."""
    sizes = {}
    for n, day in enumerate(("2024-03-01", "2024-03-02", "2024-03-03"), start=1):
        folder = tmp_path / "events" / f"day={day}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"id": list(range(100 * n)), "kind": ["a", "b"] * (50 * n)}), folder / "part-0.parquet")
        sizes[day] = (folder / "part-0.parquet").stat().st_size
    (tmp_path / "events" / "_SUCCESS").write_text("")  # not data
    return tmp_path / "events", sizes


def test_a_partition_predicate_reads_only_its_files(events: tuple[Path, dict[str, int]]) -> None:
    root, sizes = events
    pruned = query_local("SELECT count(*) FROM events WHERE day = DATE '2024-03-02'", {"events": root})
    assert pruned.rows == ((200,),) and pruned.scanned_bytes == sizes["2024-03-02"]
    ranged = query_local("SELECT count(*), count(DISTINCT day) FROM events WHERE day >= '2024-03-02' AND kind = 'a'",
                         {"events": root})
    assert ranged.rows == ((250, 2),) and ranged.scanned_bytes == sizes["2024-03-02"] + sizes["2024-03-03"]
    # Control: without the predicate every file is read.
    everything = query_local("SELECT count(*) FROM events", {"events": root})
    assert everything.rows == ((600,),) and everything.scanned_bytes == sum(sizes.values())
    assert everything.columns == ("count_star()",)


def test_a_list_of_files_is_a_table_too(events: tuple[Path, dict[str, int]]) -> None:
    root, sizes = events
    files = sorted(root.rglob("*.parquet"))[:2]
    result = query_local("SELECT min(day), max(day), count(*) FROM e", {"e": files})
    assert [str(v) for v in result.rows[0][:2]] == ["2024-03-01", "2024-03-02"] and result.rows[0][2] == 300
    assert result.scanned_bytes == sizes["2024-03-01"] + sizes["2024-03-02"]


@pytest.mark.parametrize("tables, message", [
    ({"events": "/nonexistent/lake"}, "is not a directory of Parquet files"),
    ({"events; DROP": "."}, "a table name is a SQL identifier"),
    ({"events": ["/nonexistent/a.parquet"]}, "not a file"),
])
def test_bad_tables_are_refused_in_one_line(tables: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message) as refused:
        query_local("SELECT 1", tables)  # type: ignore[arg-type]
    assert "\n" not in str(refused.value)


def test_a_file_outside_the_partition_folders_is_refused(events: tuple[Path, dict[str, int]]) -> None:
    root, _ = events
    pq.write_table(pa.table({"id": [1]}), root / "stray.parquet")
    with pytest.raises(UsageError, match="stray.parquet is not under every partition folder"):
        query_local("SELECT 1 FROM events", {"events": root})


def test_a_sql_error_is_one_line(events: tuple[Path, dict[str, int]]) -> None:
    with pytest.raises(QueryFailed, match=r"BinderException: .*nope") as failed:
        query_local("SELECT nope FROM events", {"events": events[0]})
    assert "\n" not in str(failed.value)


def test_to_athena_writes_trino_and_refuses_what_is_not_one_query() -> None:
    assert to_athena("SELECT epoch(ts), 7 // 2 FROM t") == "SELECT TO_UNIXTIME(ts), CAST(TRUNCATE(CAST(7 AS DOUBLE) / 2) AS BIGINT) FROM t"
    for bad in ("SELEC x FROM", "SELECT 1; SELECT 2"):
        with pytest.raises(UsageError):
            to_athena(bad)


def test_time_is_read_in_utc_whatever_the_shell_s_time_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Athena's session zone is UTC: an order at 02:00 UTC on June 1st is a June 1st order here too, with TZ set to
    New York, where the machine's own zone (a plain DuckDB session, the control) calls it May 31st."""
    import time
    from datetime import datetime, timezone

    import duckdb

    folder = tmp_path / "orders"
    folder.mkdir()
    at = datetime(2025, 6, 1, 2, tzinfo=timezone.utc)
    pq.write_table(pa.table({"id": [1], "created_at": pa.array([at], pa.timestamp("us", "UTC"))}), folder / "part-0.parquet")
    sql = "SELECT CAST(created_at AS DATE) AS day, count(*) FROM orders WHERE created_at >= TIMESTAMP '2025-06-01 00:00:00' GROUP BY 1"
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        plain = duckdb.connect(":memory:")
        assert plain.execute(f"SELECT CAST(created_at AS DATE) FROM read_parquet('{folder}/*.parquet')").fetchone()[0].isoformat() == "2025-05-31"
        answer = query_local(sql, {"orders": folder})
    finally:
        monkeypatch.undo()
        time.tzset()
    assert [(d.isoformat(), n) for d, n in answer.rows] == [("2025-06-01", 1)]


def test_partition_values_read_back_unescaped(tmp_path: Path) -> None:
    """pyarrow escapes a Hive value's '/', ' ' and '%' in its folder name; the query sees the value itself."""
    from ops.etl import lake

    batch = pa.RecordBatch.from_pydict({"id": [1, 2, 3], "region": ["eu west/1", "100%", "plain"]})
    sp = lake.spool(iter([batch]), tmp_path / "t", {"id": "bigint", "region": "string"}, "region", ("id",))
    assert any("%" in f.parent.name for f in sp.files)  # the control: the folders are escaped
    answer = query_local("SELECT region, id FROM t ORDER BY id", {"t": sp.root})
    assert answer.rows == (("eu west/1", 1), ("100%", 2), ("plain", 3))


def test_a_null_partition_reads_as_null_and_the_column_keeps_its_type(tmp_path: Path) -> None:
    from ops.etl import lake

    batch = pa.RecordBatch.from_pydict({"id": pa.array([1, 2, 3], pa.int64()), "n": pa.array([5, None, 7], pa.int64())})
    sp = lake.spool(iter([batch]), tmp_path / "t", {"id": "bigint", "n": "bigint"}, "n", ("id",))
    assert "n=__HIVE_DEFAULT_PARTITION__" in {f.parent.name for f in sp.files}
    assert query_local("SELECT id, n FROM t ORDER BY id", {"t": sp.root}).rows == ((1, 5), (2, None), (3, 7))
    assert query_local("SELECT id FROM t WHERE n IS NULL", {"t": sp.root}).rows == ((2,),)
    five = query_local("SELECT id FROM t WHERE n = 5", {"t": sp.root})
    assert five.rows == ((1,),) and five.scanned_bytes == next(f.stat().st_size for f in sp.files if f.parent.name == "n=5")


def test_past_five_files_read_the_bytes_are_still_those_of_the_files_read(tmp_path: Path) -> None:
    """DuckDB's profile names five files and then '...': the rest are found by its own file filter, and a
    whole-table count reads every file."""
    sizes = {}
    for n in range(1, 11):
        folder = tmp_path / "t" / f"day=2024-03-{n:02d}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"id": list(range(10 * n))}), folder / "part-0.parquet")
        sizes[n] = (folder / "part-0.parquet").stat().st_size
    seven = query_local("SELECT count(*) FROM t WHERE day >= DATE '2024-03-04'", {"t": tmp_path / "t"})
    assert seven.rows == ((sum(10 * n for n in range(4, 11)),),)
    assert seven.scanned_bytes == sum(sizes[n] for n in range(4, 11)), (seven.scanned_bytes, sizes)
    everything = query_local("SELECT count(*) FROM t", {"t": tmp_path / "t"})
    assert everything.rows == ((550,),) and everything.scanned_bytes == sum(sizes.values())
    assert query_local("SELECT 1 AS one", {"t": tmp_path / "t"}).scanned_bytes == 0


def test_a_file_two_scans_read_counts_twice(events: tuple[Path, dict[str, int]]) -> None:
    """Athena bills each scan: a self-join or a UNION ALL of one partition reads its file twice."""
    root, sizes = events
    once = query_local("SELECT count(*) FROM events WHERE day = DATE '2024-03-02'", {"events": root})
    joined = query_local("SELECT count(*) FROM events a JOIN events b ON a.id = b.id "
                         "WHERE a.day = DATE '2024-03-02' AND b.day = DATE '2024-03-02'", {"events": root})
    unioned = query_local("SELECT count(*) FROM (SELECT id FROM events WHERE day = DATE '2024-03-02' UNION ALL "
                          "SELECT id FROM events WHERE day = DATE '2024-03-02')", {"events": root})
    assert once.scanned_bytes == sizes["2024-03-02"]
    assert joined.rows == ((200,),) and joined.scanned_bytes == 2 * sizes["2024-03-02"]
    assert unioned.rows == ((400,),) and unioned.scanned_bytes == 2 * sizes["2024-03-02"]


def test_a_scan_the_profile_does_not_describe_counts_every_file() -> None:
    """A profile of another shape (a DuckDB version that names no files) never reads as 0 bytes."""
    from ops.etl.lakequery import files_read

    tables = {"t": [Path("/lake/t/a.parquet"), Path("/lake/t/b.parquet")]}
    unnamed = {"operator": [{"operator_type": "READ_PARQUET", "extra_info": {"Function": "READ_PARQUET"}, "children": []}]}
    counted = {"operator": [{"operator_type": "READ_PARQUET", "extra_info": {"Total Files Read": "1"}, "children": []}]}
    none_read = {"operator": [{"operator_type": "READ_PARQUET", "extra_info": {"Total Files Read": "0"}, "children": []}]}
    assert files_read(unnamed, None, tables) == ["/lake/t/a.parquet", "/lake/t/b.parquet"]
    assert files_read(counted, None, tables) == ["/lake/t/a.parquet", "/lake/t/b.parquet"]
    assert files_read(none_read, None, tables) == []


def test_a_bounded_query_cuts_its_answer_in_rows_and_bytes(events: tuple[Path, dict[str, int]]) -> None:
    from ops.etl.lakequery import Bounds

    root, _ = events
    rows = query_local("SELECT id FROM events ORDER BY day, id", {"events": root}, bounds=Bounds(30, 5))
    assert rows.rows == ((0,), (1,), (2,), (3,), (4,)) and rows.truncated_by == "row_limit"
    big = query_local("SELECT repeat('x', 100000000) AS x", {"events": root}, bounds=Bounds(30, 5))
    assert big.truncated_by is None and big.values_cut == 1 and big.rows[0][0].endswith("… [value cut: 100000000 bytes]")
    assert len(big.rows[0][0]) < 8300
    whole = query_local("SELECT id FROM events ORDER BY id", {"events": root})  # the command's own path: not cut
    assert len(whole.rows) == 600 and whole.truncated_by is None


def test_an_isolated_query_fails_a_huge_list_at_once_that_interrupt_cannot_stop(events: tuple[Path, dict[str, int]]) -> None:
    """A scalar function building a 2.4 GB list is not interrupted by DuckDB (measured 47 s past a 2 s timer): in its
    own process, the capped address space fails it at once."""
    import time

    from ops.etl.lakequery import Bounds, query_isolated

    root, _ = events
    files = {"events": sorted(root.rglob("*.parquet"))}
    started = time.monotonic()
    with pytest.raises(QueryFailed, match="Out of Memory"):
        query_isolated("SELECT len(repeat([1], 300000000))", files, Bounds(30, 5))
    assert time.monotonic() - started < 10
    ok = query_isolated("SELECT count(*) FROM events", {"events": root}, Bounds(30, 5))  # a directory, as the lake gives
    assert ok.rows == ((600,),) and ok.scanned_bytes > 0


def test_an_isolated_query_past_its_deadline_is_killed_when_interrupt_is_not_heard(events: tuple[Path, dict[str, int]]) -> None:
    import time

    from ops.etl.lakequery import Bounds, query_isolated

    root, _ = events
    files = {"events": sorted(root.rglob("*.parquet"))}
    started = time.monotonic()
    with pytest.raises(QueryFailed, match=r"timeout of 0.5 s \(its process was ended\)"):
        query_isolated("SELECT len(repeat([1], 60000000))", files, Bounds(0.5, 5, address_space_bytes=8 * 1024**3, grace_s=0.5))
    assert time.monotonic() - started < 5
    with pytest.raises(QueryFailed, match=r"stopped after its timeout of 0.5 s$"):  # interrupt heard: no kill needed
        query_isolated("SELECT sum(i) FROM events, (SELECT unnest(generate_series(1, 100)) i) s, events e2, events e3",
                       files, Bounds(0.5, 5, grace_s=20))
