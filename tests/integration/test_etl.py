"""dbops etl run against the lab: lab-pg's reader and a DynamoDB table with point-in-time recovery into the lab's
S3 and Glue, read back through the lab's Athena. Each gate has its negative control: bad rows, a schema change
at the source and a missing row are caught and the batch is quarantined, never published."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest

from ops.aws import Aws
from ops.etl import lake
from ops.etl.athena import run_query
from ops.lab.pg import pgcluster
from tests.conftest import Cli, traversable_tmpdir, write_config

BUCKET = "dbops-lab-lake-etl"
DB = "dbops_lab_etl"
SCHEMA = "etl_shop"
ORDERS = 3000
PIPELINE = f"""
[pipelines.shop]
destination = {{ bucket = "{BUCKET}", prefix = "shop", database = "{DB}" }}

[pipelines.shop.tables.customers]
source = "localpg:lab-pg"
from = "{SCHEMA}.customers"
key = ["id"]
columns = {{ id = "bigint", region = "string" }}
rules = {{ not_null = ["region"], unique = ["id"], accepted_values = {{ region = ["eu", "us"] }} }}

[pipelines.shop.tables.orders]
source = "localpg:lab-pg"
from = "{SCHEMA}.orders"
key = ["id"]
partition_by = "created_at"
columns = {{ id = "bigint", customer_id = "bigint", status = "string", total_cents = "bigint", created_at = "timestamp" }}
rules = {{ not_null = ["customer_id", "created_at"], accepted_values = {{ status = ["new", "paid", "shipped"] }}, ranges = {{ total_cents = [0, 1000000] }}, references = {{ customer_id = "customers.id" }} }}
"""


def writer_dsn(cli: Cli) -> str:
    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None
    return cluster.writer().dsn()


def sql(cli: Cli, *statements: str) -> None:
    with psycopg.connect(writer_dsn(cli), autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


def seed(cli: Cli) -> None:
    sql(cli, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", f"CREATE SCHEMA {SCHEMA}",
        f"CREATE TABLE {SCHEMA}.customers (id bigint PRIMARY KEY, region text NOT NULL)",
        f"INSERT INTO {SCHEMA}.customers SELECT i, CASE WHEN mod(i, 2) = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 100) i",
        f"CREATE TABLE {SCHEMA}.orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, status text NOT NULL, "
        "total_cents bigint NOT NULL, created_at timestamptz NOT NULL)",
        f"INSERT INTO {SCHEMA}.orders SELECT i, 1 + mod(i, 100), (ARRAY['new', 'paid', 'shipped'])[1 + mod(i, 3)], "
        f"100 * i, timestamptz '2026-01-01' + i * interval '30 minutes' FROM generate_series(1, {ORDERS}) i")


@pytest.fixture(scope="module")
def etl_lab(lab: Cli) -> Iterator[Cli]:
    root = traversable_tmpdir("dbops-etl-")
    cli = Cli(write_config(root, extra=PIPELINE), lab.lab_dir)
    aws = Aws.for_env(cli.config, cli.config.env("lab"))
    aws.client("s3").create_bucket(Bucket=BUCKET)
    aws.client("glue").create_database(DatabaseInput={"Name": DB})
    seed(cli)
    yield cli
    sql(cli, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    shutil.rmtree(root, ignore_errors=True)


def client(cli: Cli, service: str) -> Any:
    return Aws.for_env(cli.config, cli.config.env("lab")).client(service)


def run(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("--debug", "etl", "run", *args, "--json")
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def athena_count(cli: Cli, table: str, where: str = "") -> tuple[int, int]:
    r = run_query(client(cli, "athena"), f"SELECT count(*) FROM {DB}.{table} {where}", DB, "primary",
                  f"s3://{BUCKET}/athena-results/", 60, None, progress=lambda _: None)
    return int(r.rows[0][0]), r.scanned_bytes


def test_a_run_publishes_exactly_the_source_rows_and_athena_reads_them(etl_lab: Cli) -> None:
    code, report = run(etl_lab, "shop")
    assert code == 0, report["summary"] + json.dumps(report["checks"], indent=1)
    assert report["measurements"]["rows.orders"] == ORDERS and report["measurements"]["rows.customers"] == 100
    checks = {c["id"]: c["status"] for c in report["checks"]}
    assert checks == {"ETL-CONTRACT": "pass", "ETL-QUALITY": "pass", "ETL-RECONCILE": "pass", "ETL-PUBLISH": "pass"}
    s3 = client(etl_lab, "s3")
    manifest = lake.latest(s3, lake.Place(BUCKET, "shop", "orders"))
    assert manifest is not None and manifest["rows"] == ORDERS
    # 3,000 orders every 30 minutes from 2026-01-01: 63 days, one Glue partition each.
    parts = client(etl_lab, "glue").get_partitions(DatabaseName=DB, TableName="orders")["Partitions"]
    assert len(parts) == 63 and all(f"batch={manifest['batch']}/" in p["StorageDescriptor"]["Location"] for p in parts)
    total, scanned_all = athena_count(etl_lab, "orders")
    day, scanned_day = athena_count(etl_lab, "orders", "WHERE created_at_date = DATE '2026-01-02'")
    assert (total, day) == (ORDERS, 48)
    assert 0 < scanned_day < scanned_all / 20, (scanned_day, scanned_all)  # one partition of 63 read


def test_a_run_at_a_past_t_reads_a_clone_made_at_t_and_deletes_it(etl_lab: Cli) -> None:
    """--at on a PostgreSQL source: a clone at T, not the reader's present. Orders added after T are not in
    the batch (the negative control: the reader, read just before, has them)."""
    import time

    from ops.lab.pg import pgrestore

    time.sleep(1.0)
    with psycopg.connect(writer_dsn(etl_lab)) as conn:
        at = conn.execute("SELECT now()").fetchone()[0]
    time.sleep(1.0)
    sql(etl_lab, f"INSERT INTO {SCHEMA}.orders SELECT i, 1, 'new', 1, now() FROM generate_series({ORDERS} + 1, {ORDERS} + 7) i")
    try:
        code, report = run(etl_lab, "shop", "--at", at.isoformat())
    finally:
        sql(etl_lab, f"DELETE FROM {SCHEMA}.orders WHERE id > {ORDERS}")
    assert code == 0, report["summary"] + json.dumps(report["checks"], indent=1)
    assert report["measurements"]["rows.orders"] == ORDERS, report["measurements"]
    assert any("clone" in e["message"] for e in report["events"]), [e["message"] for e in report["events"]]
    cluster = pgcluster.get(etl_lab.lab_dir)
    assert cluster is not None
    left = [p.name for p in pgrestore.restores_dir(cluster).glob("*")] if pgrestore.restores_dir(cluster).exists() else []
    assert left == [], left  # the clone was deleted


def lake_objects(cli: Cli, prefix: str) -> dict[str, tuple[str, str]]:
    """Every object under prefix: its ETag and last-modified time (a rewrite changes the second at least)."""
    pages = client(cli, "s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {o["Key"]: (o["ETag"], o["LastModified"].isoformat()) for page in pages for o in page.get("Contents", [])}


def test_a_rerun_of_a_published_t_makes_no_clone_and_writes_nothing(etl_lab: Cli) -> None:
    """The rerun runs with lab-pg's base backups hidden, so any clone it tried would fail (the negative control: a
    run at another T, which needs one, exits 2 while they are hidden)."""
    import time

    time.sleep(1.0)
    with psycopg.connect(writer_dsn(etl_lab)) as conn:
        at = conn.execute("SELECT now()").fetchone()[0].astimezone(timezone.utc)
    time.sleep(1.0)
    code, first = run(etl_lab, "shop", "--at", at.isoformat())
    assert code == 0, first["summary"] + json.dumps(first["checks"], indent=1)
    before = lake_objects(etl_lab, "shop/")
    cluster = pgcluster.get(etl_lab.lab_dir)
    assert cluster is not None
    backups = cluster.backups_dir
    hidden = backups.with_name(backups.name + ".hidden")
    backups.rename(hidden)
    try:
        code, again = run(etl_lab, "shop", "--at", at.isoformat())
        other = etl_lab("etl", "run", "shop", "--at", (at + timedelta(microseconds=1)).isoformat())
    finally:
        hidden.rename(backups)
    assert code == 0, again["summary"] + json.dumps(again["checks"], indent=1)
    assert other.exit_code == 2 and "no earliest restorable time" in other.stderr, other.output
    messages = [e["message"] for e in again["events"]]
    assert not any("clon" in m for m in messages), messages
    published = again["details"]["published"]
    assert {n: (p["already_published"], p["rows"]) for n, p in published.items()} == \
        {"customers": (True, 100), "orders": (True, ORDERS)}, published
    assert published["orders"]["batch"] == lake.batch_id(at)
    checks = {c["id"]: c for c in again["checks"]}
    assert checks["ETL-PUBLISH"]["status"] == "pass" and "nothing extracted" in checks["ETL-PUBLISH"]["detail"]
    assert all(checks[c]["status"] == "unknown" and "not judged again" in checks[c]["detail"]
               for c in ("ETL-CONTRACT", "ETL-QUALITY", "ETL-RECONCILE")), checks
    assert lake_objects(etl_lab, "shop/") == before


def check_catalog(cli: Cli) -> tuple[int, dict[str, Any]]:
    result = cli("etl", "check", "shop", "--json")
    assert result.stdout, result.stderr
    return result.exit_code, {c["id"]: c for c in json.loads(result.stdout)["checks"]}["ETL-CATALOG"]


@pytest.mark.parametrize("change", ["deleted", "re-pointed", "added"])
def test_check_fails_when_glue_serves_other_partitions_than_the_published_batch(etl_lab: Cli, change: str) -> None:
    """A Glue partition deleted, re-pointed at another batch's prefix or added is named by `etl check` (exit 1);
    the same lake untouched passes (the negative control, before the change and after it is undone)."""
    code, report = run(etl_lab, "shop")
    assert code == 0, report["summary"]
    code, served = check_catalog(etl_lab)
    assert (code, served["status"]) == (0, "pass"), served
    glue = client(etl_lab, "glue")
    part = glue.get_partition(DatabaseName=DB, TableName="orders", PartitionValues=["2026-01-02"])["Partition"]
    location = part["StorageDescriptor"]["Location"]
    original = {"Values": part["Values"], "StorageDescriptor": part["StorageDescriptor"]}
    elsewhere = location.replace(f"batch={report['details']['published']['orders']['batch']}", "batch=20200101T000000000000Z")
    if change == "deleted":
        glue.delete_partition(DatabaseName=DB, TableName="orders", PartitionValues=["2026-01-02"])
        undo = lambda: glue.create_partition(DatabaseName=DB, TableName="orders", PartitionInput=original)  # noqa: E731
        says = ["1 partition(s) of the batch missing in Glue", "created_at_date=2026-01-02"]
    elif change == "re-pointed":
        glue.update_partition(DatabaseName=DB, TableName="orders", PartitionValueList=["2026-01-02"], PartitionInput={
            **original, "StorageDescriptor": {**original["StorageDescriptor"], "Location": elsewhere}})
        undo = lambda: glue.update_partition(DatabaseName=DB, TableName="orders", PartitionValueList=["2026-01-02"],  # noqa: E731
                                             PartitionInput=original)
        says = ["1 partition(s) pointed away from the batch", f"created_at_date=2026-01-02 at {elsewhere}"]
    else:
        glue.create_partition(DatabaseName=DB, TableName="orders", PartitionInput={
            "Values": ["2031-05-05"], "StorageDescriptor": {**original["StorageDescriptor"],
                                                           "Location": location.replace("2026-01-02", "2031-05-05")}})
        undo = lambda: glue.delete_partition(DatabaseName=DB, TableName="orders", PartitionValues=["2031-05-05"])  # noqa: E731
        says = ["1 partition(s) in Glue that the batch does not have", "created_at_date=2031-05-05"]
    try:
        code, served = check_catalog(etl_lab)
    finally:
        undo()
    assert (code, served["status"]) == (1, "fail"), served
    assert all(s in served["detail"] for s in says) and served["detail"].startswith("orders: "), served["detail"]
    code, served = check_catalog(etl_lab)
    assert (code, served["status"]) == (0, "pass"), served


def test_check_fails_when_glue_holds_a_column_of_another_type_in_the_table_or_a_partition(etl_lab: Cli) -> None:
    """A stale Glue schema (total_cents as string, the batch's bigint) is named by `etl check`, in the table and in
    one partition; the untouched lake passes before and after."""
    code, report = run(etl_lab, "shop")
    assert code == 0, report["summary"]
    assert check_catalog(etl_lab)[1]["status"] == "pass"
    glue = client(etl_lab, "glue")
    table = glue.get_table(DatabaseName=DB, Name="orders")["Table"]
    part = glue.get_partition(DatabaseName=DB, TableName="orders", PartitionValues=["2026-01-02"])["Partition"]

    def retyped(storage: dict[str, Any]) -> dict[str, Any]:
        return {**storage, "Columns": [{**c, "Type": "string"} if c["Name"] == "total_cents" else c for c in storage["Columns"]]}

    table_input = {k: table[k] for k in ("Name", "TableType", "StorageDescriptor", "Parameters", "PartitionKeys")}
    part_input = {"Values": part["Values"], "StorageDescriptor": part["StorageDescriptor"]}
    glue.update_table(DatabaseName=DB, TableInput={**table_input, "StorageDescriptor": retyped(table["StorageDescriptor"])})
    try:
        code, served = check_catalog(etl_lab)
    finally:
        glue.update_table(DatabaseName=DB, TableInput=table_input)
    assert (code, served["status"]) == (1, "fail"), served
    assert served["detail"] == "orders: Glue's table columns differ from the batch's: total_cents is string, not bigint", served
    glue.update_partition(DatabaseName=DB, TableName="orders", PartitionValueList=["2026-01-02"],
                          PartitionInput={**part_input, "StorageDescriptor": retyped(part["StorageDescriptor"])})
    try:
        code, served = check_catalog(etl_lab)
    finally:
        glue.update_partition(DatabaseName=DB, TableName="orders", PartitionValueList=["2026-01-02"], PartitionInput=part_input)
    assert (code, served["status"]) == (1, "fail"), served
    assert served["detail"] == ("orders: 1 partition(s) whose columns differ from the batch's: "
                                "created_at_date=2026-01-02: total_cents is string, not bigint"), served
    code, served = check_catalog(etl_lab)
    assert (code, served["status"]) == (0, "pass"), served


def test_bad_rows_are_caught_and_the_batch_is_quarantined_not_published(etl_lab: Cli) -> None:
    s3 = client(etl_lab, "s3")
    before = lake.latest(s3, lake.Place(BUCKET, "shop", "orders"))
    sql(etl_lab, f"UPDATE {SCHEMA}.orders SET status = 'lost' WHERE id <= 60")  # 2 % of the rows
    try:
        code, report = run(etl_lab, "shop")
    finally:
        sql(etl_lab, f"UPDATE {SCHEMA}.orders SET status = 'paid' WHERE id <= 60")
    assert code == 1, report["summary"]
    quality = {c["id"]: c for c in report["checks"]}["ETL-QUALITY"]
    assert quality["status"] == "fail" and "orders" in quality["detail"], quality
    rule = next(q for q in report["details"]["quality"] if q["rule"] == "orders.accepted_values(status)")
    assert rule["failing"] == 60 and rule["failing_keys"][:3] == [["1"], ["2"], ["3"]], rule
    assert {c["id"]: c["status"] for c in report["checks"]}["ETL-PUBLISH"] == "fail"
    assert lake.latest(s3, lake.Place(BUCKET, "shop", "orders")) == before  # nothing new published
    where = report["details"]["quarantined"][0]
    verdict = json.loads(s3.get_object(Bucket=BUCKET, Key=where.split(BUCKET + "/", 1)[1] + "verdict.json")["Body"].read())
    assert any("accepted_values" in w for w in verdict["why"]), verdict["why"]


def test_a_column_added_at_the_source_fails_a_frozen_contract(etl_lab: Cli) -> None:
    sql(etl_lab, f"ALTER TABLE {SCHEMA}.customers ADD COLUMN email text")
    try:
        code, report = run(etl_lab, "shop")
    finally:
        sql(etl_lab, f"ALTER TABLE {SCHEMA}.customers DROP COLUMN email")
    assert code == 1, report["summary"]
    contract = {c["id"]: c for c in report["checks"]}["ETL-CONTRACT"]
    assert contract["status"] == "fail" and "email" in contract["detail"], contract


def test_the_writer_is_never_read(etl_lab: Cli, tmp_path: Path) -> None:
    """A source whose reader endpoint reaches the writer is refused before anything is read."""
    from ops.etl.extract_pg import Reader
    from ops.errors import CannotRun

    with pytest.raises(CannotRun, match="the writer"):
        with Reader(writer_dsn(etl_lab), "the writer"):
            pass


def test_reconciliation_fails_on_a_lost_row(etl_lab: Cli) -> None:
    from ops.etl.config import pipeline
    from ops.etl.run import TableBatch, extract_pg, reconcile, work_dir, cleanup

    cluster = pgcluster.get(etl_lab.lab_dir)
    assert cluster is not None
    spec = pipeline(etl_lab.config.pipelines, "shop").tables[1]
    work = work_dir()
    try:
        reader = cluster.multi_host_dsn().replace("target_session_attrs=read-write", "target_session_attrs=standby")
        (batch,) = extract_pg(reader, "a reader", [spec], work)
        assert reconcile(_with_table(batch)) is None
        lost = _with_table(batch)
        lost.table = lost.table.slice(1)  # one row lost between the source and the lake
        assert "rows published" in (reconcile(lost) or "")
        changed = _with_table(batch)
        import pyarrow as pa
        ids = changed.table.column("id").to_pylist()
        ids[0] = 10**9  # same count, one key changed
        changed.table = changed.table.set_column(0, "id", pa.array(ids, pa.int64()))
        assert "fingerprint" in (reconcile(changed) or "")
    finally:
        cleanup(work)


def _with_table(batch: Any) -> Any:
    from dataclasses import replace

    b = replace(batch)
    b.table = batch.spool.dataset().to_table()
    return b


EVENTS = "etl_events"
EVENTS_PIPELINE = f"""
[pipelines.events]
destination = {{ bucket = "{BUCKET}", prefix = "events", database = "{DB}" }}

[pipelines.events.tables.events]
source = "dynamodb:{EVENTS}"
key = ["pk"]
columns = {{ pk = "string", kind = "string", amount = "double" }}
rules = {{ not_null = ["kind"], accepted_values = {{ kind = ["click", "view"] }} }}
"""


@pytest.fixture(scope="module")
def events_lab(etl_lab: Cli) -> Iterator[Cli]:
    """A DynamoDB table with point-in-time recovery, 50 items, restorable a second after they were written."""
    from ops.lab.aws import emulator, settings

    endpoint = emulator.endpoint(etl_lab.lab_dir)
    assert endpoint
    # The lab's heartbeat writes marker items into every table with point-in-time recovery: off for this one.
    settings.remote(endpoint, {"ddb_restorable_lag_s": 0.5, "ddb_export_delay_s": 0, "ddb_heartbeat": False})
    cli = Cli(etl_lab.config_path, etl_lab.lab_dir)
    cli.config_path.write_text(cli.config_path.read_text() + EVENTS_PIPELINE)
    ddb = client(cli, "dynamodb")
    ddb.create_table(TableName=EVENTS, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.update_continuous_backups(TableName=EVENTS, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    for i in range(50):
        ddb.put_item(TableName=EVENTS, Item={"pk": {"S": f"e{i:03d}"}, "kind": {"S": "click" if i % 2 else "view"},
                                             "amount": {"N": str(i * 1.5)}})
    import time

    time.sleep(2.0)
    yield cli
    ddb.delete_table(TableName=EVENTS)
    settings.remote(endpoint, {"ddb_restorable_lag_s": 300, "ddb_export_delay_s": 3, "ddb_heartbeat": True})


def test_a_dynamodb_table_is_exported_at_t_and_a_rerun_of_that_t_publishes_nothing(events_lab: Cli, tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    at = (datetime.now(timezone.utc) - timedelta(seconds=1)).replace(microsecond=0)
    code, report = run(events_lab, "events", "--at", at.isoformat())
    assert code == 0, report["summary"] + json.dumps(report["checks"], indent=1)
    assert report["measurements"]["rows.events"] == 50
    # Items written after T are not in T's batch, and a rerun of T exports nothing and writes nothing.
    client(events_lab, "dynamodb").put_item(TableName=EVENTS, Item={"pk": {"S": "late"}, "kind": {"S": "view"}})
    from ops import callrecord

    monkeypatch.setenv(callrecord.ENV_VAR, str(tmp_path))  # the AWS calls the rerun makes, recorded by name
    code, again = run(events_lab, "events", "--at", at.isoformat())
    monkeypatch.delenv(callrecord.ENV_VAR)
    calls = {call for _, call in callrecord.read(tmp_path)}
    assert "s3:ListObjectsV2" in calls and not {c for c in calls if c.startswith("dynamodb:")}, calls
    assert code == 0, again["summary"]
    publish = {c["id"]: c for c in again["checks"]}["ETL-PUBLISH"]
    assert "already published" in publish["detail"] and again["details"]["published"]["events"]["rows"] == 50, publish
    manifests = client(events_lab, "s3").list_objects_v2(Bucket=BUCKET, Prefix="events/events/_manifests/")["Contents"]
    assert len(manifests) == 1
    checked = events_lab("etl", "check", "events", "--json")
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    assert {c["id"]: c["status"] for c in json.loads(checked.stdout)["checks"]} == {"ETL-QUALITY": "pass", "ETL-CATALOG": "pass"}


def test_check_refuses_a_published_file_changed_behind_its_manifest(events_lab: Cli) -> None:
    s3 = client(events_lab, "s3")
    manifest = lake.latest(s3, lake.Place(BUCKET, "events", "events"))
    if manifest is None:  # this test alone: publish a batch first
        code, report = run(events_lab, "events")
        assert code == 0, report["summary"]
        manifest = lake.latest(s3, lake.Place(BUCKET, "events", "events"))
    assert manifest is not None
    key = manifest["files"][0]["key"]
    original = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=key, Body=original[:-10] + b"0123456789")
    try:
        checked = events_lab("etl", "check", "events")
        assert checked.exit_code == 2 and "differs from its manifest's SHA-256" in checked.stderr, checked.stdout + checked.stderr
    finally:
        s3.put_object(Bucket=BUCKET, Key=key, Body=original)


KMS_ALIAS = "alias/dbops-test-exports"
KMS_PIPELINE = f"""
[pipelines.events_kms]
destination = {{ bucket = "{BUCKET}", prefix = "events-kms", database = "{DB}", kms_key = "{KMS_ALIAS}" }}

[pipelines.events_kms.tables.events_kms]
source = "dynamodb:{EVENTS}"
key = ["pk"]
columns = {{ pk = "string", kind = "string", amount = "double" }}
"""


def test_an_export_under_the_destinations_alias_is_accepted_and_another_key_is_not(events_lab: Cli) -> None:
    from ops.etl.run import exported_under

    aws = Aws.for_env(events_lab.config, events_lab.config.env("lab"))
    kms = aws.client("kms")
    key = kms.create_key(Description="lake exports")["KeyMetadata"]
    other = kms.create_key(Description="another key")["KeyMetadata"]
    kms.create_alias(AliasName=KMS_ALIAS, TargetKeyId=key["KeyId"])
    root = traversable_tmpdir("dbops-etl-kms-")
    try:
        # The destination names the key by its alias; the lab's DescribeExport answers the key's ARN.
        cli = Cli(write_config(root, extra=KMS_PIPELINE), events_lab.lab_dir)
        code, report = run(cli, "events_kms")
        assert code == 0, report["summary"] + json.dumps(report["checks"], indent=1)
        assert report["measurements"]["rows.events_kms"] >= 50
        exports = client(cli, "s3").list_objects_v2(Bucket=BUCKET, Prefix="events-kms/_exports/")["Contents"]
        head = client(cli, "s3").head_object(Bucket=BUCKET, Key=exports[0]["Key"])
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key["Arn"], head
    finally:
        shutil.rmtree(root, ignore_errors=True)
    # Each form of the key names it; another key, or no key, does not (the lab's KMS resolves each name).
    alias_arn = key["Arn"].split(":key/")[0] + ":" + KMS_ALIAS
    for name in (KMS_ALIAS, alias_arn, key["KeyId"], key["Arn"]):
        assert exported_under(aws, ("KMS", key["Arn"]), name), name
        assert exported_under(aws, ("KMS", name), key["Arn"]), name
    assert not exported_under(aws, ("KMS", other["Arn"]), KMS_ALIAS)
    assert not exported_under(aws, ("KMS", other["KeyId"]), key["Arn"])
    assert not exported_under(aws, ("AES256", None), KMS_ALIAS)


MOMENTS_PIPELINE = f"""
[pipelines.moments]
destination = {{ bucket = "{BUCKET}", prefix = "moments", database = "{DB}", workgroup = "moments" }}

[pipelines.moments.tables.moments]
source = "localpg:lab-pg"
from = "{SCHEMA}.moments"
key = ["id"]
partition_by = "happened_at"
columns = {{ id = "bigint", happened_at = "timestamp", due = "date" }}
"""
# What PostgreSQL holds and the lake cannot, by id; 1006 holds NULLs of the source (no replacement).
UNHELD = {1001: ("'infinity'", "DATE '2026-01-01'"), 1002: ("'-infinity'", "DATE '2026-01-01'"),
          1003: ("'294276-01-01 00:00:00+00'", "'0044-03-15 BC'"), 1004: ("'2026-01-01 00:00:00+00'", "'infinity'"),
          1005: ("'2026-01-01 00:00:00+00'", "'-infinity'"), 1006: ("NULL", "NULL")}


def test_values_the_lake_cannot_hold_are_published_as_null_and_fail_representable(etl_lab: Cli) -> None:
    """1,000 ordinary rows and five holding infinities, a BC date and year 294276: the run publishes them as NULL
    and reports each row by key (99.5 % valid); with one in ten such rows the batch is quarantined."""
    if "[pipelines.moments]" not in etl_lab.config_path.read_text():
        etl_lab.config_path.write_text(etl_lab.config_path.read_text() + MOMENTS_PIPELINE)
    sql(etl_lab, f"DROP TABLE IF EXISTS {SCHEMA}.moments",
        f"CREATE TABLE {SCHEMA}.moments (id bigint PRIMARY KEY, happened_at timestamptz, due date)",
        f"INSERT INTO {SCHEMA}.moments SELECT i, timestamptz '2026-01-01' + i * interval '1 hour', date '2026-01-01' + i "
        "FROM generate_series(1, 1000) i",
        *(f"INSERT INTO {SCHEMA}.moments VALUES ({i}, {t}, {d})" for i, (t, d) in UNHELD.items()))
    code, report = run(etl_lab, "moments")
    assert code == 0, report["summary"] + json.dumps(report["checks"], indent=1)
    rules = {q["rule"]: q for q in report["details"]["quality"]}
    assert (rules["moments.representable(happened_at)"]["failing"], rules["moments.representable(happened_at)"]["failing_keys"]) \
        == (3, [["1001"], ["1002"], ["1003"]]), rules
    assert (rules["moments.representable(due)"]["failing"], rules["moments.representable(due)"]["failing_keys"]) \
        == (3, [["1003"], ["1004"], ["1005"]]), rules
    assert rules["moments.valid(due, happened_at)"]["failing"] == 5, rules
    s3 = client(etl_lab, "s3")
    manifest = lake.latest(s3, lake.Place(BUCKET, "moments", "moments"))
    assert manifest is not None and manifest["rows"] == 1006
    import pyarrow.dataset as pads

    root = lake.download(s3, BUCKET, manifest, traversable_tmpdir("dbops-etl-moments-"))
    try:
        rows = {r["id"]: r for r in pads.dataset(str(root), format="parquet", partitioning=lake.hive(
            manifest["partition"], manifest["columns"])).to_table().to_pylist()}
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)
    assert all(rows[i]["happened_at"] is None for i in (1001, 1002, 1003, 1006))
    assert all(rows[i]["due"] is None for i in (1003, 1004, 1005, 1006))
    assert rows[1004]["happened_at"] == datetime(2026, 1, 1, tzinfo=timezone.utc) and rows[1001]["due"].isoformat() == "2026-01-01"
    assert rows[1000]["happened_at"] == datetime(2026, 2, 11, 16, tzinfo=timezone.utc)
    # etl check judges the published batch again: the NULLs that were infinities fail representable() as in the run.
    checked = etl_lab("etl", "check", "moments", "--json")
    assert checked.exit_code == 0, checked.output
    again = {q["rule"]: q for q in json.loads(checked.stdout)["details"]["quality"]}
    for rule in ("moments.representable(happened_at)", "moments.representable(due)"):
        assert (again[rule]["failing"], again[rule]["failing_keys"]) == (rules[rule]["failing"], rules[rule]["failing_keys"]), again
    # Four rows sit in Hive's NULL partition: Athena reads it as NULL, pruned or not.
    athena = client(etl_lab, "athena")
    if "moments" not in {w["Name"] for w in athena.list_work_groups()["WorkGroups"]}:
        athena.create_work_group(Name="moments", Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/athena-results/"}, "EnforceWorkGroupConfiguration": True})
    for where, n in (("", 1006), (" WHERE happened_at_date IS NULL", 4), (" WHERE happened_at_date = DATE '2026-01-02'", 24)):
        answer = etl_lab("etl", "query", "moments", f"SELECT count(*) AS n FROM moments{where}", "--engine", "athena", "--json")
        assert answer.exit_code == 0 and int(json.loads(answer.stdout)["rows"][0]["n"]) == n, (where, answer.output)
    # One row in ten: below the 99 % valid share, quarantined, not published.
    sql(etl_lab, f"UPDATE {SCHEMA}.moments SET happened_at = 'infinity' WHERE mod(id, 10) = 0")
    code, report = run(etl_lab, "moments")
    assert code == 1, report["summary"]
    failed = {c["id"]: c for c in report["checks"] if c["status"] == "fail"}
    assert set(failed) == {"ETL-QUALITY", "ETL-PUBLISH"}, failed
    assert "representable(happened_at) 103" in failed["ETL-QUALITY"]["detail"], failed["ETL-QUALITY"]["detail"]
    assert "quarantined" in failed["ETL-PUBLISH"]["detail"]


ORDERS_PIPELINE = f"""
[pipelines.seeded]
destination = {{ bucket = "{BUCKET}", prefix = "lake/seeded", database = "{DB}", workgroup = "etl-test" }}

[pipelines.seeded.tables.seeded_customers]
source = "localpg:lab-pg"
from = "orders.customers"
key = ["id"]
contract = "discard_columns"
columns = {{ id = "bigint", region = "string" }}

[pipelines.seeded.tables.seeded_orders]
source = "localpg:lab-pg"
from = "orders.orders"
key = ["id"]
partition_by = "created_at"
columns = {{ id = "bigint", customer_id = "bigint", status = "string", total_cents = "bigint", currency = "string", created_at = "timestamp" }}
rules = {{ accepted_values = {{ status = ["pending", "shipped", "delivered", "cancelled"] }}, ranges = {{ total_cents = [0, 10000000] }}, references = {{ customer_id = "seeded_customers.id" }} }}

[pipelines.seeded.tables.seeded_orders_by_month]
source = "localpg:lab-pg"
from = "orders.orders"
key = ["id"]
partition_by = "created_at"
partition_grain = "month"
columns = {{ id = "bigint", status = "string", created_at = "timestamp" }}
contract = "discard_columns"
"""


@pytest.fixture(scope="module")
def seeded_lab(etl_lab: Cli) -> Iterator[Cli]:
    """The lab's orders dataset (1,000 orders over two years) and a pipeline over it with an Athena workgroup."""
    cli = Cli(etl_lab.config_path, etl_lab.lab_dir)
    if "[pipelines.seeded]" not in cli.config_path.read_text():
        cli.config_path.write_text(cli.config_path.read_text() + ORDERS_PIPELINE)
    seeded = cli("lab", "seed-orders", "--rows", "1000")
    assert seeded.exit_code == 0, seeded.output
    client(cli, "athena").create_work_group(Name="etl-test", Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/athena-results/"}, "EnforceWorkGroupConfiguration": True})
    yield cli
    cli("lab", "etl-fault", "heal")


def test_each_injected_fault_is_caught_and_healing_passes_again(seeded_lab: Cli) -> None:
    code, first = run(seeded_lab, "seeded")
    assert code == 0, first["summary"] + json.dumps(first["checks"])
    reports = {}
    for fault, check_id in (("bad-rows", "ETL-QUALITY"), ("schema-change", "ETL-CONTRACT")):
        injected = seeded_lab("lab", "etl-fault", fault)
        assert injected.exit_code == 0, injected.output
        try:
            code, reports[fault] = run(seeded_lab, "seeded")
        finally:
            healed = seeded_lab("lab", "etl-fault", "heal")
            assert healed.exit_code == 0, healed.output
        failed = [c["id"] for c in reports[fault]["checks"] if c["status"] == "fail"]
        assert code == 1 and check_id in failed and "ETL-PUBLISH" in failed, (fault, reports[fault]["summary"])
    # 2 % of 1,000: the 20 orders added after the seeded ones, each caught by both of its broken rules.
    rules = {q["rule"]: q for q in reports["bad-rows"]["details"]["quality"]}
    for rule in ("seeded_orders.accepted_values(status)", "seeded_orders.range(total_cents)"):
        assert rules[rule]["failing"] == 20 and rules[rule]["failing_keys"][0] == ["1001"], rules[rule]
    code, again = run(seeded_lab, "seeded")
    assert code == 0, again["summary"]


def test_a_lost_partition_is_caught_by_check_and_the_next_run_publishes_a_whole_batch(seeded_lab: Cli) -> None:
    code, report = run(seeded_lab, "seeded")
    assert code == 0, report["summary"]
    lost = seeded_lab("lab", "etl-fault", "missing-partition", "--pipeline", "seeded")
    assert lost.exit_code == 0 and "lost partition created_at_date=" in lost.stdout, lost.output
    checked = seeded_lab("etl", "check", "seeded")
    assert checked.exit_code == 2 and "is listed by batch" in checked.stderr, checked.output
    code, report = run(seeded_lab, "seeded")
    assert code == 0, report["summary"]
    checked = seeded_lab("etl", "check", "seeded")
    assert checked.exit_code == 0, checked.output


def test_a_query_over_the_lake_answers_the_same_on_athena_and_duckdb(seeded_lab: Cli) -> None:
    code, report = run(seeded_lab, "seeded")
    assert code == 0, report["summary"]
    sql_text = ("SELECT status, count(*) AS n FROM seeded_orders WHERE created_at_date BETWEEN DATE '2024-03-01' "
                "AND DATE '2024-03-31' GROUP BY status ORDER BY status")
    answers = {}
    for engine in ("athena", "duckdb"):
        result = seeded_lab("etl", "query", "seeded", sql_text, "--engine", engine, "--json")
        assert result.exit_code == 0, result.output
        answers[engine] = json.loads(result.stdout)
    with psycopg.connect(writer_dsn(seeded_lab)) as conn:
        expected = conn.execute("SELECT status, count(*) FROM orders.orders WHERE created_at >= '2024-03-01' AND "
                                "created_at < '2024-04-01' GROUP BY status ORDER BY status").fetchall()
    for engine, answer in answers.items():
        assert [(r["status"], int(r["n"])) for r in answer["rows"]] == expected, (engine, answer)
    # One month of 730 days' partitions: Athena reads only its partitions.
    assert 0 < answers["athena"]["scanned_bytes"] < 0.1 * sum(
        f["bytes"] for f in lake.latest(client(seeded_lab, "s3"), lake.Place(BUCKET, "lake/seeded", "seeded_orders"))["files"])
    refused = seeded_lab("etl", "query", "seeded", sql_text, "--max-bytes", "1")
    assert refused.exit_code != 0 and refused.stdout == "", refused.output


def mcp_lake_query(cli: Cli, tmp_path: Path, sql_text: str, max_bytes: int) -> Any:
    import asyncio

    from mcp import Client
    from mcp.server.mcpserver import MCPServer

    from ops.mcp import sql_tools
    from ops.mcp.settings import McpSettings

    server = MCPServer("dbops-test")
    sql_tools.register(server, McpSettings(cli.config_path, "lab", False, tmp_path, lake_max_bytes=max_bytes))

    async def go() -> Any:
        async with Client(server) as client:
            return await client.call_tool("lake_query", {"pipeline": "seeded", "sql": sql_text})

    return asyncio.run(go())


def test_a_month_grain_publishes_a_partition_per_month_that_a_query_prunes_to(seeded_lab: Cli, monkeypatch: pytest.MonkeyPatch,
                                                                              tmp_path: Path) -> None:
    code, report = run(seeded_lab, "seeded")
    assert code == 0, report["summary"]
    place = lake.Place(BUCKET, "lake/seeded", "seeded_orders_by_month")
    manifest = lake.latest(client(seeded_lab, "s3"), place)
    parts = client(seeded_lab, "glue").get_partitions(DatabaseName=DB, TableName="seeded_orders_by_month")["Partitions"]
    # The seeded orders span 2024-01-01 .. 2025-12-31: 24 months, each partition named by its first day.
    assert sorted(p["Values"][0] for p in parts) == [f"{y}-{m:02d}-01" for y in (2024, 2025) for m in range(1, 13)]
    assert manifest["partition"] == "created_at_month" and len(manifest["files"]) == 24
    sql_text = ("SELECT count(*) AS n FROM seeded_orders_by_month WHERE created_at_month = DATE '2024-03-01' "
                "AND created_at >= TIMESTAMP '2024-03-10 00:00:00' AND created_at < TIMESTAMP '2024-03-20 00:00:00'")
    with psycopg.connect(writer_dsn(seeded_lab)) as conn:
        expected = conn.execute("SELECT count(*) FROM orders.orders WHERE created_at >= '2024-03-10 00:00:00+00' "
                                "AND created_at < '2024-03-20 00:00:00+00'").fetchone()[0]
    march = next(f["bytes"] for f in manifest["files"] if "created_at_month=2024-03-01/" in f["key"])
    for engine in ("athena", "duckdb"):
        result = seeded_lab("etl", "query", "seeded", sql_text, "--engine", engine, "--json")
        assert result.exit_code == 0, result.output
        answer = json.loads(result.stdout)
        assert int(answer["rows"][0]["n"]) == expected, (engine, answer)
        assert answer["scanned_bytes"] == march, (engine, answer["scanned_bytes"], march)  # one month's file of 24
    # The same query as the MCP server's lake_query tool answers it, and refuses it past the server's byte bound.
    monkeypatch.setenv("DBOPS_LAB_DIR", str(seeded_lab.lab_dir))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    over_mcp = mcp_lake_query(seeded_lab, tmp_path, sql_text, max_bytes=march)
    assert not over_mcp.is_error, over_mcp.content
    assert over_mcp.structured_content["rows"] == [[expected]] and over_mcp.structured_content["scanned_bytes"] == march
    bounded = mcp_lake_query(seeded_lab, tmp_path, sql_text, max_bytes=march - 1)
    assert bounded.is_error and f"scanned {march} bytes, more than" in bounded.content[0].text


def test_a_later_run_is_an_incremental_export_merged_into_the_previous_batch(events_lab: Cli) -> None:
    """The second export of a table is incremental (the lab's minimum period lowered from the service's 15
    minutes to 1 s): the batch is the previous one with the period's puts, updates and deletes, exactly the
    table's items, one per key. Negative control: with the service's 15 minutes, the same run is refused an
    incremental export and exports the table whole."""
    import time

    from ops.lab.aws import emulator, settings

    endpoint = emulator.endpoint(events_lab.lab_dir)
    assert endpoint
    s3, ddb = client(events_lab, "s3"), client(events_lab, "dynamodb")
    code, first = run(events_lab, "events")
    assert code == 0, first["summary"]
    time.sleep(1.5)
    code, refused = run(events_lab, "events")
    assert code == 0, refused["summary"]
    assert any("incremental export was refused" in e["message"] for e in refused["events"])
    assert lake.latest(s3, lake.Place(BUCKET, "events", "events"))["export"] == "full"
    ddb.put_item(TableName=EVENTS, Item={"pk": {"S": "n001"}, "kind": {"S": "click"}, "amount": {"N": "7"}})
    ddb.put_item(TableName=EVENTS, Item={"pk": {"S": "e001"}, "kind": {"S": "view"}, "amount": {"N": "99"}})
    ddb.delete_item(TableName=EVENTS, Key={"pk": {"S": "e002"}})
    time.sleep(1.5)
    settings.remote(endpoint, {"ddb_export_min_incremental_s": 1})
    try:
        code, second = run(events_lab, "events")
    finally:
        settings.remote(endpoint, {"ddb_export_min_incremental_s": 900})
    assert code == 0, second["summary"] + json.dumps(second["checks"], indent=1)
    manifest = lake.latest(s3, lake.Place(BUCKET, "events", "events"))
    assert manifest is not None and manifest["export"] == "incremental" and manifest["chain"] == 1, manifest
    reconciled = {c["id"]: c for c in second["checks"]}["ETL-RECONCILE"]
    assert "incremental since" in reconciled["detail"], reconciled
    items = {i["pk"]["S"]: (i.get("kind", {}).get("S"), float(i["amount"]["N"]) if "amount" in i else None)
             for page in ddb.get_paginator("scan").paginate(TableName=EVENTS) for i in page["Items"]}
    import duckdb

    work = Path(traversable_tmpdir("dbops-etl-incr-"))
    try:
        root = lake.download(s3, BUCKET, manifest, work)
        rows = duckdb.connect().execute(f"SELECT pk, kind, amount FROM read_parquet('{root}/**/*.parquet')").fetchall()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert {r[0]: (r[1], r[2]) for r in rows} == items and len(rows) == len(items), (len(rows), len(items))
    assert items["e001"] == ("view", 99.0) and "e002" not in items and "n001" in items


def test_a_dynamodb_attribute_retyped_at_the_source_is_refused_naming_the_item(events_lab: Cli) -> None:
    """An item whose amount is text is caught by the schema contract: the batch is quarantined, its verdict names
    the item by its key. Negative control: the table without it publishes, and the manifest keeps the types."""
    s3, ddb = client(events_lab, "s3"), client(events_lab, "dynamodb")
    ddb.put_item(TableName=EVENTS, Item={"pk": {"S": "text-amount"}, "kind": {"S": "view"}, "amount": {"S": "12.5"}})
    import time

    time.sleep(1.5)
    try:
        code, report = run(events_lab, "events")
        checks = {c["id"]: c for c in report["checks"]}
        assert code == 1 and checks["ETL-CONTRACT"]["status"] == "fail", report["summary"]
        assert "amount (double): DynamoDB S in 1 item(s), keys text-amount" in checks["ETL-CONTRACT"]["detail"], checks
        assert checks["ETL-PUBLISH"]["status"] == "fail"
    finally:
        ddb.delete_item(TableName=EVENTS, Key={"pk": {"S": "text-amount"}})
    time.sleep(1.5)
    code, report = run(events_lab, "events")
    assert code == 0, report["summary"] + json.dumps(report["checks"], indent=1)
    manifest = lake.latest(s3, lake.Place(BUCKET, "events", "events"))
    assert manifest is not None and manifest["attribute_types"] == {"amount": ["N"], "kind": ["S"], "pk": ["S"]}, manifest


def test_a_table_whose_recovery_window_holds_no_whole_second_yet_is_refused_in_one_line(etl_lab: Cli) -> None:
    """Right after point-in-time recovery is enabled the window is one instant inside a second, and an export at
    a whole second (the API's precision) would be refused by the service: the run says so and writes nothing."""
    from ops.lab.aws import emulator, settings

    endpoint = emulator.endpoint(etl_lab.lab_dir)
    assert endpoint
    before = {k: v["value"] for k, v in settings.remote(endpoint).items() if k in ("ddb_restorable_lag_s", "ddb_heartbeat")}
    table = "etl-fresh"
    if "[pipelines.fresh]" not in etl_lab.config_path.read_text():
        etl_lab.config_path.write_text(etl_lab.config_path.read_text() + f"""
[pipelines.fresh]
destination = {{ bucket = "{BUCKET}", prefix = "fresh", database = "{DB}" }}

[pipelines.fresh.tables.fresh]
source = "dynamodb:{table}"
key = ["pk"]
columns = {{ pk = "string" }}
""")
    ddb = client(etl_lab, "dynamodb")
    # The lab's heartbeat writes marker items into every table with point-in-time recovery: off for this one.
    settings.remote(endpoint, {"ddb_restorable_lag_s": 300, "ddb_heartbeat": False})
    try:
        ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        ddb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        for i in range(3):
            ddb.put_item(TableName=table, Item={"pk": {"S": f"f{i}"}})
        window = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        assert window["EarliestRestorableDateTime"] == window["LatestRestorableDateTime"]  # one instant, for 300 s
        if window["EarliestRestorableDateTime"].microsecond == 0:
            pytest.fail("the window began on a whole second: this test needs it to begin inside one (rerun)")
        refused = etl_lab("etl", "run", "fresh")
        assert refused.exit_code == 2 and "has no time to export at yet" in refused.stderr + refused.stdout, refused.output
        assert "Traceback" not in refused.output
        listed = client(etl_lab, "s3").list_objects_v2(Bucket=BUCKET, Prefix="fresh/")
        assert listed.get("KeyCount", 0) == 0, listed.get("Contents")
        # Control: once the window holds a whole second, the same run publishes.
        settings.remote(endpoint, {"ddb_restorable_lag_s": 0.5})
        import time

        time.sleep(2.0)
        code, report = run(etl_lab, "fresh")
        assert code == 0 and report["measurements"]["rows.fresh"] == 3, report["summary"] + json.dumps(report["checks"])
        # An --at before the window is refused, not moved to the window's first second (another T than asked).
        early = (window["EarliestRestorableDateTime"] - timedelta(hours=1)).replace(microsecond=0)
        before_window = etl_lab("etl", "run", "fresh", "--at", early.isoformat())
        assert before_window.exit_code == 2 and "is before dynamodb:etl-fresh's earliest restorable time" in before_window.output, \
            before_window.output
    finally:
        settings.remote(endpoint, before)
        ddb.delete_table(TableName=table)
