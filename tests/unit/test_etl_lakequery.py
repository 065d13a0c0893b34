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
