"""Data-quality rules on DuckDB: each rule caught on a batch with exactly K bad rows and quiet on the same batch without them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest

from ops.errors import UsageError
from ops.etl import contract, quality
from ops.etl.types import arrow_type

T = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
N = 1000
BAD = [17, 230, 231, 499, 640, 888, 999]  # the K rows a negative control spoils
K = len(BAD)
SCHEMAS = {
    "orders": {"id": "bigint", "customer_id": "bigint", "status": "string", "amount": "double",
               "total": "decimal(12,2)", "created_at": "timestamp"},
    "customers": {"id": "bigint", "name": "string"},
}
KEY = {"orders": ["id"], "customers": ["id"]}


def orders(n: int = N, **columns: list) -> pa.Table:
    """n clean orders (ids 1..n); a keyword replaces a column's values."""
    data = {
        "id": list(range(1, n + 1)),
        "customer_id": [i % 50 + 1 for i in range(n)],
        "status": [("new", "paid", "shipped")[i % 3] for i in range(n)],
        "amount": [float(i % 500) + 0.5 for i in range(n)],
        "total": [Decimal(i % 900) / 4 for i in range(n)],
        "created_at": [T - timedelta(minutes=i + 1) for i in range(n)],
    }
    data.update(columns)
    types = {c: arrow_type(t) for c, t in SCHEMAS["orders"].items()}
    return pa.table({c: pa.array(v, types[c]) for c, v in data.items()})


def customers(n: int = 50) -> pa.Table:
    return pa.table({"id": pa.array(range(1, n + 1), pa.int64()), "name": [f"c{i}" for i in range(1, n + 1)]})


def spoiled(column: str, value, rows: list[int] = BAD) -> pa.Table:
    """Clean orders with `value` in `column` of the given ids."""
    values = orders().column(column).to_pylist()
    for i in rows:
        values[i - 1] = value
    return orders(**{column: values})


def run(rules: dict, batch: dict[str, pa.Table] | None = None, counts: dict | None = None, at: datetime = T,
        max_keys: int = 20, schemas: dict = SCHEMAS) -> list[quality.RuleResult]:
    batch = {"orders": orders(), "customers": customers()} if batch is None else batch
    counts = {name: t.num_rows for name, t in batch.items()} if counts is None else counts
    return quality.evaluate(duckdb.connect(), batch, quality.parse_rules(rules, schemas), KEY, at, counts, max_keys)


def one(results: list[quality.RuleResult], rule: str, table: str = "orders") -> quality.RuleResult:
    (found,) = [r for r in results if r.rule == rule and r.table == table]
    return found


def assert_caught(result: quality.RuleResult, ids: list[int] = BAD) -> None:
    assert result.not_measured is None
    assert (result.checked, result.failing) == (N, len(ids))
    assert result.failing_keys == tuple((i,) for i in sorted(ids))
    assert result.pass_rate == (N - len(ids)) / N


def assert_clean(result: quality.RuleResult) -> None:
    assert (result.checked, result.failing, result.failing_keys, result.pass_rate) == (N, 0, (), 1.0)


# --- each rule: caught with K bad rows, quiet without them ---------------------------------------------------


@pytest.mark.parametrize("rule, declared, column, bad_value", [
    ("not_null", {"not_null": ["customer_id"]}, "customer_id", None),
    ("not_null", {"not_null": ["amount"]}, "amount", float("nan")),  # a NaN is not a number that was measured
    ("accepted_values", {"accepted_values": {"status": ["new", "paid", "shipped"]}}, "status", "lost"),
    ("accepted_values", {"accepted_values": {"amount": [float(i) + 0.5 for i in range(500)]}}, "amount", float("nan")),
    ("range", {"ranges": {"amount": [0, 499.5]}}, "amount", -0.01),
    ("range", {"ranges": {"amount": [0, 499.5]}}, "amount", 499.51),
    ("range", {"ranges": {"amount": {"min": 0}}}, "amount", float("nan")),  # NaN >= 0 is true in DuckDB
    ("range", {"ranges": {"amount": {"min": 0}}}, "amount", float("inf")),
    ("range", {"ranges": {"amount": {"max": 1e307}}}, "amount", 1e308),
    ("range", {"ranges": {"total": {"max": 224.75}}}, "total", Decimal("224.76")),
    ("range", {"ranges": {"created_at": {"min": "2026-02-01T00:00:00+00:00"}}}, "created_at",
     datetime(2026, 1, 31, 23, 59, 59, tzinfo=timezone.utc)),
])
def test_row_rule_counts_exactly_the_bad_rows_and_passes_without_them(rule, declared, column, bad_value) -> None:
    assert_clean(one(run({"orders": declared}), rule))
    results = run({"orders": declared}, {"orders": spoiled(column, bad_value), "customers": customers()})
    assert_caught(one(results, rule))
    assert_caught(one(results, "valid"))


def test_huge_integers_are_compared_exactly() -> None:
    top = 2**63 - 1
    declared = {"orders": {"ranges": {"customer_id": {"max": top - 1}}}}
    assert_caught(one(run(declared, {"orders": spoiled("customer_id", top)}), "range"))
    assert_clean(one(run(declared, {"orders": spoiled("customer_id", top - 1)}), "range"))


def test_null_fails_not_null_only() -> None:
    declared = {"orders": {"not_null": ["status", "amount"], "accepted_values": {"status": ["new", "paid", "shipped"]},
                           "ranges": {"amount": [0, 10]}}}
    batch = {"orders": orders(status=[None] * K + ["new"] * (N - K), amount=[None] * K + [1.0] * (N - K))}
    results = run(declared, batch)
    assert [r.failing for r in results if r.rule == "not_null"] == [K, K]
    assert one(results, "accepted_values").failing == 0
    assert one(results, "range").failing == 0


def test_unique_counts_rows_beyond_the_first_of_each_key() -> None:
    assert_clean(one(run({"orders": {"unique": ["id"]}}), "unique"))
    ids = list(range(1, N + 1))
    for i in BAD:
        ids[i - 1] = i - 10  # each bad row repeats the id of a good row
    result = one(run({"orders": {"unique": ["id"]}}, {"orders": orders(id=ids)}), "unique")
    assert (result.failing, result.pass_rate) == (K, (N - K) / N)
    assert result.failing_keys == tuple((i - 10,) for i in BAD)


def test_unique_composite_key_and_nulls_left_to_not_null() -> None:
    declared = {"orders": {"unique": ["customer_id", "status"]}}
    # customer_id cycles every 50 rows and status every 3: a pair repeats every 150 rows.
    result = one(run(declared), "unique")
    assert result.failing == N - 150
    nulls = spoiled("customer_id", None, rows=list(range(1, N + 1)))
    assert one(run(declared, {"orders": nulls}), "unique").failing == 0


def test_references_count_orphans_and_need_the_other_table_in_the_batch() -> None:
    declared = {"orders": {"references": {"customer_id": "customers.id"}}}
    assert_clean(one(run(declared), "references"))
    assert_caught(one(run(declared, {"orders": spoiled("customer_id", 51), "customers": customers()}), "references"))
    # A NULL reference is not an orphan (not_null judges it).
    assert_clean(one(run(declared, {"orders": spoiled("customer_id", None), "customers": customers()}), "references"))
    absent = one(run(declared, {"orders": orders()}), "references")
    assert absent.not_measured == "referenced table customers is not in the batch"
    assert absent.pass_rate is None


def test_freshness_judges_the_newest_value_at_or_before_t() -> None:
    declared = {"orders": {"freshness": {"column": "created_at", "max_age_hours": 2}}}
    fresh = one(run(declared), "freshness")
    assert fresh.value == pytest.approx(1 / 60) and fresh.limit == 2
    stale_at = T + timedelta(hours=3)
    stale = one(run(declared, at=stale_at), "freshness")
    assert stale.value == pytest.approx(3 + 1 / 60)
    assert "freshness(created_at)" in quality.verdict(run(declared, at=stale_at)).failed[0]
    # A value from the future (a broken clock, year 9999) must not make a stale batch look fresh.
    future = spoiled("created_at", datetime(9999, 1, 1, tzinfo=timezone.utc))
    stale = one(run(declared, {"orders": future}, at=stale_at), "freshness")
    assert stale.value == pytest.approx(3 + 1 / 60)
    assert stale.checked == N - K and f"{K:,} values after T not counted" in stale.detail


def test_freshness_of_a_date_column_counts_from_the_start_of_its_day() -> None:
    schemas = {"days": {"id": "bigint", "day": "date"}}
    batch = {"days": pa.table({"id": pa.array([1, 2], pa.int64()),
                               "day": pa.array([T.date() - timedelta(days=2), T.date()], pa.date32())})}
    results = quality.evaluate(duckdb.connect(), batch, quality.parse_rules(
        {"days": {"freshness": {"column": "day", "max_age_hours": 11}}}, schemas), {"days": ["id"]}, T, {"days": 2})
    assert one(results, "freshness", "days").value == pytest.approx(12.0)  # T is 12:00 on the newest day
    assert quality.verdict(results).status == "fail"


@pytest.mark.parametrize("published, source, status", [(95, 100, "pass"), (94, 100, "fail"), (101, 100, "fail"),
                                                       (3, 0, "fail")])
def test_completeness_against_the_source_count(published, source, status) -> None:
    batch = {"customers": customers(published)}
    results = run({}, batch, {"customers": source})
    result = one(results, "completeness", "customers")
    assert result.value == (published / source if source else None)
    assert quality.verdict(results).status == status


def test_completeness_without_a_source_count_is_not_measured() -> None:
    results = run({}, {"customers": customers()}, {})
    assert one(results, "completeness", "customers").not_measured == "no source count for customers"
    assert quality.verdict(results).status == "inconclusive"


def test_a_ruled_table_missing_from_the_batch_fails_completeness_and_is_not_measured() -> None:
    results = run({"orders": {"not_null": ["id"]}}, {"customers": customers()}, {"orders": N, "customers": 50})
    assert one(results, "not_null").not_measured == "table orders is not in the batch"
    outcome = quality.verdict(results)
    assert outcome.status == "fail"
    assert any("orders.completeness: 0 of 1,000 source rows published (0.00%)" in line for line in outcome.failed)


def test_zero_rows_have_no_pass_rate_and_never_pass() -> None:
    declared = {"orders": {"not_null": ["id"], "unique": ["id"], "freshness": {"column": "created_at", "max_age_hours": 1}}}
    results = run(declared, {"orders": orders(0)}, {"orders": 0})
    assert all(r.pass_rate is None and r.not_measured for r in results)
    outcome = quality.verdict(results)
    assert outcome.status == "inconclusive"
    assert "orders.not_null(id): not measured: table orders has 0 rows" in outcome.not_measured
    assert "orders.completeness: not measured: orders has 0 rows at the source" in outcome.not_measured


def test_nothing_checked_is_inconclusive() -> None:
    assert quality.verdict([]).status == "inconclusive"


# --- the verdict ---------------------------------------------------------------------------------------------


ROW_RULES = {"orders": {"not_null": ["customer_id"], "ranges": {"amount": [0, 499.5]}}}


def test_valid_share_counts_records_failing_any_rule_not_an_average() -> None:
    # 6 records fail both rules: 99.4 % of the records are valid.
    same = list(range(1, 7))
    amounts = orders().column("amount").to_pylist()
    ids = orders().column("customer_id").to_pylist()
    for i in same:
        amounts[i - 1], ids[i - 1] = -1.0, None
    results = run(ROW_RULES, {"orders": orders(amount=amounts, customer_id=ids)})
    assert one(results, "valid").failing == 6
    assert quality.verdict(results).status == "pass"
    # 6 records fail each rule, 12 in all: 98.8 % valid, below 99 % though each rule alone passes 99.4 %.
    amounts = orders().column("amount").to_pylist()
    for i in range(7, 13):
        amounts[i - 1] = -1.0
    results = run(ROW_RULES, {"orders": orders(amount=amounts, customer_id=ids)})
    assert [one(results, r).pass_rate for r in ("not_null", "range")] == [0.994, 0.994]
    assert one(results, "valid").failing == 12
    outcome = quality.verdict(results)
    assert outcome.status == "fail"
    assert outcome.failed == ("orders.valid(customer_id, amount): 98.80% of records pass every row rule "
                              "(988 of 1,000), below 99.00%; failing rows by rule: not_null(customer_id) 6, "
                              "range(amount) 6; first failing keys id=1, id=2, id=3, id=4, id=5 and 7 more",)


def test_verdict_passes_a_clean_batch_and_names_each_failed_rule_with_figures() -> None:
    declared = {"orders": {**ROW_RULES["orders"], "unique": ["id"], "references": {"customer_id": "customers.id"},
                           "freshness": {"column": "created_at", "max_age_hours": 24}}}
    clean = quality.verdict(run(declared))
    assert (clean.status, clean.failed, clean.not_measured) == ("pass", (), ())
    results = run(declared, {"orders": spoiled("customer_id", 77), "customers": customers()})
    assert quality.verdict(results).failed == (
        "orders.references(customer_id): 7 of 1,000 rows reference no customers.id; first failing keys "
        "id=17, id=230, id=231, id=499, id=640 and 2 more",)
    strict = quality.verdict(run(declared, {"orders": spoiled("amount", -5.0), "customers": customers()}), min_valid=1)
    assert strict.status == "fail" and "range(amount) 7" in strict.failed[0]


def test_a_failed_schema_contract_fails_the_verdict() -> None:
    broken = contract.check({"id": "bigint", "name": "string"}, pa.schema([("id", pa.int64())]), "evolve")
    outcome = quality.verdict(run({}), contracts={"customers": broken})
    assert outcome.failed == ("customers.schema: evolve: declared columns dropped: name",)


def test_failing_keys_are_only_the_key_columns_and_at_most_max_keys() -> None:
    declared = {"orders": {"not_null": ["status"]}}
    result = one(run(declared, {"orders": spoiled("status", None)}, max_keys=3), "not_null")
    assert result.failing == K
    assert result.key_columns == ("id",) and result.failing_keys == ((17,), (230,), (231,))
    results = quality.evaluate(duckdb.connect(), {"orders": spoiled("status", None)},
                               quality.parse_rules(declared, SCHEMAS), {"orders": ["customer_id", "id"]}, T, {}, 2)
    assert one(results, "not_null").failing_keys == ((17, 17), (30, 230))  # ordered by the key: (customer_id, id)


def test_evaluate_leaves_the_connection_as_it_found_it_and_loads_no_extension() -> None:
    con = duckdb.connect()
    builtin = set(con.sql("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall())
    quality.evaluate(con, {"orders": orders(), "customers": customers()}, quality.parse_rules(
        {"orders": {"not_null": ["id"], "references": {"customer_id": "customers.id"}}}, SCHEMAS), KEY, T, {})
    assert con.sql("SHOW TABLES").fetchall() == []
    assert set(con.sql("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()) == builtin


def test_evaluate_refuses_a_naive_time_and_missing_keys() -> None:
    rules = quality.parse_rules({"orders": {"not_null": ["id"]}}, SCHEMAS)
    with pytest.raises(UsageError, match="time zone"):
        quality.evaluate(duckdb.connect(), {"orders": orders()}, rules, KEY, T.replace(tzinfo=None), {})
    with pytest.raises(UsageError, match="orders: no key columns"):
        quality.evaluate(duckdb.connect(), {"orders": orders()}, rules, {}, T, {})
    with pytest.raises(UsageError, match="source count of orders"):
        quality.evaluate(duckdb.connect(), {"orders": orders()}, rules, KEY, T, {"orders": -1})


# --- declarations -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("declared, message", [
    ({"orders": {"not_nul": ["id"]}}, "rules.orders.not_nul: unknown rule"),
    ({"order": {"not_null": ["id"]}}, "rules.order: no such table"),
    ({"orders": {"not_null": ["idd"]}}, "rules.orders.not_null: unknown column 'idd'"),
    ({"orders": {"unique": "id"}}, "rules.orders.unique: a list of column names expected"),
    ({"orders": {"accepted_values": {"state": ["new"]}}}, "rules.orders.accepted_values: unknown column 'state'"),
    ({"orders": {"accepted_values": {"status": []}}}, "rules.orders.accepted_values.status: a non-empty list"),
    ({"orders": {"accepted_values": {"customer_id": ["7"]}}}, "rules.orders.accepted_values.customer_id: '7' is not a bigint"),
    ({"orders": {"ranges": {"amount": [10, 1]}}}, "rules.orders.ranges.amount: min 10.0 is above max 1.0"),
    ({"orders": {"ranges": {"amount": [0, float("nan")]}}}, "rules.orders.ranges.amount max: nan is not a finite number"),
    ({"orders": {"ranges": {"amount": ["0", 1]}}}, "rules.orders.ranges.amount min: '0' is not a double value"),
    ({"orders": {"ranges": {"amount": [0]}}}, "rules.orders.ranges.amount: [min, max] or"),
    ({"orders": {"ranges": {"amount": {}}}}, "rules.orders.ranges.amount: [min, max] or"),
    ({"orders": {"ranges": {"amount": {"low": 1}}}}, "rules.orders.ranges.amount: [min, max] or"),
    ({"orders": {"ranges": {"customer_id": [0, 1.5]}}}, "rules.orders.ranges.customer_id max: 1.5 is not a bigint"),
    ({"orders": {"ranges": {"customer_id": [True, 5]}}}, "rules.orders.ranges.customer_id min: True is not a bigint"),
    ({"orders": {"ranges": {"status": ["a", "z"]}}}, "rules.orders.ranges.status: a range needs a numeric"),
    ({"orders": {"ranges": {"created_at": {"min": "2026-01-01T00:00:00"}}}},
     "rules.orders.ranges.created_at min: 2026-01-01T00:00:00 needs a UTC offset"),
    ({"orders": {"ranges": {"wat": [0, 1]}}}, "rules.orders.ranges: unknown column 'wat'"),
    ({"orders": {"references": {"customer_id": "customers"}}}, "rules.orders.references.customer_id: \"other_table.column\""),
    ({"orders": {"references": {"customer_id": "clients.id"}}}, "rules.orders.references.customer_id: no such table 'clients'"),
    ({"orders": {"references": {"customer_id": "customers.uid"}}}, "rules.orders.references.customer_id: table customers has no column 'uid'"),
    ({"orders": {"references": {"status": "customers.id"}}}, "rules.orders.references.status: status is string but customers.id is bigint"),
    ({"orders": {"freshness": {"column": "amount", "max_age_hours": 1}}}, "rules.orders.freshness: column amount is double"),
    ({"orders": {"freshness": {"column": "created_at", "max_age_hours": 0}}}, "rules.orders.freshness: max_age_hours must be"),
    ({"orders": {"freshness": {"column": "created_at"}}}, "rules.orders.freshness: {column = ..., max_age_hours = ...}"),
    ({"orders": {"freshness": {"column": "gone", "max_age_hours": 1}}}, "rules.orders.freshness: unknown column 'gone'"),
])
def test_a_bad_declaration_is_one_error_naming_table_rule_and_column(declared, message) -> None:
    with pytest.raises(UsageError) as caught:
        quality.parse_rules(declared, SCHEMAS)
    assert str(caught.value).startswith(message)


def test_declarations_parse_toml_values() -> None:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    text = """
[orders]
not_null = ["id"]
unique = ["id"]
accepted_values = {status = ["new", "paid"]}
ranges = {amount = [0, 500], total = {min = 0.01}, created_at = {min = 2026-01-01T00:00:00Z}}
references = {customer_id = "customers.id"}
freshness = {column = "created_at", max_age_hours = 26}
"""
    (parsed,) = quality.parse_rules(tomllib.loads(text), SCHEMAS).values()
    assert parsed.ranges == (quality.Range("amount", 0.0, 500.0), quality.Range("total", Decimal("0.01"), None),
                             quality.Range("created_at", datetime(2026, 1, 1, tzinfo=timezone.utc), None))
    assert parsed.references == (quality.Reference("customer_id", "customers", "id", "bigint"),)
    assert parsed.freshness == quality.Freshness("created_at", 26.0)


def test_a_self_reference_and_an_empty_referenced_table() -> None:
    schemas = {"staff": {"id": "bigint", "manager_id": "bigint"}}
    rules = quality.parse_rules({"staff": {"references": {"manager_id": "staff.id"}}}, schemas)
    staff = pa.table({"id": pa.array([1, 2, 3, 4], pa.int64()), "manager_id": pa.array([None, 1, 9, 8], pa.int64())})
    result = one(quality.evaluate(duckdb.connect(), {"staff": staff}, rules, {"staff": ["id"]}, T, {}), "references", "staff")
    assert (result.failing, result.failing_keys) == (2, ((3,), (4,)))
    declared = {"orders": {"references": {"customer_id": "customers.id"}}}
    orphans = one(run(declared, {"orders": orders(), "customers": customers(0)}), "references")
    assert (orphans.failing, orphans.pass_rate) == (N, 0.0)


def test_a_column_dropped_or_retyped_in_the_batch_is_not_measured_and_a_widened_one_is() -> None:
    declared = {"orders": {"not_null": ["amount"], "ranges": {"amount": [0, 499.5]}, "unique": ["status"]}}
    dropped = orders().drop_columns(["status"])
    results = run(declared, {"orders": dropped})
    assert one(results, "unique").not_measured == "column orders.status is not in the batch"
    assert one(results, "range").failing == 0
    retyped = orders().set_column(3, "amount", pa.array([str(v) for v in range(N)]))
    results = run({"orders": {"not_null": ["amount"], "ranges": {"amount": [0, 499.5]}}}, {"orders": retyped})
    assert one(results, "range").not_measured == "column orders.amount is string in the batch, declared double"
    assert one(results, "valid").not_measured == "a row rule could not be measured"
    assert quality.verdict(results).status == "inconclusive"
    schemas = {"orders": {**SCHEMAS["orders"], "customer_id": "int"}}
    widened = run({"orders": {"ranges": {"customer_id": [1, 49]}}}, schemas=schemas)  # the batch's column is bigint
    assert one(widened, "range").failing == N // 50


def test_verdict_exit_codes_follow_the_status_set() -> None:
    assert quality.verdict(run({"orders": {"not_null": ["id"]}})).exit_code == 0
    assert quality.verdict(run({"orders": {"unique": ["customer_id"]}})).exit_code == 1
    assert quality.verdict(run({}, counts={})).exit_code == 4


def test_an_unknown_declared_column_type_is_named_with_its_table_and_column() -> None:
    with pytest.raises(UsageError, match=r"^rules.orders column amount: unknown column type 'float'"):
        quality.parse_rules({"orders": {}}, {"orders": {"amount": "float"}})


def test_rules_over_parquet_files_as_a_dataset_judge_as_over_the_loaded_table(tmp_path) -> None:
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    rules = {"orders": {"not_null": ["status"], "unique": ["id"], "references": {"customer_id": "customers.id"}}}
    bad = spoiled("status", None)
    for name, table in {"orders": bad, "customers": customers(40)}.items():  # customers 41..50 missing: orphans
        (tmp_path / name).mkdir()
        for i, start in enumerate(range(0, table.num_rows, 300)):  # several files, as a spool has
            pq.write_table(table.slice(start, 300), tmp_path / name / f"part-{i}.parquet")
    files = {name: pads.dataset(str(tmp_path / name), format="parquet") for name in ("orders", "customers")}
    loaded = {"orders": bad, "customers": customers(40)}
    counts = {"orders": N, "customers": 50}
    from_files = run(rules, files, counts)
    assert_caught(one(from_files, "not_null"))
    assert one(from_files, "references").failing == sum(1 for c in bad.column("customer_id").to_pylist() if c > 40)
    assert one(from_files, "completeness", "customers").value == 40 / 50
    assert from_files == run(rules, loaded, counts)
