"""Drill leases and drill records: one drill at a time per target, and a note of what each
drill is about to create, written before it creates it.

Two stores with one interface:

- `FileLedger` (the embedded lab): a lease is an exclusive `flock` on a file under
  `.lab/leases/`, held for the whole drill. The kernel releases it when the process dies,
  even by SIGKILL, so a dead drill never blocks the next one. Records are JSON files.
- `DynamoLedger` (an AWS env): items in the env's lease table (by default the Terraform state
  lock table made by terraform/bootstrap). A lease is a conditional put that succeeds only
  when no live lease exists; it carries its owner and an expiry, after which another drill
  may take it over. Keys start with `dbops-drill-lease:` or `dbops-drill-record:` — a ':' can
  never appear in the S3 bucket name that starts Terraform's own LockIDs.

A record lists the resources a drill creates and the rows it writes into the target, so
`dbops janitor` can remove them after a drill was killed, even where the API cannot tag a
resource at creation (DynamoDB's RestoreTableToPointInTime).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from ops.errors import Busy, CannotRun
from ops.proc import owner_id
from ops.permissions import declare, need

LEASE_PREFIX = "dbops-drill-lease:"
RECORD_PREFIX = "dbops-drill-record:"
WINDOW_PREFIX = "dbops-drill-window:"
WINDOW_DAYS = 15  # CloudWatch keeps one-minute data points 15 days: an older window hides nothing a drill reads
# The tags a drill's resources carry (and an export's clone, recorded the same way), which the janitor reads.
DRILL_TAG = "dbops:drill-id"
EXPIRES_TAG = "dbops:expires-at"
OWNER_TAG = "dbops:owner"


# Leases, records and drill windows on AWS: items of the env's lease table, by key (Scan lists records).
CALLS = declare(
    "lease.table",
    need("dynamodb:PutItem", on="lease-table"),
    need("dynamodb:GetItem", on="lease-table"),
    need("dynamodb:UpdateItem", on="lease-table"),
    need("dynamodb:DeleteItem", on="lease-table"),
    need("dynamodb:Scan", on="lease-table"),
)


def new_drill_id(kind: str) -> str:
    return f"{kind}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def expiry_hours(wait_s: float, floor_h: float = 6.0) -> float:
    """How long a drill's resources and record live: at least floor_h, and always past the longest the drill
    may wait plus an hour, so that a janitor on another host (which cannot see the drill's process) never
    takes a restore still in progress for a leftover."""
    return max(floor_h, (wait_s + 3600) / 3600)


def expiry(hours: float = 6.0, now: datetime | None = None) -> str:
    return ((now or datetime.now(timezone.utc)) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(stamp: str) -> datetime | None:
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _warn(line: str) -> None:
    """Said at once on stderr (the drill's report says it again at the end)."""
    import sys

    print(f"dbops: warning: {line}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Holder:
    """Who holds a target: shown to the drill that is refused."""

    target: str
    drill_id: str
    owner: str
    started_at: str
    expires_at: str

    @property
    def pid(self) -> int | None:
        """The holder's process id (its owner is host:pid:start)."""
        parts = self.owner.rsplit(":", 2)
        return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None

    def describe(self) -> str:
        host, pid, _ = (self.owner.rsplit(":", 2) + ["", "", ""])[:3]
        return f"drill {self.drill_id} (pid {pid} on {host}, since {self.started_at}, lease until {self.expires_at})"


@dataclass
class Record:
    """What a drill creates or writes, noted before it does."""

    drill_id: str
    target: str
    env: str
    owner: str
    expires_at: str
    resources: list[dict[str, str]] = field(default_factory=list)  # {"kind": ..., "name": ...}
    markers: bool = False  # rows written into the target itself (markers, canary rows)
    kept: bool = False  # --keep: the resources live until expires_at

    def expired(self, now: datetime | None = None) -> bool:
        try:
            return datetime.strptime(self.expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) <= (now or _now())
        except ValueError:
            return True


@dataclass(frozen=True)
class Window:
    """When a drill loaded a target, kept after its record is gone: a later drill's baseline leaves it out,
    whichever host ran it. Written before the load with its planned end, then with its real one."""

    drill_id: str
    target: str
    env: str
    kind: str
    started_at: str
    finished_at: str

    def expired(self, now: datetime | None = None) -> bool:
        try:
            end = datetime.strptime(self.finished_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            return True
        return end + timedelta(days=WINDOW_DAYS) <= (now or _now())


def lease_key(target: str) -> str:
    """The name a target's lease is held under, however the target was named: by its ARN (the APIs take
    one) or by its name, and for RDS in any letter case (its identifiers are case-insensitive)."""
    kind, _, name = target.strip().partition(":")
    if name.startswith("arn:") and name.count(":") >= 5:
        # arn:aws:rds:REGION:ACCOUNT:cluster:NAME, arn:aws:dynamodb:REGION:ACCOUNT:table/NAME
        resource = name.split(":", 5)[5]
        name = re.split(r"[:/]", resource)[1] if re.search(r"[:/]", resource) else resource
    return f"{kind}:{name.lower()}" if kind == "aurora" else f"{kind}:{name}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


class Lease:
    """A held lease; release() gives it back (idempotent).

    A lease renewed in the background (DynamoLedger) notes each renewal that failed and whether the
    lease was lost — taken over by another drill, or expired while renewals failed. `judge(report)`
    puts that into the drill's report: a drill that lost its lease never passes on its own say-so.

    `loss` is set the moment the lease is lost (by the renewal thread): a drill's load watches it, or
    polls `loss_reason()`, and stops at once rather than keep loading a target another drill now holds.
    """

    def __init__(self, holder: Holder, release: Any) -> None:
        self.holder = holder
        self._release = release
        self._lock = threading.Lock()
        self.failures: list[str] = []  # renewals that failed, each with when and why
        self.lost: str | None = None  # why the lease stopped being this drill's, if it did
        self.held_until = _parse(holder.expires_at)
        self.loss = threading.Event()  # set when the lease is lost: the drill's load stops

    def loss_reason(self) -> str | None:
        """Why the lease was lost, once it has been; None while it is held."""
        with self._lock:
            return self.lost if self.loss.is_set() else None

    def renewal_failed(self, why: str, now: datetime | None = None) -> None:
        now = now or _now()
        with self._lock:
            self.failures.append(f"{_stamp(now)} {why}")
            if self.lost is None and self.held_until is not None and now >= self.held_until:
                self.lost = f"expired at {_stamp(self.held_until)} while its renewals failed (last: {why})"
            if self.lost is not None:
                self.loss.set()
        _warn(f"lease of {self.holder.target} (drill {self.holder.drill_id}): renewal failed: {why}"
              + (f"; LOST: {self.lost}" if self.lost else "; retried at the next renewal"))

    def renewed(self, until: datetime) -> None:
        with self._lock:
            self.held_until = until

    def taken(self, why: str) -> None:
        with self._lock:
            self.lost = self.lost or why
            self.loss.set()
        _warn(f"lease of {self.holder.target} (drill {self.holder.drill_id}) LOST: {why}")

    def judge(self, report: Any) -> Any:
        """The drill's report with what became of its lease: an error check when it was lost (another drill may
        have run on the target meanwhile: nothing measured can be trusted to pass), a warn when renewals failed."""
        from dataclasses import replace

        from ops.report import Check, escalated

        with self._lock:
            now = _now()
            if self.lost is None and self.held_until is not None and now >= self.held_until and self.failures:
                self.lost = f"expired at {_stamp(self.held_until)} while its renewals failed"
                self.loss.set()
            lost, failures = self.lost, list(self.failures)
        if lost is None and not failures:
            return report
        details = dict(report.details, lease={"lost": lost, "renewal_failures": failures})
        if lost is None:
            check = Check("LEASE", "warn", f"{len(failures)} lease renewal(s) failed (last: {failures[-1]}); "
                                           "the lease was held throughout")
            return replace(report, checks=report.checks + (check,), details=details)
        check = Check("LEASE", "error", f"the drill lost its lease on {self.holder.target}: {lost}; another drill may have "
                                        "run on the target meanwhile")
        status, summary = escalated(report, check, f"lease lost ({lost})")
        return replace(report, status=status, summary=summary, checks=report.checks + (check,), details=details)

    def release(self) -> None:
        if self._release is not None:
            release, self._release = self._release, None
            release()

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class FileLedger:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def records_dir(self) -> Path:
        return self.directory / "records"

    def acquire(self, target: str, drill_id: str, hours: float) -> Lease:
        target = lease_key(target)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{_safe(target)}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = _read_holder(fd, target)
            os.close(fd)
            raise Busy(f"{target} is held by {held.describe() if held else 'another drill'}; "
                       "one drill at a time holds a target — try again when it has finished") from None
        now = _now()
        holder = Holder(target, drill_id, owner_id(), _stamp(now), _stamp(now + timedelta(hours=hours)))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(holder)).encode(), 0)

        def release() -> None:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

        return Lease(holder, release)

    def holders(self) -> list[Holder]:
        """Leases held right now (a file whose lock is free holds nothing)."""
        out = []
        for path in sorted(self.directory.glob("*.lock")):
            fd = os.open(path, os.O_RDONLY)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    fcntl.flock(fd, fcntl.LOCK_UN)
                except BlockingIOError:
                    held = _read_holder(fd, path.stem)
                    if held:
                        out.append(held)
            finally:
                os.close(fd)
        return out

    def put_record(self, record: Record) -> None:
        self.records_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.records_dir, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(record), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.records_dir / f"{_safe(record.drill_id)}.json")

    def records(self) -> Iterator[Record]:
        for path in sorted(self.records_dir.glob("*.json")):
            try:
                yield Record(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                continue

    def delete_record(self, drill_id: str) -> None:
        (self.records_dir / f"{_safe(drill_id)}.json").unlink(missing_ok=True)

    def break_lease(self, holder: Holder) -> None:  # pragma: no cover — file leases end with their process
        pass

    @property
    def windows_dir(self) -> Path:
        return self.directory / "windows"

    def put_window(self, window: Window) -> None:
        self.windows_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.windows_dir, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(window), f)
        os.replace(tmp, self.windows_dir / f"{_safe(window.drill_id)}.json")

    def windows(self, target: str) -> list[Window]:
        """The kept windows of drills of the target (any env's: the load was on the same table)."""
        out = []
        for path in sorted(self.windows_dir.glob("*.json")):
            try:
                window = Window(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                continue
            if window.expired():
                path.unlink(missing_ok=True)
            elif lease_key(window.target) == lease_key(target):
                out.append(window)
        return out


def _read_holder(fd: int, target: str) -> Holder | None:
    try:
        data = json.loads(os.pread(fd, 65536, 0).decode() or "{}")
        return Holder(**data) if data else None
    except (ValueError, TypeError):
        return None


class DynamoLedger:
    """Leases and records as items of a DynamoDB table whose hash key is the string LockID.

    A lease is keyed by the account and region the env names and the target's canonical name, so two
    envs naming the same account and region wait for each other. While held it is renewed every third
    of its length (at most hourly): a drill that runs longer than it first asked for keeps its target.
    """

    def __init__(self, ddb: Any, table: str, env: str, scope: str | None = None, renew_every_s: float | None = None) -> None:
        self.ddb = ddb
        self.table = table
        self.env = env
        self.scope = scope or env  # ACCOUNT:REGION of the env
        self.renew_every_s = renew_every_s

    def _missing_table(self) -> CannotRun:
        return CannotRun(f"lease table '{self.table}' not found: create it with terraform/bootstrap, "
                         f"or set envs.{self.env}.lease_table in dbops.toml to a table whose hash key is the string LockID")

    def acquire(self, target: str, drill_id: str, hours: float) -> Lease:
        target = lease_key(target)
        now = _now()
        holder = Holder(target, drill_id, owner_id(), _stamp(now), _stamp(now + timedelta(hours=hours)))
        key = f"{LEASE_PREFIX}{self.scope}:{target}"
        item = {"LockID": {"S": key}, **{k: {"S": v} for k, v in asdict(holder).items()}}
        try:
            self.ddb.put_item(TableName=self.table, Item=item,
                              ConditionExpression="attribute_not_exists(LockID) OR expires_at < :now",
                              ExpressionAttributeValues={":now": {"S": _stamp(now)}})
        except self.ddb.exceptions.ConditionalCheckFailedException:
            current = self.ddb.get_item(TableName=self.table, Key={"LockID": {"S": key}}, ConsistentRead=True).get("Item")
            held = Holder(**{k: v["S"] for k, v in current.items() if k != "LockID"}) if current else None
            # A put retried after a timeout whose first attempt was written finds our own item: the lease is ours.
            if held is None or (held.drill_id, held.owner) != (drill_id, holder.owner):
                raise Busy(f"{target} is held by {held.describe() if held else 'another drill'}; one drill at a time holds "
                           "a target — try again when it has finished, or after the lease expires") from None
            holder = held
        except self.ddb.exceptions.ResourceNotFoundException:
            raise self._missing_table() from None

        stop = threading.Event()
        every = self.renew_every_s if self.renew_every_s is not None else min(max(30.0, hours * 3600 / 3), 3600.0)
        lease = Lease(holder, None)

        def release() -> None:
            stop.set()
            try:
                self.ddb.delete_item(TableName=self.table, Key={"LockID": {"S": key}},
                                     ConditionExpression="drill_id = :me", ExpressionAttributeValues={":me": {"S": drill_id}})
            except self.ddb.exceptions.ConditionalCheckFailedException:
                pass  # expired and taken over: it is not ours to delete any more

        lease._release = release
        try:
            threading.Thread(target=self._renew, args=(key, lease, hours, every, stop), name="dbops-lease-renewal",
                             daemon=True).start()
        except BaseException:  # an interrupt before the caller has the lease: returned now, not held until it expires
            release()
            raise
        return lease

    def _renew(self, key: str, lease: Lease, hours: float, every_s: float, stop: threading.Event) -> None:
        from ops.errors import describe

        while not stop.wait(every_s):
            until = _now() + timedelta(hours=hours)
            try:
                self.ddb.update_item(TableName=self.table, Key={"LockID": {"S": key}}, UpdateExpression="SET expires_at = :until",
                                     ConditionExpression="drill_id = :me",
                                     ExpressionAttributeValues={":until": {"S": _stamp(until)}, ":me": {"S": lease.holder.drill_id}})
            except self.ddb.exceptions.ConditionalCheckFailedException:
                if not stop.is_set():  # not released by us: another drill took it over after it expired
                    lease.taken(f"another drill holds it since its expiry ({self._holder_of(key)})")
                return
            except Exception as exc:  # noqa: BLE001 — a failed renewal is said, and tried again next time
                lease.renewal_failed(describe(exc) or f"{type(exc).__name__}: {exc}")
                continue
            lease.renewed(until)

    def _holder_of(self, key: str) -> str:
        try:
            item = self.ddb.get_item(TableName=self.table, Key={"LockID": {"S": key}}, ConsistentRead=True).get("Item")
        except Exception as exc:  # noqa: BLE001 — only to name who holds it
            return f"its holder could not be read: {exc}"
        if not item:
            return "nobody holds it now"
        return Holder(**{k: v["S"] for k, v in item.items() if k != "LockID"}).describe()

    def _items(self, prefix: str) -> Iterator[dict[str, Any]]:
        # Our own small table (leases, drill records, Terraform locks): a scan reads only that.
        pages = self.ddb.get_paginator("scan").paginate(
            TableName=self.table, FilterExpression="begins_with(LockID, :p)", ExpressionAttributeValues={":p": {"S": prefix}},
            ConsistentRead=True)
        try:
            for page in pages:
                yield from page.get("Items", [])
        except self.ddb.exceptions.ResourceNotFoundException:
            raise self._missing_table() from None

    def holders(self) -> list[Holder]:
        return [Holder(**{k: v["S"] for k, v in item.items() if k != "LockID"}) for item in self._items(f"{LEASE_PREFIX}{self.scope}:")]

    def break_lease(self, holder: Holder) -> None:
        self.ddb.delete_item(TableName=self.table, Key={"LockID": {"S": f"{LEASE_PREFIX}{self.scope}:{holder.target}"}},
                             ConditionExpression="drill_id = :d", ExpressionAttributeValues={":d": {"S": holder.drill_id}})

    def put_record(self, record: Record) -> None:
        item = {"LockID": {"S": f"{RECORD_PREFIX}{record.drill_id}"}, "record": {"S": json.dumps(asdict(record))},
                "expires_at": {"S": record.expires_at}}
        try:
            self.ddb.put_item(TableName=self.table, Item=item)
        except self.ddb.exceptions.ResourceNotFoundException:
            raise self._missing_table() from None

    def records(self) -> Iterator[Record]:
        for item in self._items(RECORD_PREFIX):
            try:
                record = Record(**json.loads(item["record"]["S"]))
            except (KeyError, ValueError, TypeError):
                continue
            if record.env == self.env:
                yield record

    def delete_record(self, drill_id: str) -> None:
        self.ddb.delete_item(TableName=self.table, Key={"LockID": {"S": f"{RECORD_PREFIX}{drill_id}"}})

    def put_window(self, window: Window) -> None:
        item = {"LockID": {"S": f"{WINDOW_PREFIX}{self.scope}:{window.drill_id}"}, "window": {"S": json.dumps(asdict(window))}}
        try:
            self.ddb.put_item(TableName=self.table, Item=item)
        except self.ddb.exceptions.ResourceNotFoundException:
            raise self._missing_table() from None

    def windows(self, target: str) -> list[Window]:
        """The kept windows of drills of the target in this account and region, whichever host ran them."""
        out = []
        for item in self._items(f"{WINDOW_PREFIX}{self.scope}:"):
            try:
                window = Window(**json.loads(item["window"]["S"]))
            except (KeyError, ValueError, TypeError):
                continue
            if window.expired():
                self.ddb.delete_item(TableName=self.table, Key={"LockID": item["LockID"]})
            elif lease_key(window.target) == lease_key(target):
                out.append(window)
        return out


Ledger = FileLedger | DynamoLedger


def hold(ledger: Ledger, target: str, drill_id: str, hours: float, retry_s: float = 0.0) -> Lease:
    """Take the target's lease, retrying for retry_s seconds (0: refuse at once)."""
    deadline = time.monotonic() + retry_s
    while True:
        try:
            return ledger.acquire(target, drill_id, hours)
        except Busy:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def lab_ledger(lab_dir: Path) -> FileLedger:
    return FileLedger(lab_dir / "leases")


def ledger_for(cfg: Any, env: Any) -> Ledger:
    """The lab keeps leases and records as files in its lab dir; an AWS env in its lease table."""
    if env.is_embedded:
        return lab_ledger(cfg.lab_dir)
    from ops.aws import Aws

    return DynamoLedger(Aws.for_env(cfg, env).client("dynamodb"), env.lease_table, env.name,
                        scope=f"{env.account_id or env.name}:{env.region}")
