"""Schema contracts: what a batch whose columns differ from the declared ones may publish.

The modes are named as dlt names them:

- ``evolve``: columns the source added are published too (after the declared ones, with their
  Arrow types, which must be one of the declared-type set); a declared column dropped or retyped
  fails. The one type change it allows is the widening ``int`` -> ``bigint``: Athena reads an INT
  Parquet column of an older partition as BIGINT (its table of compatible types lists only
  INT -> BIGINT and FLOAT -> DOUBLE, and float is not a declared type), so older partitions stay
  readable; the published column becomes bigint and the widening is reported.
- ``freeze``: any difference from the declared columns fails (added, dropped, retyped, widened).
- ``discard_columns``: columns not declared are dropped from what is published and reported;
  a declared column dropped or retyped fails (no widening: the published schema is the declared one).

A schemaless source (DynamoDB) has no column types to compare: its items are (``check_items``). A
declared attribute that no item of a non-empty full export carries (not even as NULL) is dropped; one
that some items carry as a DynamoDB type its declared type does not take (N in a string, S in a bigint)
is retyped, and the verdict names those items by their keys. Both fail in every mode, as a dropped or
retyped PostgreSQL column does: the batch is refused rather than published with the attribute's values
missing. An incremental export holds only the changed items, so it cannot show a drop; it shows a retype.
Against the previous published batch (its manifest's ``attribute_types``), an attribute now written as
another type its column still takes (a timestamp as S where it was N) fails ``freeze`` (any difference)
and is reported under ``evolve`` and ``discard_columns``.

Types are compared as Arrow types, the declared-type strings mapped by ``ops.etl.types.arrow_type``;
``large_string`` counts as ``string`` and a timestamp's UTC zone may be spelled "UTC", "+00:00" or
"Etc/UTC". Column order is not part of the contract; names are compared exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import pyarrow as pa

from ops.errors import UsageError
from ops.etl.types import arrow_type

MODES = ("evolve", "freeze", "discard_columns")
WIDENINGS = {(pa.int32(), pa.int64())}  # (declared, actual) pairs evolve publishes as the actual type
_UTC_NAMES = {"UTC", "+00:00", "Etc/UTC", "Z"}
_SAME = "the batch's columns are the declared ones"


@dataclass(frozen=True)
class ContractResult:
    """What a batch's schema did against its declared columns, and the schema to publish (None on a failure)."""

    mode: str
    added: tuple[str, ...]  # columns in the batch that are not declared
    dropped: tuple[str, ...]  # declared columns absent from the batch
    retyped: tuple[tuple[str, str, str], ...]  # (column, declared Arrow type, actual Arrow type)
    widened: tuple[str, ...]  # declared int columns published as bigint (evolve only)
    discarded: tuple[str, ...]  # added columns left out of what is published (discard_columns)
    verdict: str  # "pass" or "fail"
    message: str
    schema_to_publish: pa.Schema | None

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


def check(declared: Mapping[str, str], actual: pa.Schema, mode: str) -> ContractResult:
    """Judge a batch's Arrow schema against the declared columns under a contract mode."""
    if mode not in MODES:
        raise UsageError(f"schema contract {mode!r}: unknown mode (known: {', '.join(MODES)})")
    if not declared:
        raise UsageError("schema contract: no columns declared")
    wanted = {name: arrow_type(type_name) for name, type_name in declared.items()}
    names = list(actual.names)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        return _result(mode, (), (), (), (), (), [f"the batch has duplicate columns {', '.join(duplicates)}"], None)
    present = {field.name: field.type for field in actual}
    added = tuple(n for n in names if n not in wanted)
    dropped = tuple(n for n in wanted if n not in present)
    retyped, widened = [], []
    for name, want in wanted.items():
        if name not in present or _same(want, present[name]):
            continue
        if mode == "evolve" and (want, present[name]) in WIDENINGS:
            widened.append(name)
        else:
            retyped.append((name, str(want), str(present[name])))
    problems = []
    if dropped:
        problems.append(f"declared columns dropped: {', '.join(dropped)}")
    if retyped:
        problems.append("declared columns retyped: " + ", ".join(f"{n} {w} -> {a}" for n, w, a in retyped))
    if mode == "freeze" and added:
        problems.append(f"columns not declared: {', '.join(added)}")
    if mode == "evolve":
        unpublishable = [f"{n} ({present[n]})" for n in added if declared_name(present[n]) is None]
        if unpublishable:
            problems.append(f"added columns of a type the lake does not declare: {', '.join(unpublishable)}")
        # Glue and Athena fold names to lower case: "Status" beside "status" would be one column there.
        lowered = [n.lower() for n in names]
        clashing = [n for n in added if lowered.count(n.lower()) > 1]
        if clashing:
            problems.append(f"added columns whose names differ from another only in case: {', '.join(clashing)}")
    discarded = added if mode == "discard_columns" else ()
    schema = None
    if not problems:
        fields = [pa.field(n, pa.int64() if n in widened else wanted[n]) for n in wanted]
        if mode == "evolve":
            fields += [pa.field(n, _canonical(present[n])) for n in added]
        schema = pa.schema(fields)
    notes = []
    if mode == "evolve" and added and not problems:
        notes.append(f"columns added: {', '.join(added)}")
    if widened:
        notes.append(f"widened int -> bigint: {', '.join(widened)}")
    if discarded:
        notes.append(f"columns not declared, discarded: {', '.join(discarded)}")
    return _result(mode, added, dropped, tuple(retyped), tuple(widened), discarded, problems or notes, schema)


def conform(table: pa.Table, result: ContractResult) -> pa.Table:
    """The batch as it is published: the contract's columns in its order and types (discarded ones left out)."""
    if result.schema_to_publish is None:
        raise UsageError(f"schema contract {result.mode} failed: {result.message}")
    schema = result.schema_to_publish
    return table.select(schema.names).cast(schema)


def _result(mode, added, dropped, retyped, widened, discarded, lines, schema) -> ContractResult:
    verdict = "pass" if schema is not None else "fail"
    text = "; ".join(lines) if lines else _SAME
    return ContractResult(mode, tuple(added), tuple(dropped), tuple(retyped), tuple(widened), tuple(discarded),
                          verdict, f"{mode}: {text}", schema)


def matches(declared: str, actual: pa.DataType) -> bool:
    """Whether a batch's column of Arrow type `actual` holds the declared type (or its int -> bigint widening)."""
    want = arrow_type(declared)
    return _same(want, actual) or (want, _canonical(actual)) in WIDENINGS


def _canonical(t: pa.DataType) -> pa.DataType:
    """One spelling per type: large_string as string, any UTC zone as "UTC"."""
    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_timestamp(t) and t.tz in _UTC_NAMES:
        return pa.timestamp(t.unit, tz="UTC")
    return t


def _same(declared: pa.DataType, actual: pa.DataType) -> bool:
    return _canonical(declared) == _canonical(actual)


def declared_name(t: pa.DataType) -> str | None:
    """The declared-type string an Arrow type is published as (a Glue column's type), or None when it is not one of the set."""
    t = _canonical(t)
    for name in ("string", "bigint", "int", "double", "boolean", "date", "timestamp"):
        if arrow_type(name) == t:
            return name
    if pa.types.is_decimal128(t):
        return f"decimal({t.precision},{t.scale})"
    return None


@dataclass(frozen=True)
class ItemTypes:
    """The types a schemaless source's items carried, per declared attribute (DynamoDB's S, N, BOOL, NULL, ...)."""

    items: int  # items read
    whole: bool  # the items are the whole table (a full export), not only the changed ones
    seen: Mapping[str, Mapping[str, int]]  # attribute -> type -> items carrying it
    misfits: Mapping[str, Mapping[str, int]]  # attribute -> type its declared column does not take -> items
    misfit_keys: Mapping[str, tuple[str, ...]]  # attribute -> the first of those items' keys

    def published(self, before: Mapping[str, Sequence[str]] | None = None) -> dict[str, list[str]]:
        """The types each attribute is known to be written as, for the batch's manifest (NULL is no type): these
        items' own for a whole table, else the previous batch's and these items'."""
        out = {} if self.whole or not before else {a: set(t) for a, t in before.items()}
        for attr, kinds in self.seen.items():
            out.setdefault(attr, set()).update(k for k in kinds if k != "NULL")
        return {a: sorted(t) for a, t in sorted(out.items()) if t}


def check_items(declared: Mapping[str, str], undeclared: Sequence[str], types: ItemTypes, mode: str,
                before: Mapping[str, Sequence[str]] | None = None) -> ContractResult:
    """Judge a schemaless source's items against the declared columns under a contract mode: the attributes no
    column declares as check() judges added columns, the declared ones by the types the items carried, and,
    against `before` (the previous batch's types per attribute), a change of type the column still takes."""
    base = check(declared, pa.schema([pa.field(n, arrow_type(t)) for n, t in declared.items()]
                                     + [pa.field(n, pa.string()) for n in undeclared]), mode)
    dropped = tuple(n for n in declared if types.whole and types.items and n not in types.seen)
    retyped = tuple((n, declared[n], f"DynamoDB {'/'.join(sorted(m))} in {sum(m.values())} item(s), keys "
                     f"{', '.join(types.misfit_keys.get(n, ())) or 'not reported'}")
                    for n, m in types.misfits.items())
    changed = []
    for name, kinds in (types.seen.items() if before else ()):
        was = set((before or {}).get(name, ())) - {"NULL"}
        now = set(kinds) - {"NULL"} - set(types.misfits.get(name, {}))
        if was and now - was:
            changed.append((name, "DynamoDB " + "/".join(sorted(was)), "DynamoDB " + "/".join(sorted(was | now))))
    problems = [] if base.passed else [base.message.removeprefix(f"{mode}: ")]
    if dropped:
        problems.append(f"declared attributes in no item of the export: {', '.join(dropped)}")
    if retyped:
        problems.append("declared attributes of a type or value their column does not take: "
                        + "; ".join(f"{n} ({w}): {a}" for n, w, a in retyped))
    said = ", ".join(f"{n} {w} -> {a}" for n, w, a in changed)
    if changed and mode == "freeze":
        problems.append(f"attributes written as another type than in the previous batch: {said}")
    notes = [] if not base.passed or base.message == f"{mode}: {_SAME}" else [base.message.removeprefix(f"{mode}: ")]
    if changed and mode != "freeze":
        notes.append(f"attributes also written as another type their column takes: {said}")
    all_retyped = base.retyped + retyped + (tuple(changed) if mode == "freeze" else ())
    return _result(mode, base.added, base.dropped + dropped, all_retyped, base.widened, base.discarded,
                   problems or notes, None if problems else base.schema_to_publish)
