"""Schema contracts: each mode judged on a batch with exactly the columns that changed, and on one without changes."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ops.errors import UsageError
from ops.etl import contract
from ops.etl.types import arrow_type

DECLARED = {"id": "bigint", "qty": "int", "status": "string", "total": "decimal(12,2)", "created_at": "timestamp"}
PUBLISHED = pa.schema([(name, arrow_type(t)) for name, t in DECLARED.items()])


def batch(drop: tuple[str, ...] = (), retype: dict | None = None, add: dict | None = None) -> pa.Schema:
    """The declared schema with columns dropped, retyped (name -> Arrow type) or added (name -> Arrow type)."""
    fields = [pa.field(f.name, (retype or {}).get(f.name, f.type)) for f in PUBLISHED if f.name not in drop]
    return pa.schema(fields + [pa.field(n, t) for n, t in (add or {}).items()])


@pytest.mark.parametrize("mode", contract.MODES)
def test_the_declared_columns_pass_every_mode_in_any_order(mode) -> None:
    result = contract.check(DECLARED, pa.schema(list(reversed(list(PUBLISHED)))), mode)
    assert (result.verdict, result.added, result.dropped, result.retyped) == ("pass", (), (), ())
    assert result.schema_to_publish == PUBLISHED
    assert result.message == f"{mode}: the batch's columns are the declared ones"


@pytest.mark.parametrize("mode", contract.MODES)
def test_equivalent_spellings_are_not_a_change(mode) -> None:
    actual = batch(retype={"status": pa.large_string(), "created_at": pa.timestamp("us", tz="+00:00")})
    assert contract.check(DECLARED, actual, mode).passed


@pytest.mark.parametrize("mode", contract.MODES)
def test_dropped_declared_columns_fail_every_mode(mode) -> None:
    result = contract.check(DECLARED, batch(drop=("status", "total")), mode)
    assert (result.verdict, result.dropped, result.schema_to_publish) == ("fail", ("status", "total"), None)
    assert result.message == f"{mode}: declared columns dropped: status, total"


@pytest.mark.parametrize("mode", contract.MODES)
@pytest.mark.parametrize("column, actual", [("status", pa.int64()), ("total", pa.decimal128(14, 2)),
                                            ("created_at", pa.timestamp("us")),  # no zone: not UTC
                                            ("created_at", pa.timestamp("ns", tz="UTC")), ("id", pa.int32())])
def test_retyped_declared_columns_fail_every_mode(mode, column, actual) -> None:
    result = contract.check(DECLARED, batch(retype={column: actual}), mode)
    assert result.verdict == "fail" and result.schema_to_publish is None
    assert result.retyped == ((column, str(PUBLISHED.field(column).type), str(actual)),)


def test_evolve_publishes_added_columns_after_the_declared_ones() -> None:
    added = {"coupon": pa.string(), "discount": pa.decimal128(5, 2)}
    result = contract.check(DECLARED, batch(add=added), "evolve")
    assert (result.verdict, result.added, result.discarded) == ("pass", ("coupon", "discount"), ())
    assert result.schema_to_publish == pa.schema(list(PUBLISHED) + [pa.field(n, t) for n, t in added.items()])
    assert result.message == "evolve: columns added: coupon, discount"
    assert [contract.declared_name(result.schema_to_publish.field(n).type) for n in added] == ["string", "decimal(5,2)"]


def test_evolve_refuses_an_added_column_the_lake_has_no_type_for() -> None:
    result = contract.check(DECLARED, batch(add={"tags": pa.list_(pa.string()), "note": pa.string()}), "evolve")
    assert result.verdict == "fail"
    assert result.message == "evolve: added columns of a type the lake does not declare: tags (list<item: string>)"


def test_evolve_refuses_an_added_column_differing_from_another_only_in_case() -> None:
    result = contract.check(DECLARED, batch(add={"Status": pa.string()}), "evolve")
    assert result.message == "evolve: added columns whose names differ from another only in case: Status"
    assert contract.check(DECLARED, batch(add={"Status": pa.string()}), "discard_columns").passed


def test_evolve_widens_int_to_bigint_and_freeze_and_discard_refuse_it() -> None:
    widened = contract.check(DECLARED, batch(retype={"qty": pa.int64()}), "evolve")
    assert (widened.verdict, widened.widened, widened.retyped) == ("pass", ("qty",), ())
    assert widened.schema_to_publish.field("qty").type == pa.int64()
    assert widened.message == "evolve: widened int -> bigint: qty"
    for mode in ("freeze", "discard_columns"):
        refused = contract.check(DECLARED, batch(retype={"qty": pa.int64()}), mode)
        assert (refused.verdict, refused.retyped) == ("fail", (("qty", "int32", "int64"),))


def test_freeze_fails_on_an_added_column() -> None:
    result = contract.check(DECLARED, batch(add={"coupon": pa.string()}), "freeze")
    assert (result.verdict, result.added) == ("fail", ("coupon",))
    assert result.message == "freeze: columns not declared: coupon"


def test_discard_columns_drops_and_reports_the_columns_not_declared() -> None:
    schema = batch(add={"coupon": pa.string(), "ssn": pa.string()})
    result = contract.check(DECLARED, schema, "discard_columns")
    assert (result.verdict, result.discarded, result.schema_to_publish) == ("pass", ("coupon", "ssn"), PUBLISHED)
    assert result.message == "discard_columns: columns not declared, discarded: coupon, ssn"
    table = pa.Table.from_pylist([{"id": 1, "qty": 2, "status": "new", "total": None, "created_at": None,
                                   "coupon": "X", "ssn": "123"}], schema=schema)
    published = contract.conform(table, result)
    assert published.schema == PUBLISHED and published.column("id").to_pylist() == [1]


def test_conform_casts_a_widened_column_and_refuses_a_failed_contract() -> None:
    schema = batch(retype={"qty": pa.int64()}, add={"coupon": pa.string()})
    table = pa.Table.from_pylist([{"id": 1, "qty": 2**40, "status": "a", "total": None, "created_at": None,
                                   "coupon": "Y"}], schema=schema)
    published = contract.conform(table, contract.check(DECLARED, schema, "evolve"))
    assert published.column("qty").to_pylist() == [2**40] and published.column_names[-1] == "coupon"
    with pytest.raises(UsageError, match="schema contract freeze failed: freeze: declared columns retyped: qty int32 -> int64; columns not declared: coupon"):
        contract.conform(table, contract.check(DECLARED, schema, "freeze"))


def test_duplicate_columns_in_the_batch_fail() -> None:
    result = contract.check(DECLARED, pa.schema(list(PUBLISHED) + [pa.field("id", pa.int64())]), "evolve")
    assert result.verdict == "fail" and result.message == "evolve: the batch has duplicate columns id"


@pytest.mark.parametrize("declared, mode, message", [
    (DECLARED, "strict", "schema contract 'strict': unknown mode (known: evolve, freeze, discard_columns)"),
    ({}, "evolve", "schema contract: no columns declared"),
    ({"id": "integer"}, "freeze", "unknown column type 'integer'"),
    ({"x": "decimal(40,2)"}, "freeze", "column type 'decimal(40,2)': decimal(P,S) needs 1 <= P <= 38"),
])
def test_bad_contract_input_is_one_clear_error(declared, mode, message) -> None:
    with pytest.raises(UsageError) as caught:
        contract.check(declared, PUBLISHED, mode)
    assert str(caught.value).startswith(message)
