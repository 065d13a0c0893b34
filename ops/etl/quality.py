"""Data-quality rules per table, evaluated in SQL on DuckDB over a batch's Arrow tables, and the batch verdict.

Rules are declared per table (``[pipelines.NAME.rules.TABLE]`` in dbops.toml)::

    not_null = ["id", "customer_id"]
    unique = ["id"]                                  # a key, possibly composite
    accepted_values = {status = ["new", "paid"]}
    ranges = {amount = [0, 10000], qty = {min = 1}}  # a bound may be absent (the table form)
    references = {customer_id = "customers.id"}      # another table of the same batch
    freshness = {column = "created_at", max_age_hours = 26}

and completeness (rows published / rows at the source) is measured for every table whose source
count is passed in. A NULL fails only not_null, as dbt's tests treat it; a NaN is never a valid
number (it fails not_null, ranges and accepted_values), an infinity fails every range.

A date or timestamp the lake cannot hold (infinity, BC, a year past 9999) is published as NULL and its row fails
the implicit row rule representable(COLUMN) (ops.etl.representable), present when such a value was replaced.

Row rules (not_null, accepted_values, ranges, representable) are judged together: a table passes when the share
of its records that pass every one of them is at least ``min_valid`` (records failing at least one,
not an average of rule rates). unique, references and freshness must hold outright; completeness
must reach ``min_complete`` and never exceed 1 (more rows published than the source had is a
duplicate). A table with 0 rows has no pass rates: "not measured", and the batch is inconclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping, Sequence

import pyarrow as pa

from ops.errors import EXIT_FAILED, EXIT_INCONCLUSIVE, EXIT_PASS, UsageError
from ops.etl import contract, duck, representable
from ops.etl.types import arrow_type

RULES = ("not_null", "unique", "accepted_values", "ranges", "references", "freshness")
ROW_RULES = ("not_null", "accepted_values", "range", representable.RULE)
ORDERED = ("int", "bigint", "double", "date", "timestamp")  # and decimal(P,S)
MAX_KEYS = 20


@dataclass(frozen=True)
class Range:
    column: str
    low: Any  # None: no lower bound
    high: Any  # None: no upper bound


@dataclass(frozen=True)
class Reference:
    column: str
    table: str
    other: str  # the referenced column of `table`
    other_type: str  # its declared type


@dataclass(frozen=True)
class Freshness:
    column: str
    max_age_hours: float


@dataclass(frozen=True)
class TableRules:
    """One table's validated rules, with its declared column types (the queries depend on them)."""

    table: str
    types: Mapping[str, str]
    not_null: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()
    accepted_values: tuple[tuple[str, tuple], ...] = ()
    ranges: tuple[Range, ...] = ()
    references: tuple[Reference, ...] = ()
    freshness: Freshness | None = None


@dataclass(frozen=True)
class RuleResult:
    """What one rule measured on one table. Only key columns of failing rows are kept, never other row data."""

    table: str
    rule: str  # not_null | unique | accepted_values | range | references | freshness | completeness | valid
    columns: tuple[str, ...]
    checked: int  # rows the rule looked at
    failing: int | None  # rows that failed it; None for a table rule (freshness, completeness)
    key_columns: tuple[str, ...] = ()
    failing_keys: tuple[tuple, ...] = ()  # up to max_keys, ordered by key
    value: float | None = None  # completeness: published / source; freshness: the newest value's age in hours
    limit: float | None = None  # freshness: the max age in hours
    not_measured: str | None = None  # why the rule could not be judged: never a pass
    detail: str = ""

    @property
    def pass_rate(self) -> float | None:
        """(checked - failing) / checked; None when not measured, for 0 rows, or for a table rule."""
        if self.not_measured or self.failing is None or self.checked == 0:
            return None
        return (self.checked - self.failing) / self.checked

    @property
    def name(self) -> str:
        return f"{self.table}.{self.rule}({', '.join(self.columns)})" if self.columns else f"{self.table}.{self.rule}"

    def as_report(self) -> dict[str, Any]:
        """The rule's result as a report holds it: failing rows by their keys only, as text."""
        return {"rule": self.name, "checked": self.checked, "failing": self.failing, "pass_rate": self.pass_rate,
                "not_measured": self.not_measured, "failing_keys": [list(map(str, k)) for k in self.failing_keys],
                "detail": self.detail}


@dataclass(frozen=True)
class Verdict:
    status: str  # pass | fail | inconclusive
    failed: tuple[str, ...]  # each failed rule, with its figures
    not_measured: tuple[str, ...]  # each rule that could not be judged, and why

    @property
    def exit_code(self) -> int:
        return {"pass": EXIT_PASS, "fail": EXIT_FAILED}.get(self.status, EXIT_INCONCLUSIVE)

    @property
    def message(self) -> str:
        lines = [f"data quality: {self.status}", *self.failed, *self.not_measured]
        return "\n".join(lines)


# --- declarations -------------------------------------------------------------------------------------------


def parse_rules(declared: Mapping[str, Any], schemas: Mapping[str, Mapping[str, str]],
                where: str = "rules") -> dict[str, TableRules]:
    """Validate rule declarations against the tables' declared columns; an error names table, rule and column."""
    if not isinstance(declared, Mapping):
        raise UsageError(f"{where}: a table of tables expected")
    parsed = {}
    for table, rules in declared.items():
        at = f"{where}.{table}"
        if table not in schemas:
            raise UsageError(f"{at}: no such table (declared: {', '.join(sorted(schemas)) or 'none'})")
        if not isinstance(rules, Mapping):
            raise UsageError(f"{at}: a table of rules expected")
        unknown = sorted(set(rules) - set(RULES))
        if unknown:
            raise UsageError(f"{at}.{unknown[0]}: unknown rule (known: {', '.join(RULES)})")
        types = {c: _type_name(f"{at} column {c}", t) for c, t in schemas[table].items()}
        parsed[table] = TableRules(
            table=table,
            types=types,
            not_null=_columns(f"{at}.not_null", rules.get("not_null", []), types),
            unique=_columns(f"{at}.unique", rules.get("unique", []), types),
            accepted_values=tuple(
                (col, _values(f"{at}.accepted_values.{col}", vals, types[col]))
                for col, vals in _per_column(f"{at}.accepted_values", rules.get("accepted_values", {}), types)),
            ranges=tuple(_range(f"{at}.ranges.{col}", col, spec, types[col])
                         for col, spec in _per_column(f"{at}.ranges", rules.get("ranges", {}), types)),
            references=tuple(_reference(f"{at}.references.{col}", col, target, types[col], schemas)
                             for col, target in _per_column(f"{at}.references", rules.get("references", {}), types)),
            freshness=_freshness(f"{at}.freshness", rules["freshness"], types) if "freshness" in rules else None,
        )
    return parsed


def _type_name(at: str, name: str) -> str:
    try:
        arrow_type(name)
    except UsageError as e:
        raise UsageError(f"{at}: {e}") from None
    return name.strip().lower()


def _columns(at: str, value: Any, types: Mapping[str, str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise UsageError(f"{at}: a list of column names expected")
    for col in value:
        _known(at, col, types)
    if len(set(value)) != len(value):
        raise UsageError(f"{at}: a column is listed twice")
    return tuple(value)


def _per_column(at: str, value: Any, types: Mapping[str, str]) -> list[tuple[str, Any]]:
    if not isinstance(value, Mapping):
        raise UsageError(f"{at}: a table of column = ... expected")
    for col in value:
        _known(at, col, types)
    return list(value.items())


def _known(at: str, col: str, types: Mapping[str, str]) -> None:
    if col not in types:
        raise UsageError(f"{at}: unknown column {col!r} (declared: {', '.join(types)})")


def _values(at: str, value: Any, type_name: str) -> tuple:
    if not isinstance(value, list) or not value:
        raise UsageError(f"{at}: a non-empty list of values expected")
    return tuple(_value(at, v, type_name) for v in value)


def _value(at: str, v: Any, type_name: str) -> Any:
    """A declared value in the Python type DuckDB binds as the column's type, or a UsageError."""
    bad = UsageError(f"{at}: {v!r} is not a {type_name} value")
    if type_name == "string":
        if isinstance(v, str):
            return v
    elif type_name == "boolean":
        if isinstance(v, bool):
            return v
    elif isinstance(v, bool):
        raise bad
    elif type_name in ("int", "bigint"):
        if isinstance(v, int):
            return v
    elif type_name == "double":
        if isinstance(v, (int, float)):
            if not math.isfinite(v):
                raise UsageError(f"{at}: {v!r} is not a finite number")
            return float(v)
    elif type_name.startswith("decimal"):
        if isinstance(v, (int, float, str)):
            try:
                d = Decimal(repr(v) if isinstance(v, float) else str(v))
            except InvalidOperation:
                raise bad from None
            if not d.is_finite() or len(d.as_tuple().digits) > 38:
                raise UsageError(f"{at}: {v!r} is not a finite decimal of at most 38 digits")
            return d
    elif type_name == "date":
        if isinstance(v, str):
            try:
                return date.fromisoformat(v)
            except ValueError:
                raise bad from None
        if isinstance(v, date) and not isinstance(v, datetime):
            return v
    elif type_name == "timestamp":
        if isinstance(v, str):
            try:
                v = datetime.fromisoformat(v)
            except ValueError:
                raise bad from None
        if isinstance(v, datetime):
            if v.tzinfo is None or v.utcoffset() is None:
                raise UsageError(f"{at}: {v.isoformat()} needs a UTC offset (timestamps are UTC)")
            return v.astimezone(timezone.utc)
    raise bad


def _range(at: str, col: str, spec: Any, type_name: str) -> Range:
    if type_name not in ORDERED and not type_name.startswith("decimal"):
        raise UsageError(f"{at}: a range needs a numeric, date or timestamp column, not {type_name}")
    if isinstance(spec, list) and len(spec) == 2:
        low, high = spec
    elif isinstance(spec, Mapping) and spec and set(spec) <= {"min", "max"}:
        low, high = spec.get("min"), spec.get("max")
    else:
        raise UsageError(f"{at}: [min, max] or {{min = ..., max = ...}} expected")
    low = None if low is None else _value(f"{at} min", low, type_name)
    high = None if high is None else _value(f"{at} max", high, type_name)
    if low is None and high is None:
        raise UsageError(f"{at}: a range needs at least one bound")
    if low is not None and high is not None and low > high:
        raise UsageError(f"{at}: min {low} is above max {high}")
    return Range(col, low, high)


def _reference(at: str, col: str, target: Any, type_name: str, schemas: Mapping[str, Mapping[str, str]]) -> Reference:
    table, _, other = target.partition(".") if isinstance(target, str) else ("", "", "")
    if not table or not other:
        raise UsageError(f"{at}: \"other_table.column\" expected, not {target!r}")
    if table not in schemas:
        raise UsageError(f"{at}: no such table {table!r} (declared: {', '.join(sorted(schemas))})")
    if other not in schemas[table]:
        raise UsageError(f"{at}: table {table} has no column {other!r}")
    other_type = schemas[table][other].strip().lower()
    integers = {"int", "bigint"}
    if other_type != type_name and not {other_type, type_name} <= integers:
        raise UsageError(f"{at}: {col} is {type_name} but {table}.{other} is {other_type}")
    return Reference(col, table, other, other_type)


def _freshness(at: str, spec: Any, types: Mapping[str, str]) -> Freshness:
    if not isinstance(spec, Mapping) or set(spec) != {"column", "max_age_hours"}:
        raise UsageError(f"{at}: {{column = ..., max_age_hours = ...}} expected")
    col, hours = spec["column"], spec["max_age_hours"]
    _known(at, col, types)
    if types[col] not in ("date", "timestamp"):
        raise UsageError(f"{at}: column {col} is {types[col]}; freshness needs a date or timestamp")
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours) or hours <= 0:
        raise UsageError(f"{at}: max_age_hours must be a positive number, not {hours!r}")
    return Freshness(col, float(hours))


def with_unique_key(rules: Mapping[str, Any], key: Sequence[str]) -> dict[str, Any]:
    """A table's rules with its key unique: the key is the rows' identity, declared or not as a rule."""
    out = dict(rules)
    if not out.get("unique"):
        out["unique"] = list(key)
    return out


# --- evaluation ---------------------------------------------------------------------------------------------

Data = Any  # a pyarrow.Table or a pyarrow.dataset.Dataset: what DuckDB can register and scan


def _rows(data: Data) -> int:
    """A table's rows; a dataset counts them from its files' metadata where it can, without reading the data."""
    return data.num_rows if isinstance(data, pa.Table) else data.count_rows()


def evaluate(con, tables: Mapping[str, Data], rules: Mapping[str, TableRules], key: Mapping[str, Sequence[str]],
             at: datetime, source_counts: Mapping[str, int], max_keys: int = MAX_KEYS,
             replaced: Mapping[str, Data] | None = None) -> list[RuleResult]:
    """Every rule of every table, one SQL query each on the DuckDB connection `con`, over the batch at time `at`.

    `rules` come from parse_rules; `tables` are the batch's tables (registered on `con` for the duration of the call): Arrow
    tables, or datasets (pyarrow.dataset, e.g. Parquet files) that DuckDB scans without loading them, `key` each ruled
    table's key columns (the only columns a failing row is reported by), `source_counts` the rows each
    table had at the source at `at`, `replaced` each table's rows whose value the extract published as NULL
    (ops.etl.representable: their key columns and the column's name), judged by the row rule `representable`.
    """
    if not isinstance(at, datetime) or at.utcoffset() is None:
        raise UsageError(f"the batch's point in time must carry a time zone, not {at!r}")
    if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
        raise UsageError(f"max_keys must be a positive integer, not {max_keys!r}")
    for table, count in source_counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise UsageError(f"source count of {table}: a non-negative integer expected, not {count!r}")
    for table in rules:
        cols = list(key.get(table) or ())
        if not cols:
            raise UsageError(f"{table}: no key columns to report failing rows by")
        if table in tables:
            missing = [c for c in cols if c not in tables[table].schema.names]
            if missing:
                raise UsageError(f"{table}: key column {missing[0]!r} is not in the batch")
    views = {name: f"__dbops_dq_{i}" for i, name in enumerate(sorted(set(tables) | set(rules)))}
    registered = []
    try:
        for name, table in tables.items():
            duck.register(con, views[name], table)
            registered.append(views[name])
        rows = {name: _rows(data) for name, data in tables.items()}
        batch = _Batch(con, tables, rows, views, key, max_keys)
        for i, (name, data) in enumerate(sorted((replaced or {}).items())):
            duck.register(con, f"__dbops_dq_replaced_{i}", data)
            registered.append(f"__dbops_dq_replaced_{i}")
            batch.replaced[name] = f"__dbops_dq_replaced_{i}"
        results = []
        for name in sorted(set(tables) | set(rules)):
            if name in rules:
                results += batch.table_rules(rules[name], at)
            results.append(_completeness(name, rows.get(name, 0), source_counts.get(name)))
        return results
    finally:
        for view in registered:
            duck.unregister(con, view)


class _Batch:
    """The registered tables of one evaluation and the queries run on them."""

    def __init__(self, con, tables: Mapping[str, Data], rows: Mapping[str, int], views: Mapping[str, str],
                 key: Mapping[str, Sequence[str]], max_keys: int) -> None:
        self.con, self.tables, self.rows, self.views, self.key, self.max_keys = con, tables, rows, views, key, max_keys
        self.replaced: dict[str, str] = {}  # table -> the view of its rows whose value was published as NULL

    def table_rules(self, r: TableRules, at: datetime) -> list[RuleResult]:
        name = r.table
        rows = self.rows.get(name, 0)
        keys = tuple(self.key[name])
        row_rules: list[tuple[str, tuple[str, ...], str, list]] = []  # (rule, columns, failing predicate, params)
        row_rules += [("not_null", (c,), *_not_null(c, r.types[c])) for c in r.not_null]
        row_rules += [("accepted_values", (c,), *_not_accepted(c, vals)) for c, vals in r.accepted_values]
        row_rules += [("range", (g.column,), *_out_of_range(g, r.types[g.column])) for g in r.ranges]
        row_rules += [(representable.RULE, (c,), *self._replaced(name, c)) for c in self._replaced_columns(name)]
        results = []

        def unmeasured(rule: str, cols: tuple[str, ...], why: str) -> RuleResult:
            return RuleResult(name, rule, cols, rows, None, keys, not_measured=why)

        measurable = []
        for rule, cols, pred, params in row_rules:
            why = self._gap(name, {c: r.types[c] for c in cols})
            if why:
                results.append(unmeasured(rule, cols, why))
            else:
                results.append(self._failing(name, rule, cols, pred, params, rows))
                measurable.append((pred, params))
        if row_rules:
            all_cols = tuple(dict.fromkeys(c for _, cols, _, _ in row_rules for c in cols))
            if len(measurable) < len(row_rules):
                why = self._gap(name, {}) or "a row rule could not be measured"
                results.append(unmeasured("valid", all_cols, why))
            else:
                pred = " OR ".join(f"({p})" for p, _ in measurable)
                params = [v for _, ps in measurable for v in ps]
                results.append(self._failing(name, "valid", all_cols, pred, params, rows))
        if r.unique:
            why = self._gap(name, {c: r.types[c] for c in r.unique})
            results.append(unmeasured("unique", r.unique, why) if why else self._duplicates(name, r.unique, rows))
        for ref in r.references:
            why = (self._gap(name, {ref.column: r.types[ref.column]})
                   or self._gap(ref.table, {ref.other: ref.other_type}, referenced=True))
            results.append(unmeasured("references", (ref.column,), why) if why else self._orphans(name, ref, rows))
        if r.freshness:
            f = r.freshness
            why = self._gap(name, {f.column: r.types[f.column]})
            results.append(unmeasured("freshness", (f.column,), why) if why
                           else self._freshness(name, f, r.types[f.column], at))
        return results

    def _replaced_columns(self, table: str) -> list[str]:
        if table not in self.replaced:
            return []
        found = self.con.sql(f"SELECT DISTINCT {_q(representable.COLUMN)} FROM {_q(self.replaced[table])} ORDER BY 1").fetchall()
        return [c for (c,) in found]

    def _replaced(self, table: str, column: str) -> tuple[str, list]:
        """The rows whose `column` the extract published as NULL, found by their keys in its list of them."""
        view, side = _q(self.views[table]), _q(self.replaced[table])
        same = " AND ".join(f"__dq_replaced.{_q(k)} = {view}.{_q(k)}" for k in self.key[table])
        return (f"EXISTS (SELECT 1 FROM {side} AS __dq_replaced WHERE __dq_replaced.{_q(representable.COLUMN)} = ? "
                f"AND {same})"), [column]

    def _gap(self, table: str, columns: Mapping[str, str], referenced: bool = False) -> str | None:
        """Why a rule on these columns cannot be measured on this batch (absent, empty, or not of the declared type)."""
        role = "referenced table" if referenced else "table"
        if table not in self.tables:
            return f"{role} {table} is not in the batch"
        data = self.tables[table]
        if self.rows[table] == 0 and not referenced:  # an empty referenced table is measured: every reference is an orphan
            return f"table {table} has 0 rows"
        for col, type_name in columns.items():
            if col not in data.schema.names:
                return f"column {table}.{col} is not in the batch"
            actual = data.schema.field(col).type
            if not contract.matches(type_name, actual):
                return f"column {table}.{col} is {actual} in the batch, declared {type_name}"
        return None

    def _failing(self, table: str, rule: str, cols: tuple[str, ...], pred: str, params: list, rows: int,
                 source: str | None = None) -> RuleResult:
        """Count the rows of `source` (default: the table) matching `pred`, and the first max_keys of their keys."""
        keys = tuple(self.key[table])
        key_sql = ", ".join(_q(k) for k in keys)
        sql = (f"SELECT count(*) OVER () AS __dq_failing, {key_sql} FROM {source or _q(self.views[table])} "
               f"WHERE {pred} ORDER BY {key_sql} LIMIT {self.max_keys}")
        found = self.con.sql(sql, params=params or None).to_arrow_table()
        failing = found.column(0)[0].as_py() if found.num_rows else 0
        listed = tuple(zip(*(found.column(i).to_pylist() for i in range(1, len(keys) + 1)))) if found.num_rows else ()
        return RuleResult(table, rule, cols, rows, failing, keys, listed,
                          detail=f"{failing:,} of {rows:,} rows fail")

    def _duplicates(self, table: str, cols: tuple[str, ...], rows: int) -> RuleResult:
        """Rows beyond the first of each unique-column value (rows with a NULL in them are not_null's to judge)."""
        keys_sql = ", ".join(_q(k) for k in self.key[table])
        part = ", ".join(_q(c) for c in cols)
        not_null = " AND ".join(f"{_q(c)} IS NOT NULL" for c in cols)
        ranked = (f"(SELECT *, row_number() OVER (PARTITION BY {part} ORDER BY {keys_sql}) AS __dq_rank "
                  f"FROM {_q(self.views[table])} WHERE {not_null})")
        return self._failing(table, "unique", cols, "__dq_rank > 1", [], rows, source=ranked)

    def _orphans(self, table: str, ref: Reference, rows: int) -> RuleResult:
        child, parent = _q(self.views[table]), _q(self.views[ref.table])
        pred = (f"{child}.{_q(ref.column)} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {parent} AS __dq_parent WHERE __dq_parent.{_q(ref.other)} = {child}.{_q(ref.column)})")
        result = self._failing(table, "references", (ref.column,), pred, [], rows)
        return replace(result, detail=f"{result.failing:,} of {rows:,} rows reference no {ref.table}.{ref.other}")

    def _freshness(self, table: str, f: Freshness, type_name: str, at: datetime) -> RuleResult:
        """The newest value at or before `at` (later ones cannot belong to a batch at `at`, so they never count)."""
        at_utc = at.astimezone(timezone.utc)
        bound = at_utc.date() if type_name == "date" else at_utc
        col = _q(f.column)
        sql = (f"SELECT max({col}) FILTER (WHERE {col} <= $1) AS newest, count({col}) FILTER (WHERE {col} <= $1), "
               f"count({col}) FILTER (WHERE {col} > $1) FROM {_q(self.views[table])}")
        newest, checked, later = self.con.sql(sql, params=[bound]).to_arrow_table().to_pylist()[0].values()
        keys = tuple(self.key[table])
        after = f"; {later:,} values after T not counted" if later else ""
        if newest is None:
            return RuleResult(table, "freshness", (f.column,), checked, None, keys, limit=f.max_age_hours,
                              not_measured=f"no {f.column} value at or before T{after}")
        if type_name == "date":
            newest = datetime(newest.year, newest.month, newest.day, tzinfo=timezone.utc)
        age = (at_utc - newest) / timedelta(hours=1)
        return RuleResult(table, "freshness", (f.column,), checked, None, keys, value=age, limit=f.max_age_hours,
                          detail=f"newest {f.column} {newest.isoformat()} is {age:.1f} h before T "
                                 f"(max {f.max_age_hours:g} h){after}")


def _completeness(table: str, published: int, source: int | None) -> RuleResult:
    if source is None:
        return RuleResult(table, "completeness", (), published, None, not_measured=f"no source count for {table}")
    if source == 0:
        if published == 0:
            return RuleResult(table, "completeness", (), 0, None, not_measured=f"{table} has 0 rows at the source")
        # No ratio exists; value None on a measured result is judged a failure (rows that cannot have come from it).
        return RuleResult(table, "completeness", (), published, None,
                          detail=f"{published:,} rows published but 0 at the source")
    ratio = published / source
    return RuleResult(table, "completeness", (), published, None, value=ratio,
                      detail=f"{published:,} of {source:,} source rows published ({ratio:.2%})")


def _not_null(col: str, type_name: str) -> tuple[str, list]:
    nan = f" OR isnan({_q(col)})" if type_name == "double" else ""
    return f"{_q(col)} IS NULL{nan}", []


def _not_accepted(col: str, values: tuple) -> tuple[str, list]:
    return f"{_q(col)} IS NOT NULL AND {_q(col)} NOT IN ({', '.join('?' for _ in values)})", list(values)


def _out_of_range(g: Range, type_name: str) -> tuple[str, list]:
    c = _q(g.column)
    tests, params = [f"NOT isfinite({c})"] if type_name == "double" else [], []
    if g.low is not None:
        tests.append(f"{c} < ?")
        params.append(g.low)
    if g.high is not None:
        tests.append(f"{c} > ?")
        params.append(g.high)
    return f"{c} IS NOT NULL AND ({' OR '.join(tests)})", params


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


# --- verdict ------------------------------------------------------------------------------------------------


def verdict(results: Sequence[RuleResult], min_valid: float = 0.99, min_complete: float = 0.95,
            contracts: Mapping[str, contract.ContractResult] | None = None) -> Verdict:
    """pass only when every table's valid share and completeness reach their thresholds and unique,
    references, freshness and the schema contracts hold; fail names each rule missed, with figures;
    inconclusive when nothing failed but something could not be measured (or nothing was checked)."""
    for label, threshold in (("min_valid", min_valid), ("min_complete", min_complete)):
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            raise UsageError(f"{label} must be a share between 0 and 1, not {threshold!r}")
    failed, unmeasured = [], []
    for table, contract in sorted((contracts or {}).items()):
        if not contract.passed:
            failed.append(f"{table}.schema: {contract.message}")
    by_table: dict[str, list[RuleResult]] = {}
    for r in results:
        by_table.setdefault(r.table, []).append(r)
    for r in results:
        if r.not_measured:
            unmeasured.append(f"{r.name}: not measured: {r.not_measured}")
            continue
        problem = _missed(r, min_valid, min_complete, by_table[r.table])
        if problem:
            failed.append(f"{r.name}: {problem}")
    if not results and not failed:
        unmeasured.append("nothing was checked")
    status = "fail" if failed else "inconclusive" if unmeasured else "pass"
    return Verdict(status, tuple(failed), tuple(unmeasured))


def _missed(r: RuleResult, min_valid: float, min_complete: float, siblings: list[RuleResult]) -> str | None:
    """Why a measured result misses its objective, with figures; None when it meets it (or is judged with others)."""
    keys = f"; first failing keys {_keys_text(r)}" if r.failing_keys else ""
    if r.rule == "valid" and r.pass_rate is not None and r.pass_rate < min_valid:
        culprits = ", ".join(f"{s.rule}({', '.join(s.columns)}) {s.failing:,}" for s in siblings
                             if s.rule in ROW_RULES and s.failing)
        return (f"{r.pass_rate:.2%} of records pass every row rule ({r.checked - r.failing:,} of {r.checked:,}), "
                f"below {min_valid:.2%}; failing rows by rule: {culprits}{keys}")
    if r.rule in ("unique", "references") and r.failing:
        return f"{r.detail}{keys}"
    if r.rule == "freshness" and r.value is not None and r.value > r.limit:
        return r.detail
    if r.rule == "completeness" and r.value is None:
        return f"{r.detail} (more than the source: duplicated rows)"
    if r.rule == "completeness" and not min_complete <= r.value <= 1:
        more = " (more than the source: duplicated rows)" if r.value > 1 else f", below {min_complete:.2%}"
        return f"{r.detail}{more}"
    return None


def _keys_text(r: RuleResult, shown: int = 5) -> str:
    """`id=3, id=7` (or `(region=eu, id=3)` for a composite key), the first `shown` of the listed keys."""
    texts = []
    for values in r.failing_keys[:shown]:
        pairs = [f"{c}={v}" for c, v in zip(r.key_columns, values)]
        texts.append(pairs[0] if len(pairs) == 1 else f"({', '.join(pairs)})")
    more = f" and {r.failing - shown:,} more" if r.failing and r.failing > shown else ""
    return ", ".join(texts) + more
