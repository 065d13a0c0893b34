"""Dates and timestamps the lake cannot hold: their rows spooled by key as the extract flags them, judged by the
implicit row rule `representable` with the declared row rules (one such row reported, many fail the batch)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from ops.etl import quality, representable
from tests.unit.test_etl_quality import KEY, N, ROW_RULES, SCHEMAS, T, one, orders

RULES = {"orders": {"unique": ["id"]}}  # no declared row rule: `representable` alone makes the valid share


def replaced_rows(tmp_path: Path, by_column: dict[str, list[int]]) -> representable.Replaced:
    """The extract's spool of replaced rows for orders, fed batch by batch as the COPY stream gives them."""
    side = representable.Replaced(tmp_path / "orders.parquet", ("id",))
    batch = orders().to_batches()[0]
    for start in range(0, N, 300):
        part = batch.slice(start, 300)
        ids = part.column(0).to_pylist()
        flags = {c: pa.array([True if i in hit else (None if i % 97 == 0 else False) for i in ids]) for c, hit in by_column.items()}
        side.add(part, flags)
    side.close()
    return side


def evaluate(rules: dict, replaced: representable.Replaced, table: pa.Table | None = None) -> list[quality.RuleResult]:
    data = replaced.dataset()
    return quality.evaluate(duckdb.connect(), {"orders": orders() if table is None else table}, quality.parse_rules(rules, SCHEMAS),
                            KEY, T, {"orders": N}, replaced={"orders": data} if data is not None else {})


def test_the_spool_keeps_each_flagged_row_s_key_and_column_and_nothing_else(tmp_path: Path) -> None:
    side = replaced_rows(tmp_path, {"created_at": [5, 299, 300, 301, 1000], "status": [7]})
    assert side.counts == {"created_at": 5, "status": 1}
    rows = side.dataset().to_table().to_pylist()  # type: ignore[union-attr]
    assert sorted((r["id"], r[representable.COLUMN]) for r in rows) == [
        (5, "created_at"), (7, "status"), (299, "created_at"), (300, "created_at"), (301, "created_at"), (1000, "created_at")]
    assert replaced_rows(tmp_path / "none", {"created_at": []}).dataset() is None  # NULL flags (a NULL value) are not hits


def test_one_replaced_value_is_reported_by_key_and_the_batch_passes(tmp_path: Path) -> None:
    results = evaluate(RULES, replaced_rows(tmp_path, {"created_at": [640]}))
    rule = one(results, "representable")
    assert (rule.columns, rule.failing, rule.failing_keys) == (("created_at",), 1, ((640,),))
    assert one(results, "valid").failing == 1
    assert quality.verdict(results).status == "pass"
    assert {r.rule for r in evaluate(RULES, replaced_rows(tmp_path / "clean", {}))} == {"unique", "completeness"}


def test_many_replaced_values_fail_the_valid_share_naming_representable(tmp_path: Path) -> None:
    results = evaluate(RULES, replaced_rows(tmp_path, {"created_at": list(range(1, 21))}))
    outcome = quality.verdict(results)
    assert outcome.status == "fail"
    assert "98.00% of records pass every row rule" in outcome.failed[0], outcome.failed
    assert "representable(created_at) 20" in outcome.failed[0] and "id=1, id=2" in outcome.failed[0], outcome.failed


def test_a_row_failing_representable_and_a_declared_rule_counts_once_in_the_valid_share(tmp_path: Path) -> None:
    ids = orders().column("customer_id").to_pylist()
    for i in (1, 2, 3):
        ids[i - 1] = None
    results = evaluate(ROW_RULES, replaced_rows(tmp_path, {"created_at": [2, 3, 4], "status": [4]}), orders(customer_id=ids))
    assert [r.failing for r in results if r.rule == "representable"] == [3, 1]
    assert one(results, "not_null").failing == 3
    assert one(results, "valid").failing == 4  # ids 1-4: rows, not rule failures


def test_the_manifests_record_of_replaced_values_judges_representable_again_as_the_run_did(tmp_path: Path) -> None:
    """`etl check` has no extract spool: the count and keys a manifest records at publish give the same
    representable(COLUMN) and valid results as the run's spool."""
    import json

    from ops.etl.check import with_unrecorded

    side = replaced_rows(tmp_path, {"created_at": [640, 5, 77], "status": [5]})
    record = json.loads(json.dumps(representable.recorded(side)))  # as the manifest holds it
    assert record == {"created_at": {"count": 3, "keys": [[5], [77], [640]]}, "status": {"count": 1, "keys": [[5]]}}
    kept = representable.recorded_keys(record, orders().schema, ("id",))
    again = quality.evaluate(duckdb.connect(), {"orders": orders()}, quality.parse_rules(RULES, SCHEMAS), KEY, T, {"orders": N},
                             replaced={"orders": kept})
    at_run = evaluate(RULES, side)
    assert [r.as_report() for r in again] == [r.as_report() for r in at_run]
    assert [(r.columns, r.failing) for r in again if r.rule == "representable"] == [(("created_at",), 3), (("status",), 1)]
    assert with_unrecorded(again, {}) == again
    # Negative control: without the record (a manifest of before), the rule is not reported at all.
    plain = quality.evaluate(duckdb.connect(), {"orders": orders()}, quality.parse_rules(RULES, SCHEMAS), KEY, T, {"orders": N})
    assert not [r for r in plain if r.rule == "representable"]


def test_more_replaced_values_than_keys_kept_fail_representable_by_count_and_leave_valid_unmeasured(tmp_path: Path) -> None:
    from ops.etl.check import with_unrecorded

    side = replaced_rows(tmp_path, {"created_at": list(range(1, 31))})
    record = representable.recorded(side, limit=10)
    assert record["created_at"]["count"] == 30 and record["created_at"]["keys"] == [[i] for i in range(1, 11)]
    kept = representable.recorded_keys(record, orders().schema, ("id",))
    results = quality.evaluate(duckdb.connect(), {"orders": orders()}, quality.parse_rules(RULES, SCHEMAS), KEY, T, {"orders": N},
                               replaced={"orders": kept})
    judged = with_unrecorded(results, {"orders": {"created_at": (30, 10)}})
    rule = one(judged, "representable")
    assert (rule.failing, len(rule.failing_keys)) == (30, 10) and "30 values replaced at publish" in rule.detail
    valid = one(judged, "valid")
    assert valid.failing is None and valid.not_measured == "created_at: 30 values replaced at publish, the keys of only 10 kept"
    assert quality.verdict(judged).status != "pass"  # never a pass on what was not measured
