"""A pipeline's declaration as dbops.toml gives it: the partition grain and what a mistake in it says."""

from __future__ import annotations

from typing import Any

import pytest

from ops.errors import UsageError
from ops.etl import config


def declared(**orders: Any) -> dict[str, Any]:
    table = {"source": "localpg:lab-pg", "from": "orders.orders", "key": ["id"],
             "columns": {"id": "bigint", "status": "string", "created_at": "timestamp", "day": "date"}, **orders}
    return {"destination": {"bucket": "dbops-lab-lake", "prefix": "lake/orders", "database": "dbops_lab_lake"},
            "tables": {"orders": table}}


@pytest.mark.parametrize(("partition", "grain", "column"), [
    ("created_at", None, "created_at_date"), ("created_at", "day", "created_at_date"),
    ("created_at", "month", "created_at_month"), ("day", None, "day"), ("day", "month", "day_month"),
    ("status", None, "status")])
def test_the_published_partition_column_follows_the_grain(partition: str, grain: str | None, column: str) -> None:
    spec = config.parse("p", declared(partition_by=partition, **({"partition_grain": grain} if grain else {})), "t").tables[0]
    assert spec.partition_column == column


def test_a_rule_may_name_the_month_column_the_grain_adds() -> None:
    rules = {"not_null": ["created_at_month"]}
    config.parse("p", declared(partition_by="created_at", partition_grain="month", rules=rules), "t")
    with pytest.raises(UsageError, match="created_at_month"):  # without the grain, there is no such column
        config.parse("p", declared(partition_by="created_at", rules=rules), "t")


@pytest.mark.parametrize(("orders", "message"), [
    ({"partition_by": "created_at", "partition_grain": "week"}, r"partition_grain must be one of day, month, got 'week'"),
    ({"partition_by": "status", "partition_grain": "month"}, "partition_grain is for a partition_by of a date or timestamp"),
    ({"partition_grain": "month"}, "partition_grain is for a partition_by of a date or timestamp")])
def test_a_grain_that_cannot_apply_is_one_line(orders: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        config.parse("p", declared(**orders), "t")
