"""Extract a PostgreSQL table from a reader, at one consistent snapshot, as Arrow record batches.

Never the writer: the DSN given is a reader's, and the session is checked to be in recovery before
anything is read. One REPEATABLE READ READ ONLY transaction holds the snapshot for the whole
extract: the source's schema, its row count and key fingerprint (what reconciliation compares the
published batch with) and the rows themselves are all of the same instant. Rows stream with
`COPY (SELECT ...) TO STDOUT (FORMAT csv)` into pyarrow's CSV reader in bounded blocks, so memory
stays flat whatever the table's size.

T, the point in time of the data, is the reader's last replayed commit read just before the
snapshot is taken: everything committed by T is in the snapshot (replay only moves forward).

A clone of the source at T (ops.etl.clone) is read the same way, but it is no reader: once restored it
is a lone primary, not in recovery. The Reader accepts one only when told it is a clone and of which T
(`clone_of`), and only a server started after T (a clone starts once it is asked for, after T; the
estate's own writer was running long before it, so naming a writer's DSN as a clone is still refused).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv

from ops.errors import CannotRun, UsageError
from ops.etl import representable
from ops.etl.representable import Replaced
from ops.etl.types import arrow_type

BLOCK_BYTES = 4 << 20  # pyarrow's CSV block: one record batch per block of about this size
# A key column's text is the same in PostgreSQL and DuckDB for these types only: the fingerprint compares them.
KEY_TYPES = ("string", "bigint", "int", "date")
SEPARATOR = "\x1f"  # between a composite key's columns in its fingerprint text

# PostgreSQL's type (format_type) -> the declared type it is published as; anything else is published as text.
_PG_TYPES = {
    "bigint": "bigint", "integer": "int", "smallint": "int", "text": "string", "character varying": "string",
    "character": "string", "double precision": "double", "real": "double", "boolean": "boolean", "date": "date",
    "timestamp with time zone": "timestamp", "timestamp without time zone": "timestamp", "uuid": "string",
}


@dataclass(frozen=True)
class Snapshot:
    at: datetime  # the reader's last replayed commit when the snapshot was taken (UTC)
    server: str  # address:port of the reader that served it
    columns: dict[str, str]  # the source's columns as declared types, in table order
    rows: int
    fingerprint: int


def declared_type(pg_type: str) -> str:
    base = pg_type.split("(")[0].strip()
    if base == "numeric" and "(" in pg_type:
        return "decimal" + pg_type[len("numeric"):].replace(" ", "")
    return _PG_TYPES.get(base, "string")


def fingerprint_sql(key: tuple[str, ...], quote: Any) -> str:
    """Sum over rows of the first 60 bits of md5(key text): order-free, and a lost, extra or changed key
    changes it. The same expression runs in DuckDB (ops.etl.lake.fingerprint) with its own hex cast."""
    text = f" || '{SEPARATOR}' || ".join(f"{quote(k)}::text" for k in key)
    return f"coalesce(sum(('x' || substr(md5({text}), 1, 15))::bit(60)::bigint), 0)"


class Reader:
    """One snapshot of a reader, open for the duration of a `with` block."""

    def __init__(self, dsn: str, label: str, clone_of: datetime | None = None) -> None:
        """clone_of: the DSN is a clone of its source restored to this time, made for this export (T is then this
        time); None: a reader of the estate, never its writer."""
        self.dsn, self.label, self.clone_of = dsn, label, clone_of
        self.conn: Any = None

    def __enter__(self) -> "Reader":
        import psycopg

        try:
            self.conn = psycopg.connect(self.dsn, connect_timeout=10, application_name="dbops-etl")
        except psycopg.OperationalError as exc:
            raise CannotRun(f"cannot connect to {self.label}: {_first_line(exc)}") from None
        self.conn.autocommit = True
        try:
            row = self.conn.execute("SELECT pg_is_in_recovery(), pg_last_xact_replay_timestamp(), "
                                    "coalesce(host(inet_server_addr()), 'local') || ':' || current_setting('port'), "
                                    "pg_postmaster_start_time()").fetchone()
        except psycopg.errors.FeatureNotSupported as exc:
            # Aurora's readers do not report a replay point (0A000): T could not be named for a reader snapshot.
            self.conn.close()
            raise CannotRun(f"{self.label} does not report its replay point ({_first_line(exc)}): declare "
                            'extract = "clone" for its tables (a clone at a known T)') from None
        refused = self._refusal(*row)
        if refused:
            self.conn.close()
            raise CannotRun(refused)
        self.at = self.clone_of.astimezone(timezone.utc) if self.clone_of else row[1].astimezone(timezone.utc)
        self.server = row[2]
        self.conn.execute("SET TIME ZONE 'UTC'")
        # An explicit transaction on an autocommit connection: closing the connection ends it.
        self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self.conn.execute("SELECT 1")  # the snapshot is taken by the transaction's first statement
        return self

    def _refusal(self, in_recovery: bool, replayed: datetime | None, server: str, started: datetime) -> str | None:
        """Why this session is not one to export from, or None."""
        if self.clone_of is None:
            if not in_recovery:
                return f"{self.label} reached {server}, the writer: an export reads a reader or a clone, never the writer"
            if replayed is None:
                return f"{self.label} ({server}) has replayed no commit yet: its point in time is not known"
            return None
        if in_recovery:
            return f"{self.label} ({server}) is still recovering: the clone is not at {self.clone_of.isoformat()} yet"
        if started <= self.clone_of:
            return (f"{self.label} reached {server}, a server running since {started.astimezone(timezone.utc).isoformat()}, "
                    f"before the clone's T {self.clone_of.isoformat()}: not a clone made for this export (a writer?), not read")
        return None

    def __exit__(self, *exc: Any) -> None:
        # Closing ends the read-only transaction on the server; a rollback would wait out a COPY cut short.
        if self.conn is not None:
            self.conn.close()

    def columns(self, relation: str) -> dict[str, str]:
        schema, table = relation.split(".", 1)
        rows = self.conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum", (schema, table)).fetchall()
        if not rows:
            raise UsageError(f"{relation} does not exist on {self.label} ({self.server})")
        return {name: declared_type(pg_type) for name, pg_type in rows}

    def snapshot(self, relation: str, key: tuple[str, ...]) -> Snapshot:
        from psycopg import sql

        columns = self.columns(relation)
        missing = [k for k in key if k not in columns]
        if missing:
            raise UsageError(f"{relation} on {self.label} has no key column {', '.join(missing)}")
        quote = lambda name: sql.Identifier(name).as_string(self.conn)  # noqa: E731
        rows, fp = self.conn.execute(f"SELECT count(*), {fingerprint_sql(key, quote)} FROM {_relation(relation, quote)}").fetchone()
        return Snapshot(self.at, self.server, columns, int(rows), int(fp))

    def batches(self, relation: str, columns: dict[str, str], replaced: Replaced | None = None) -> Iterator[pa.RecordBatch]:
        """The rows of `columns` (name -> declared type) in Arrow batches of about BLOCK_BYTES of CSV each. A date or
        timestamp the lake cannot hold is NULL (ops.etl.representable); `replaced` is given the keys of those rows."""
        from psycopg import sql

        quote = lambda name: sql.Identifier(name).as_string(self.conn)  # noqa: E731
        select = ", ".join(_select(c, t, quote) for c, t in columns.items())
        flagged = [c for c, t in columns.items() if t in representable.TYPES] if replaced is not None else []
        flags = {f"__dbops_replaced_{i}": c for i, c in enumerate(flagged)}
        select += "".join(f", {_replaced(c, columns[c], quote)}" for c in flagged)
        names = list(columns)
        with self.conn.cursor() as cur:
            with cur.copy(f"COPY (SELECT {select} FROM {_relation(relation, quote)}) TO STDOUT (FORMAT csv)") as copy:
                try:
                    reader = self._csv(copy, [*names, *flags], {**columns, **{f: "boolean" for f in flags}})
                except pa.ArrowInvalid as exc:
                    if "Empty CSV" in str(exc):
                        return  # an empty table: no rows, no batch
                    raise
                schema = pa.schema([pa.field(c, arrow_type(t)) for c, t in columns.items()])
                for batch in reader:
                    out = pa.RecordBatch.from_arrays([_as(b, f.type) for b, f in zip(batch.columns, schema)], schema=schema)
                    if replaced is not None and flags:
                        replaced.add(out, {c: batch.column(f) for f, c in flags.items()})
                    yield out

    @staticmethod
    def _csv(copy: Any, names: list[str], columns: dict[str, str]) -> Any:
        return pacsv.open_csv(
            _CopyStream(copy),
            read_options=pacsv.ReadOptions(column_names=names, block_size=BLOCK_BYTES, use_threads=False),
            convert_options=pacsv.ConvertOptions(
                column_types={c: _csv_type(t) for c, t in columns.items()}, null_values=[""],
                true_values=["t"], false_values=["f"], strings_can_be_null=True, quoted_strings_can_be_null=False))


def _relation(relation: str, quote: Any) -> str:
    schema, table = relation.split(".", 1)
    return f"{quote(schema)}.{quote(table)}"


def _select(column: str, declared: str, quote: Any) -> str:
    if declared in representable.TYPES:
        value = _value(column, declared, quote)
        return f"CASE WHEN {representable.held_sql(value, declared)} THEN {value} END"
    if declared in ("double",):
        return f"{quote(column)}::float8"
    return quote(column)


def _value(column: str, declared: str, quote: Any) -> str:
    return f"({quote(column)}::timestamptz AT TIME ZONE 'UTC')" if declared == "timestamp" else f"{quote(column)}::date"


def _replaced(column: str, declared: str, quote: Any) -> str:
    """TRUE when the column's value is one _select publishes as NULL (not a NULL of the source)."""
    value = _value(column, declared, quote)
    return f"({value} IS NOT NULL AND NOT {representable.held_sql(value, declared)})"


def _as(column: pa.Array, declared: pa.DataType) -> pa.Array:
    """A parsed column as its declared type. A cast to the type a column has still copies it, and a cast from a
    timestamp without a zone to UTC localizes each value: UTC text parsed as such is the same microseconds, viewed."""
    if column.type == declared:
        return column
    if pa.types.is_timestamp(declared) and column.type == pa.timestamp(declared.unit):
        return column.view(declared)
    return column.cast(declared)


def _csv_type(declared: str) -> pa.DataType:
    t = arrow_type(declared)
    return pa.timestamp("us") if pa.types.is_timestamp(t) else t  # UTC text without an offset; cast to UTC after


class _CopyStream(io.RawIOBase):
    """COPY's output as a readable file for pyarrow's streaming CSV reader.

    COPY TO STDOUT arrives one row per message (psycopg yields each): a read is filled with as many rows as it
    asks bytes for, each copied into one buffer at once, so no read returns a single row and no row's object
    outlives its copy (holding them, tens of thousands a read, sets the garbage collector scanning)."""

    def __init__(self, copy: Any) -> None:
        self.blocks = iter(copy)
        self.pending = bytearray()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want, pending = len(view), self.pending
        while len(pending) < want:
            block = next(self.blocks, None)
            if block is None:
                break
            pending += block
        n = min(want, len(pending))
        view[:n] = pending[:n]
        del pending[:n]
        return n


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or ["connection failed"])[-1].strip()
