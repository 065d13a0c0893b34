"""What Glue serves compared with the published manifest: each kind of difference named, none on an exact match."""

from __future__ import annotations

from ops.etl import catalog, lake

PLACE = lake.Place("lake-bucket", "shop", "orders")
BATCH = "20260301T120000000000Z"
DATA = f"s3://lake-bucket/shop/orders/data/batch={BATCH}/"
COLUMNS = {"id": "bigint", "total_cents": "bigint", "created_at": "timestamp", "created_at_date": "date"}
DATA_COLUMNS = (("id", "bigint"), ("total_cents", "bigint"), ("created_at", "timestamp"))
MANIFEST = {"batch": BATCH, "partition": "created_at_date", "columns": COLUMNS, "files": [
    {"key": f"shop/orders/data/batch={BATCH}/created_at_date={d}/part-0.parquet"} for d in ("2026-01-01", "2026-01-02", "2026-01-03")]}


def glue(**changes: object) -> catalog.Served:
    """Glue as a publish of MANIFEST leaves it, with `changes`."""
    parts = {d: f"{DATA}created_at_date={d}/" for d in ("2026-01-01", "2026-01-02", "2026-01-03")}
    base = dict(location=DATA, batch=BATCH, partition_keys=("created_at_date",), partitions=parts,
                columns=(*DATA_COLUMNS, ("created_at_date", "date")), partition_columns={d: DATA_COLUMNS for d in parts})
    return catalog.Served(**{**base, **changes})  # type: ignore[arg-type]


def test_glue_as_published_has_no_difference() -> None:
    assert catalog.published(PLACE, MANIFEST) == glue()
    assert catalog.differences("orders", glue(), catalog.published(PLACE, MANIFEST)) == []


def test_a_missing_an_extra_and_a_moved_partition_are_each_named() -> None:
    want = catalog.published(PLACE, MANIFEST)
    parts = dict(glue().partitions)
    del parts["2026-01-02"]
    parts["2026-01-03"] = "s3://lake-bucket/shop/orders/data/batch=20250101T000000000000Z/created_at_date=2026-01-03/"
    parts["2030-01-01"] = f"{DATA}created_at_date=2030-01-01/"
    found = catalog.differences("orders", glue(partitions=parts), want)
    assert len(found) == 3, found
    assert "missing in Glue" in found[0] and "created_at_date=2026-01-02" in found[0]
    assert "does not have" in found[1] and "created_at_date=2030-01-01" in found[1]
    assert "pointed away" in found[2] and "batch=20250101T000000000000Z" in found[2]


def test_a_table_at_another_batch_or_absent_is_named() -> None:
    want = catalog.published(PLACE, MANIFEST)
    other = "s3://lake-bucket/shop/orders/data/batch=20250101T000000000000Z/"
    found = catalog.differences("orders", glue(location=other, batch="20250101T000000000000Z"), want)
    assert any("says batch 20250101T000000000000Z" in d for d in found) and any(other in d for d in found), found
    assert "Glue has no table orders" in catalog.differences("orders", None, want)[0]
    found = catalog.differences("orders", glue(partition_keys=(), partitions={}), want)
    assert found == ["orders: Glue's table is partitioned by nothing, the batch by created_at_date"]


def test_a_partition_value_escaped_in_its_path_is_compared_unescaped() -> None:
    """Hive escapes a value in the path ('a/b' as a%2Fb); Glue holds the value itself."""
    manifest = {"batch": BATCH, "partition": "region", "columns": {"id": "bigint", "region": "string"}, "files": [{"key": f"shop/orders/data/batch={BATCH}/region=a%2Fb/part-0.parquet"}]}
    want = catalog.published(PLACE, manifest)
    assert want.partitions == {"a/b": f"{DATA}region=a%2Fb/"}
    served = catalog.Served(DATA, BATCH, ("region",), {"a/b": f"{DATA}region=a%2Fb/"}, (("id", "bigint"), ("region", "string")),
                            {"a/b": (("id", "bigint"),)})
    assert catalog.differences("orders", served, want) == []


def test_a_column_of_another_type_missing_or_extra_in_glue_is_named_table_and_partition() -> None:
    want = catalog.published(PLACE, MANIFEST)
    # Glue holds names and types in any case, and its columns in any order: the same schema.
    same = glue(columns=(("created_at_date", "DATE"), ("ID", "BIGINT"), ("total_cents", "bigint"), ("created_at", "timestamp")))
    assert catalog.differences("orders", same, want) == []
    retyped = (("id", "bigint"), ("total_cents", "string"), ("created_at", "timestamp"))
    found = catalog.differences("orders", glue(columns=(*retyped, ("created_at_date", "date"))), want)
    assert found == ["orders: Glue's table columns differ from the batch's: total_cents is string, not bigint"]
    found = catalog.differences("orders", glue(columns=(("id", "bigint"), ("created_at", "timestamp"), ("note", "string"),
                                                        ("created_at_date", "string"))), want)
    assert found == ["orders: Glue's table columns differ from the batch's: created_at_date is string, not date, "
                     "total_cents (bigint) missing, note (string) not in the batch"]
    parts = dict(glue().partition_columns, **{"2026-01-02": retyped})
    found = catalog.differences("orders", glue(partition_columns=parts), want)
    assert found == ["orders: 1 partition(s) whose columns differ from the batch's: "
                     "created_at_date=2026-01-02: total_cents is string, not bigint"]
