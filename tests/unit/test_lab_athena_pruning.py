"""Which partitions the lab's Athena reads for a query: what its WHERE decides, and every partition
where pruning could drop a row (outer joins, ORs reaching data columns, unattributable columns)."""

from __future__ import annotations

import pytest
import sqlglot

from ops.lab.aws.athena_scan import GlueTable, Partition, matching_partitions, real_tables

DAYS = ("2024-01-01", "2024-01-02", "2024-01-03")
ORDERS = GlueTable("lake", "orders", "s3://b/orders/", (("id", "bigint"), ("region", "string")),
                   (("dt", "date"), ("shard", "int")),
                   tuple(Partition((d, str(s)), f"s3://b/orders/dt={d}/shard={s}/") for d in DAYS for s in (1, 2)))


def read(sql: str) -> set[tuple[str, ...]]:
    tree = sqlglot.parse_one(sql, read="athena")
    nodes = [t for t in real_tables(tree) if t.name == "orders"]
    return {p.values for p in matching_partitions(ORDERS, nodes)}


EVERY = {p.values for p in ORDERS.partitions}


@pytest.mark.parametrize("sql, days, shards", [
    ("SELECT * FROM orders WHERE dt = DATE '2024-01-02'", {"2024-01-02"}, {"1", "2"}),
    ("SELECT * FROM lake.orders o WHERE o.dt IN (DATE '2024-01-01', DATE '2024-01-03') AND o.shard = 2",
     {"2024-01-01", "2024-01-03"}, {"2"}),
    ("SELECT * FROM orders WHERE dt BETWEEN DATE '2024-01-02' AND DATE '2024-01-09' AND region = 'eu'",
     {"2024-01-02", "2024-01-03"}, {"1", "2"}),
    ("SELECT * FROM orders WHERE (dt > DATE '2024-01-02' OR shard = 1)", None, None),
    ("WITH recent AS (SELECT * FROM orders WHERE dt >= DATE '2024-01-03') SELECT count(*) FROM recent",
     {"2024-01-03"}, {"1", "2"}),
    ("SELECT * FROM orders a JOIN customers c ON a.id = c.id WHERE a.dt = DATE '2024-01-01'", {"2024-01-01"}, {"1", "2"}),
])
def test_a_where_on_partition_columns_reads_only_the_partitions_it_matches(sql: str, days: set[str] | None,
                                                                            shards: set[str] | None) -> None:
    if days is None:  # the OR is on partition columns only: still decidable
        assert read(sql) == {p for p in EVERY if p[0] > "2024-01-02" or p[1] == "1"}
    else:
        assert read(sql) == {p for p in EVERY if p[0] in days and p[1] in shards}


@pytest.mark.parametrize("sql", [
    "SELECT * FROM orders",
    "SELECT * FROM orders WHERE region = 'eu'",  # a data column: every partition may hold it
    "SELECT * FROM orders WHERE dt = DATE '2024-01-01' OR region = 'eu'",  # an OR reaching a data column
    "SELECT * FROM customers c LEFT JOIN orders o ON c.id = o.id WHERE o.dt = DATE '2024-01-01' OR o.dt IS NULL",
    "SELECT * FROM orders o JOIN customers c ON o.id = c.id WHERE dt = DATE '2024-01-01'",  # dt of which table?
    "SELECT * FROM orders WHERE dt = (SELECT max(dt) FROM orders)",  # a subquery
    "SELECT * FROM orders WHERE dt = DATE '2024-01-01' UNION ALL SELECT * FROM orders",  # the second reads all
])
def test_what_pruning_cannot_decide_reads_every_partition(sql: str) -> None:
    assert read(sql) == EVERY


def test_two_references_read_the_union_of_their_partitions() -> None:
    sql = ("SELECT * FROM orders WHERE dt = DATE '2024-01-01' "
           "UNION ALL SELECT * FROM orders WHERE dt = DATE '2024-01-03' AND shard = 1")
    assert read(sql) == {("2024-01-01", "1"), ("2024-01-01", "2"), ("2024-01-03", "1")}


def test_a_cte_name_is_not_a_catalog_table() -> None:
    tree = sqlglot.parse_one("WITH orders AS (SELECT 1 AS x) SELECT * FROM orders JOIN lake.orders o ON true",
                             read="athena")
    assert [(t.db, t.name) for t in real_tables(tree)] == [("lake", "orders")]


def test_hive_s_null_partition_is_pruned_as_null_not_cast_as_a_date() -> None:
    """A date partition holding NULL (the lake's folder for a value it could not hold) is matched by IS NULL and
    by nothing else; before, the cast of its folder name failed the whole query."""
    from ops.lab.aws.athena_scan import HIVE_NULL

    with_null = GlueTable("lake", "orders", "s3://b/orders/", (("id", "bigint"),), (("dt", "date"),),
                          (Partition(("2024-01-01",), "s3://b/orders/dt=2024-01-01/"),
                           Partition((HIVE_NULL,), f"s3://b/orders/dt={HIVE_NULL}/")))

    def reads(sql: str) -> list[tuple[str, ...]]:
        nodes = [t for t in real_tables(sqlglot.parse_one(sql, read="athena")) if t.name == "orders"]
        return [p.values for p in matching_partitions(with_null, nodes)]

    assert reads("SELECT * FROM orders WHERE dt = DATE '2024-01-01'") == [("2024-01-01",)]
    assert reads("SELECT * FROM orders WHERE dt IS NULL") == [(HIVE_NULL,)]
    assert reads("SELECT count(*) FROM orders") == [("2024-01-01",), (HIVE_NULL,)]
