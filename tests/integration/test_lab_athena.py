"""The lab's Athena runs queries on DuckDB over the lab's S3 and Glue, and ops.etl.athena runs them:
answers checked against DuckDB on the same files locally and against Python, partition pruning shown
in DataScannedInBytes (with the unpruned query as its control), the workgroup's cutoff, failures,
paging, the timeout, and one SQL definition for both engines."""

from __future__ import annotations

import io
import os
import random
import shutil
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from ops.aws import Aws
from ops.etl.athena import QueryFailed, run_query, to_athena
from ops.etl.lakequery import query_local
from ops.lab import lab as lab_core
from ops.lab.aws import emulator, settings
from tests.conftest import Cli, traversable_tmpdir, write_config

BUCKET = "lake"
DB = "analytics"
RESULTS = f"s3://{BUCKET}/athena-results/"
DAYS = ("2024-01-01", "2024-01-02", "2024-01-03")
ROWS_PER_FILE = 500  # two files a day: 3,000 rows, more than a GetQueryResults page
REGIONS = ("eu", "us", "ap")


@pytest.fixture(scope="module")
def alab() -> Iterator[Cli]:
    """An emulator of its own (no PostgreSQL): these tests turn the lab's Athena settings."""
    root = traversable_tmpdir("dbops-athena-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(with_postgres=False), lambda _: None)
    yield cli
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


def client(cli: Cli, service: str) -> Any:
    cfg = cli.config
    return Aws.for_env(cfg, cfg.env("lab")).client(service)


@pytest.fixture
def lab_set(alab: Cli) -> Iterator[Callable[..., None]]:
    endpoint = emulator.endpoint(alab.lab_dir)
    assert endpoint

    def set_(**values: Any) -> None:
        settings.remote(endpoint, values)

    yield set_
    settings.remote(endpoint, {"athena_min_runtime_ms": 200})


def order_rows(day: str, part: int) -> dict[str, list[Any]]:
    rnd = random.Random(f"{day}-{part}")
    base = 100_000 * DAYS.index(day) + part * ROWS_PER_FILE
    start = datetime.fromisoformat(day)
    return {
        "order_id": [base + i for i in range(ROWS_PER_FILE)],
        "region": [rnd.choice(REGIONS) for _ in range(ROWS_PER_FILE)],
        "amount": [Decimal(rnd.randint(100, 99_999)) / 100 for _ in range(ROWS_PER_FILE)],
        "paid": [rnd.random() < 0.8 for _ in range(ROWS_PER_FILE)],
        "created": [start + timedelta(seconds=rnd.randint(0, 86_399)) for _ in range(ROWS_PER_FILE)],
    }


ORDER_SCHEMA = pa.schema([("order_id", pa.int64()), ("region", pa.string()), ("amount", pa.decimal128(10, 2)),
                          ("paid", pa.bool_()), ("created", pa.timestamp("us"))])
ORDER_COLUMNS = [("order_id", "bigint"), ("region", "string"), ("amount", "decimal(10,2)"), ("paid", "boolean"),
                 ("created", "timestamp")]


def parquet(columns: dict[str, list[Any]], schema: pa.Schema) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table(columns, schema=schema), sink)
    return sink.getvalue()


def create_table(glue: Any, name: str, columns: list[tuple[str, str]], keys: list[tuple[str, str]]) -> None:
    glue.create_table(DatabaseName=DB, TableInput={
        "Name": name, "TableType": "EXTERNAL_TABLE", "PartitionKeys": [{"Name": k, "Type": t} for k, t in keys],
        "StorageDescriptor": {"Columns": [{"Name": c, "Type": t} for c, t in columns],
                              "Location": f"s3://{BUCKET}/export/{name}/data/",
                              "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                              "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}})


def add_partition(glue: Any, table: str, key: str, value: str) -> None:
    glue.create_partition(DatabaseName=DB, TableName=table, PartitionInput={
        "Values": [value], "StorageDescriptor": {"Location": f"s3://{BUCKET}/export/{table}/data/{key}={value}/"}})


@pytest.fixture(scope="module")
def lake(alab: Cli) -> dict[str, Any]:
    """orders, partitioned by day, in the lab's S3 and Glue, and the same files in a local Hive folder."""
    s3, glue = client(alab, "s3"), client(alab, "glue")
    s3.create_bucket(Bucket=BUCKET)
    glue.create_database(DatabaseInput={"Name": DB})
    create_table(glue, "orders", ORDER_COLUMNS, [("dt", "date")])
    local = traversable_tmpdir("dbops-athena-local-") / "orders"
    sizes: dict[str, int] = defaultdict(int)
    rows: list[dict[str, Any]] = []
    for day in DAYS:
        for part in range(2):
            columns = order_rows(day, part)
            body = parquet(columns, ORDER_SCHEMA)
            s3.put_object(Bucket=BUCKET, Key=f"export/orders/data/dt={day}/part-{part}.parquet", Body=body)
            (local / f"dt={day}").mkdir(parents=True, exist_ok=True)
            (local / f"dt={day}" / f"part-{part}.parquet").write_bytes(body)
            sizes[day] += len(body)
            rows += [dict(zip(columns, values), dt=date.fromisoformat(day)) for values in zip(*columns.values())]
        add_partition(glue, "orders", "dt", day)
    # Objects under a folder Glue has no partition for are not part of the table, as on Athena.
    s3.put_object(Bucket=BUCKET, Key="export/orders/data/dt=2024-01-04/part-0.parquet",
                  Body=parquet(order_rows("2024-01-03", 0), ORDER_SCHEMA))
    yield {"local": local, "sizes": dict(sizes), "rows": rows}
    shutil.rmtree(local.parent, ignore_errors=True)


def athena(cli: Cli, sql: str, *, workgroup: str = "primary", timeout_s: float = 20, max_bytes: int | None = None,
           progress: Callable[[str], None] | None = None) -> Any:
    kwargs = {"progress": progress} if progress else {}
    return run_query(client(cli, "athena"), sql, DB, workgroup, RESULTS, timeout_s, max_bytes, **kwargs)


BY_REGION = ("SELECT region, count(*) AS orders, sum(amount) AS total, count_if(paid) AS paid "
             "FROM orders {where} GROUP BY region ORDER BY region")


def python_by_region(rows: list[dict[str, Any]], days: tuple[str, ...] = DAYS) -> list[tuple[Any, ...]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["dt"].isoformat() in days:
            groups[r["region"]].append(r)
    return [(region, len(g), sum(r["amount"] for r in g), sum(r["paid"] for r in g)) for region, g in sorted(groups.items())]


def test_query_answers_what_duckdb_and_python_compute_from_the_same_files(alab: Cli, lake: dict[str, Any]) -> None:
    sql = BY_REGION.format(where="")
    on_athena = athena(alab, to_athena(sql))
    local = query_local(sql, {"orders": lake["local"]})
    assert on_athena.columns == ("region", "orders", "total", "paid")
    assert list(on_athena.rows) == python_by_region(lake["rows"])
    assert on_athena.rows == local.rows
    # Every registered partition is read, the object outside them is not.
    assert on_athena.scanned_bytes == local.scanned_bytes == sum(lake["sizes"].values())


def test_a_partition_predicate_reads_only_its_partitions(alab: Cli, lake: dict[str, Any]) -> None:
    sizes = lake["sizes"]
    for where, days in [("WHERE dt = DATE '2024-01-02'", ("2024-01-02",)),
                        ("WHERE dt IN (DATE '2024-01-01', DATE '2024-01-03') AND region <> 'zz'", ("2024-01-01", "2024-01-03")),
                        ("WHERE dt >= DATE '2024-01-02'", ("2024-01-02", "2024-01-03"))]:
        sql = BY_REGION.format(where=where)
        pruned = athena(alab, to_athena(sql))
        assert list(pruned.rows) == python_by_region(lake["rows"], days), where
        assert pruned.scanned_bytes == sum(sizes[d] for d in days), where
        assert query_local(sql, {"orders": lake["local"]}).scanned_bytes == pruned.scanned_bytes, where
    # Control: a predicate on a data column reads every partition.
    unpruned = athena(alab, to_athena(BY_REGION.format(where="WHERE region = 'eu'")))
    assert unpruned.scanned_bytes == sum(sizes.values())


def test_the_workgroup_cutoff_fails_a_query_that_scans_more(alab: Cli, lake: dict[str, Any]) -> None:
    """BytesScannedCutoffPerQuery takes 10 MB at least: three partitions of ~4 MB each."""
    s3, glue, athena_api = client(alab, "s3"), client(alab, "glue"), client(alab, "athena")
    create_table(glue, "blobs", [("id", "bigint"), ("payload", "binary")], [("day", "string")])
    schema = pa.schema([("id", pa.int64()), ("payload", pa.binary())])
    for day in ("a", "b", "c"):
        rnd = random.Random(day)
        body = parquet({"id": list(range(64)), "payload": [rnd.randbytes(64 * 1024) for _ in range(64)]}, schema)
        s3.put_object(Bucket=BUCKET, Key=f"export/blobs/data/day={day}/part-0.parquet", Body=body)
        add_partition(glue, "blobs", "day", day)
    athena_api.create_work_group(Name="capped", Configuration={
        "BytesScannedCutoffPerQuery": 10_000_000, "ResultConfiguration": {"OutputLocation": RESULTS}})
    with pytest.raises(QueryFailed, match="FAILED: Bytes scanned limit was exceeded"):
        athena(alab, "SELECT count(*) FROM blobs", workgroup="capped")
    one_day = athena(alab, "SELECT count(*) FROM blobs WHERE day = 'b'", workgroup="capped")
    assert one_day.rows == ((64,),) and 4_000_000 < one_day.scanned_bytes < 10_000_000
    # Control: the same full scan in a workgroup without a cutoff succeeds.
    assert athena(alab, "SELECT count(*) FROM blobs").rows == ((192,),)


def test_sql_errors_and_missing_tables_fail_in_one_clear_line(alab: Cli, lake: dict[str, Any]) -> None:
    cases = [("SELECT nope FROM orders", r"FAILED: BinderException: .*nope"),
             ("SELECT * FROM orders_missing", r"FAILED: TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog\.analytics\.orders_missing' does not exist"),
             ("SELECT * FROM nodb.orders", r"FAILED: SCHEMA_NOT_FOUND: line 1:15: Schema 'nodb' does not exist"),
             ("SELECT 7 // 2", r"FAILED: line 1:\d+: ")]  # DuckDB's integer division is not Athena SQL
    for sql, reason in cases:
        with pytest.raises(QueryFailed, match=reason) as failed:
            athena(alab, sql)
        assert "\n" not in str(failed.value)


def test_results_page_with_the_header_first_and_land_as_csv(alab: Cli, lake: dict[str, Any]) -> None:
    api, s3 = client(alab, "athena"), client(alab, "s3")
    sql = "SELECT order_id, region, amount, paid, created, dt FROM orders ORDER BY order_id"
    query_id = api.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": DB},
                                         ResultConfiguration={"OutputLocation": RESULTS})["QueryExecutionId"]
    first = api.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert first["Status"]["State"] in ("QUEUED", "RUNNING")  # asynchronous: a client must poll
    with pytest.raises(ClientError, match="not yet finished"):
        api.get_query_results(QueryExecutionId=query_id)
    for call in (api.get_query_execution, api.get_query_results, api.stop_query_execution):
        with pytest.raises(ClientError, match="InvalidRequestException.*QueryExecution no-such-id was not found"):
            call(QueryExecutionId="no-such-id")
    waiter_rows = list(api.get_paginator("get_query_results").paginate(
        QueryExecutionId=query_id, PaginationConfig={"PageSize": 1000})) if _settled(api, query_id) else []
    pages = [len(p["ResultSet"]["Rows"]) for p in waiter_rows]
    assert pages == [1000, 1000, 1000, 1]  # 3,000 rows after the header row
    header = waiter_rows[0]["ResultSet"]["Rows"][0]["Data"]
    assert [c["VarCharValue"] for c in header] == ["order_id", "region", "amount", "paid", "created", "dt"]
    info = waiter_rows[0]["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Type"], c["Precision"], c["Scale"]) for c in info][:3] == [("bigint", 0, 0), ("varchar", 2147483647, 0), ("decimal", 10, 2)]
    assert [c["Type"] for c in info][3:] == ["boolean", "timestamp", "date"]
    execution = api.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert execution["Statistics"]["DataScannedInBytes"] == sum(lake["sizes"].values())
    assert execution["Statistics"]["TotalExecutionTimeInMillis"] >= 200
    output = execution["ResultConfiguration"]["OutputLocation"]
    assert output == f"{RESULTS}{query_id}.csv"
    text = s3.get_object(Bucket=BUCKET, Key=output[len(f"s3://{BUCKET}/"):])["Body"].read().decode()
    lines = text.splitlines()
    assert lines[0] == '"order_id","region","amount","paid","created","dt"' and len(lines) == 3001
    first_row = min(lake["rows"], key=lambda r: r["order_id"])
    assert lines[1] == (f'"{first_row["order_id"]}","{first_row["region"]}","{first_row["amount"]:.2f}",'
                        f'"{str(first_row["paid"]).lower()}","{first_row["created"]:%Y-%m-%d %H:%M:%S}.000","2024-01-01"')
    # The typed rows of run_query are the rows Python wrote.
    typed = athena(alab, sql)
    assert [dict(zip(typed.columns, r)) for r in typed.rows] == sorted(lake["rows"], key=lambda r: r["order_id"])


def _settled(api: Any, query_id: str) -> bool:
    from ops.clock import wait_until

    return wait_until(lambda: api.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"]
                      == "SUCCEEDED", timeout=20)


def test_a_query_past_its_timeout_is_stopped(alab: Cli, lake: dict[str, Any], lab_set: Callable[..., None]) -> None:
    lab_set(athena_min_runtime_ms=8000)
    said: list[str] = []
    with pytest.raises(QueryFailed, match=r"was still RUNNING after 3 s; stopped it") as failed:
        athena(alab, "SELECT count(*) FROM orders", timeout_s=3, progress=said.append)
    query_id = str(failed.value).split()[2]
    state = client(alab, "athena").get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
    assert state["State"] == "CANCELLED"
    assert said and all(query_id in line and "RUNNING" in line for line in said)
    # Control: with the time it needs, the same query answers.
    lab_set(athena_min_runtime_ms=1000)
    assert athena(alab, "SELECT count(*) FROM orders", timeout_s=10).rows == ((3000,),)


def test_a_query_scanning_more_than_the_caller_allows_is_refused(alab: Cli, lake: dict[str, Any],
                                                                 lab_set: Callable[..., None]) -> None:
    total = sum(lake["sizes"].values())
    lab_set(athena_min_runtime_ms=5000)
    with pytest.raises(QueryFailed, match=rf"scanned {total} bytes, more than the {total - 1} allowed; stopped it"):
        athena(alab, "SELECT count(*) FROM orders", max_bytes=total - 1)
    lab_set(athena_min_runtime_ms=200)
    assert athena(alab, "SELECT count(*) FROM orders", max_bytes=total).rows == ((3000,),)


def test_one_duckdb_definition_answers_the_same_on_both_engines(alab: Cli, lake: dict[str, Any]) -> None:
    sql = ("SELECT region, strftime(created, '%Y-%m-%d') AS day, count(*) AS n, sum(amount) AS total, "
           "max(order_id) // 10 AS bucket FROM orders WHERE dt BETWEEN DATE '2024-01-02' AND DATE '2024-01-03' "
           "AND paid GROUP BY 1, 2 ORDER BY 1, 2")
    local = query_local(sql, {"orders": lake["local"]})
    on_athena = athena(alab, to_athena(sql))
    assert len(local.rows) == 6 and on_athena.rows == local.rows
    assert on_athena.scanned_bytes == local.scanned_bytes == lake["sizes"]["2024-01-02"] + lake["sizes"]["2024-01-03"]
    # Control: the DuckDB text itself is not Athena SQL.
    with pytest.raises(QueryFailed, match="FAILED: line 1:"):
        athena(alab, sql)
