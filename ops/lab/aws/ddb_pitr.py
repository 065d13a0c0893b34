"""DynamoDB point-in-time recovery in the lab's emulator: item history and restores to a time.

Plain moto copies a table's current items on RestoreTableToPointInTime whatever the restore
time, and reports a restorable window that never moves. Here, while a table has point-in-time
recovery on, every write to it (PutItem, UpdateItem with expressions or AttributeUpdates,
DeleteItem, BatchWriteItem, TransactWriteItems, PartiQL) is kept per item as a list of
(timestamp, image or None for a delete), and a restore to T builds the items as they were at T.

The window follows the service's documentation:

- EarliestRestorableDateTime is when point-in-time recovery was enabled — disabling and enabling
  it again "reset[s] the start time for which you can recover that table" (DynamoDB developer
  guide, "Restore a table in DynamoDB") — but no earlier than the recovery period before now:
  RecoveryPeriodInDays, 1 to 35, "If no value is provided, the value will default to 35" (API
  reference, PointInTimeRecoverySpecification).
- "LatestRestorableDateTime is typically 5 minutes before the current time" (API reference,
  PointInTimeRecoveryDescription): the lab setting ddb_restorable_lag_s, 300 s by default;
  never before the earliest restorable time.
- A RestoreDateTime outside [earliest, latest] is refused with InvalidRestoreTimeException, HTTP
  400, "An invalid restore time was specified. RestoreDateTime must be between
  EarliestRestorableDateTime and LatestRestorableDateTime." (API reference,
  RestoreTableToPointInTime, Errors); a source without point-in-time recovery with
  PointInTimeRecoveryUnavailableException; a missing source with TableNotFoundException.

History is bounded by the recovery period: entries older than it are dropped, keeping the one
image that was current at its start. A key that no write has touched since recovery was enabled
has no history: its current item is its item at every restorable time.
"""

from __future__ import annotations

import copy
import threading
import time
from bisect import bisect_right
from datetime import datetime, timezone
from typing import Any, Callable

from ops.lab.aws import service_clock, settings

LAG_SETTING = "ddb_restorable_lag_s"
IGNORE_TIME_SETTING = "ddb_restore_ignores_time"
SERVICE_LAG_S = 300  # "typically 5 minutes before the current time"
DEFAULT_PERIOD_DAYS = 35
BASE = float("-inf")  # time of an item's image from before its history began
SWEEP_EVERY_S = 60.0
SWEEP_CHUNK = 5000

# Called when a table turns point-in-time recovery on (ops.lab.aws.ddb_heartbeat starts its writer there).
ON_ENABLED: list[Callable[[], None]] = []

_local = threading.local()  # .pending: writes of a transaction in progress, recorded once it commits
_installed = False


class History:
    """The item history of one table with point-in-time recovery on: key -> [(time, Item | None)]."""

    __slots__ = ("enabled_at", "period_days", "items", "lock", "swept_at")

    def __init__(self, enabled_at: float, period_days: int) -> None:
        self.enabled_at = enabled_at
        self.period_days = period_days
        self.items: dict[tuple[Any, Any], list[tuple[float, Any]]] = {}
        self.lock = threading.RLock()
        self.swept_at = enabled_at

    def __deepcopy__(self, memo: dict[int, Any]) -> History:
        # moto deep-copies a table before a transaction (to roll it back) and into an on-demand
        # backup: either copy is the same table, with the same history.
        return self

    @property
    def period_s(self) -> float:
        return self.period_days * 86400.0

    def window(self, now: float, lag_s: float) -> tuple[float, float]:
        earliest = max(self.enabled_at, now - self.period_s)
        return earliest, max(earliest, now - lag_s)

    def record(self, key: tuple[Any, Any], when: float, item: Any, prior: Any) -> None:
        entries = self.items.get(key)
        if entries is None:
            entries = self.items[key] = [(BASE, prior)] if prior is not None else []
        entries.append((when, item))
        _trim(entries, when - self.period_s)

    def state_at(self, key: tuple[Any, Any], t: float) -> Any:
        entries = self.items[key]
        i = bisect_right(entries, t, key=_when) - 1
        return entries[i][1] if i >= 0 else None

    def sweep(self, now: float) -> None:
        """Drop what is older than the recovery period from keys no write has touched lately."""
        cutoff = now - self.period_s
        keys = list(self.items)
        for start in range(0, len(keys), SWEEP_CHUNK):
            with self.lock:
                for key in keys[start : start + SWEEP_CHUNK]:
                    entries = self.items.get(key)
                    if entries is None:
                        continue
                    _trim(entries, cutoff)
                    if entries[-1][0] <= cutoff:
                        del self.items[key]  # unchanged for the whole window: its current item is its history
        self.swept_at = now


def _when(entry: tuple[float, Any]) -> float:
    return entry[0]


def _trim(entries: list[tuple[float, Any]], cutoff: float) -> None:
    """Drop entries older than the cutoff but the newest of them (the image current at the cutoff).
    Trimmed once half the list is stale, so a hot key costs amortised O(1) per write."""
    n = len(entries)
    if n < 2:
        return
    probe = entries[n // 2] if n > 8 else entries[1]
    if probe[0] <= cutoff:
        del entries[: bisect_right(entries, cutoff, key=_when) - 1]


def history(table: Any) -> History | None:
    return getattr(table, "dbops_history", None)


def _record(h: History, key: tuple[Any, Any], item: Any, prior: Any) -> None:
    pending = getattr(_local, "pending", None)
    if pending is not None:
        pending.append((h, key, item, prior))
    else:
        h.record(key, time.time(), item, prior)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return float(value)


def _naive_utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)  # moto's own representation


def _install_writes() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    put_item, delete_item = Table.put_item, Table.delete_item

    def put_item_kept(self: Table, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        h = history(self)
        if h is None or getattr(_local, "in_update", 0):
            return put_item(self, item_attrs, *args, **kwargs)
        try:
            hash_key = DynamoType(item_attrs[self.hash_key_attr])
            range_key = DynamoType(item_attrs[self.range_key_attr]) if self.range_key_attr else None
        except (KeyError, TypeError, IndexError):
            return put_item(self, item_attrs, *args, **kwargs)  # refused by moto's own validation
        with h.lock:
            prior = self.get_item(hash_key, range_key)
            item = put_item(self, item_attrs, *args, **kwargs)
            _record(h, (hash_key, range_key), item, prior)
        return item

    def delete_item_kept(self: Table, hash_key: Any, range_key: Any) -> Any:
        h = history(self)
        if h is None:
            return delete_item(self, hash_key, range_key)
        with h.lock:
            item = delete_item(self, hash_key, range_key)
            if item is not None:
                _record(h, (hash_key, range_key), None, item)
        return item

    update_item = DynamoDBBackend.update_item

    def update_item_kept(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        table = self.get_table(table_name)
        h = history(table)
        if h is None or not isinstance(key, dict) or table.hash_key_attr not in key:
            return update_item(self, table_name, key, *args, **kwargs)
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr and table.range_key_attr in key else None
        if table.range_key_attr and range_key is None:
            return update_item(self, table_name, key, *args, **kwargs)  # refused by moto's own validation
        with h.lock:
            prior = table.get_item(hash_key, range_key)
            if prior is not None:
                # UpdateItem changes the stored item in place: the history keeps the old object,
                # the table gets a copy to change.
                fresh = copy.deepcopy(prior)
                if range_key is not None:
                    table.items[hash_key][range_key] = fresh
                else:
                    table.items[hash_key] = fresh
            _local.in_update = getattr(_local, "in_update", 0) + 1
            try:
                item = update_item(self, table_name, key, *args, **kwargs)
            finally:
                _local.in_update -= 1
            _record(h, (hash_key, range_key), item, prior)
        return item

    transact_write_items = DynamoDBBackend.transact_write_items

    def transact_write_items_kept(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        outer = getattr(_local, "pending", None)
        _local.pending = []
        try:
            transact_write_items(self, transact_items)
            pending, when = _local.pending, time.time()
        finally:
            _local.pending = outer
        # A transaction is one change in time; a cancelled one (moto rolls the tables back) none.
        for h, key, item, prior in pending:
            with h.lock:
                h.record(key, when, item, prior)

    Table.put_item = put_item_kept
    Table.delete_item = delete_item_kept
    DynamoDBBackend.update_item = update_item_kept
    DynamoDBBackend.transact_write_items = transact_write_items_kept


def _install_continuous_backups() -> None:
    from moto.dynamodb.exceptions import MockValidationException, TableNotFoundException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.exceptions import ResourceNotFoundException

    def describe(table: Any) -> dict[str, Any]:
        out = copy.deepcopy(table.continuous_backups)
        h = history(table)
        pitr = out["PointInTimeRecoveryDescription"]
        if h is not None and pitr.get("PointInTimeRecoveryStatus") == "ENABLED":
            earliest, latest = h.window(time.time(), float(settings.get(LAG_SETTING)))
            shift = service_clock.offset()  # the history is kept on the host's clock, answered on the service's
            pitr.update(EarliestRestorableDateTime=earliest + shift, LatestRestorableDateTime=latest + shift,
                        RecoveryPeriodInDays=h.period_days)
        return out

    def describe_continuous_backups(self: DynamoDBBackend, table_name: str) -> dict[str, Any]:
        try:
            table = self.get_table(table_name)
        except ResourceNotFoundException:
            raise TableNotFoundException(table_name)
        return describe(table)

    def update_continuous_backups(self: DynamoDBBackend, table_name: str, spec: dict[str, Any]) -> dict[str, Any]:
        try:
            table = self.get_table(table_name)
        except ResourceNotFoundException:
            raise TableNotFoundException(table_name)
        period = spec.get("RecoveryPeriodInDays")
        if period is not None and not 1 <= int(period) <= DEFAULT_PERIOD_DAYS:
            raise MockValidationException(
                f"1 validation error detected: Value '{period}' at 'pointInTimeRecoverySpecification.recoveryPeriodInDays' "
                f"failed to satisfy constraint: Member must have value {'less' if int(period) > 1 else 'greater'} than or equal to "
                f"{DEFAULT_PERIOD_DAYS if int(period) > 1 else 1}")
        pitr = table.continuous_backups["PointInTimeRecoveryDescription"]
        if spec["PointInTimeRecoveryEnabled"]:
            h = history(table)
            if h is None or pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
                now = time.time()
                h = table.dbops_history = History(now, int(period or DEFAULT_PERIOD_DAYS))
                table.continuous_backups["PointInTimeRecoveryDescription"] = {"PointInTimeRecoveryStatus": "ENABLED"}
                for started in ON_ENABLED:
                    started()
            elif period is not None:
                h.period_days = int(period)
        else:
            table.dbops_history = None  # disabling point-in-time recovery drops its history
            table.continuous_backups["PointInTimeRecoveryDescription"] = {"PointInTimeRecoveryStatus": "DISABLED"}
        return describe(table)

    DynamoDBBackend.describe_continuous_backups = describe_continuous_backups
    DynamoDBBackend.update_continuous_backups = update_continuous_backups


def _install_restore() -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.exceptions import (
        ERROR_TYPE_PREFIX,
        MockValidationException,
        PointInTimeRecoveryUnavailable,
        ResourceNotFoundException,
        TableAlreadyExistsException,
        TableNotFoundException,
    )
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import RestoredPITTable
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    class InvalidRestoreTimeException(JsonRESTError):
        def __init__(self) -> None:
            super().__init__(ERROR_TYPE_PREFIX + "InvalidRestoreTimeException",
                             "An invalid restore time was specified. RestoreDateTime must be between "
                             "EarliestRestorableDateTime and LatestRestorableDateTime.")

    def restore_table_to_point_in_time(self: DynamoDBBackend, target_table_name: str, source_table_name: str,
                                       restore_date_time: Any = None, use_latest_restorable_time: bool = False,
                                       overrides: dict[str, Any] | None = None) -> Any:
        if restore_date_time is not None and use_latest_restorable_time:
            raise MockValidationException("RestoreDateTime and UseLatestRestorableTime cannot both be specified")
        if restore_date_time is None and not use_latest_restorable_time:
            raise MockValidationException("Either RestoreDateTime or UseLatestRestorableTime must be specified")
        try:
            source = self.get_table(source_table_name)
        except ResourceNotFoundException:
            raise TableNotFoundException(source_table_name)
        h = history(source)
        if h is None or source.continuous_backups["PointInTimeRecoveryDescription"].get("PointInTimeRecoveryStatus") != "ENABLED":
            raise PointInTimeRecoveryUnavailable(source.name)
        if target_table_name in self.tables:
            raise TableAlreadyExistsException(target_table_name)
        with h.lock:
            earliest, latest = h.window(time.time(), float(settings.get(LAG_SETTING)))
            # RestoreDateTime is a time on the service's clock; the history is kept on the host's.
            t = latest if use_latest_restorable_time else service_clock.to_host(_epoch(restore_date_time))
            if not earliest <= t <= latest:
                raise InvalidRestoreTimeException()
            restored = RestoredPITTable(target_table_name, account_id=self.account_id, region=self.region_name, source=source)
            if not settings.get(IGNORE_TIME_SETTING):
                for key in list(h.items):
                    _place(restored, key, h.state_at(key, t))
        restored.restore_date_time = _naive_utc(t + service_clock.offset())
        apply_overrides(restored, source, overrides or {})
        self.tables[target_table_name] = restored
        return restored

    def respond(self: DynamoHandler) -> Any:
        body = self.body
        restored = self.dynamodb_backend.restore_table_to_point_in_time(
            body.get("TargetTableName"), body.get("SourceTableName") or body.get("SourceTableArn"),
            restore_date_time=body.get("RestoreDateTime"),
            use_latest_restorable_time=bool(body.get("UseLatestRestorableTime")),
            overrides={k: body[k] for k in OVERRIDES if k in body})
        return DynamoResult(restored.describe())

    DynamoDBBackend.restore_table_to_point_in_time = restore_table_to_point_in_time
    DynamoHandler.restore_table_to_point_in_time = respond


OVERRIDES = ("BillingModeOverride", "GlobalSecondaryIndexOverride", "LocalSecondaryIndexOverride",
             "ProvisionedThroughputOverride")


def apply_overrides(restored: Any, source: Any, overrides: dict[str, Any]) -> None:
    """The restored table's settings as RestoreTableToPointInTime documents them: the source's billing
    mode and throughput unless overridden; only the indexes an index override lists (an empty list: none)."""
    restored.billing_mode = overrides.get("BillingModeOverride") or source.billing_mode
    if restored.billing_mode == "PAY_PER_REQUEST":
        restored.throughput = {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
    elif overrides.get("ProvisionedThroughputOverride"):
        restored.throughput = dict(overrides["ProvisionedThroughputOverride"])
    for key, attr in (("GlobalSecondaryIndexOverride", "global_indexes"), ("LocalSecondaryIndexOverride", "indexes")):
        if key in overrides:
            kept = {i.get("IndexName") for i in overrides[key] or []}
            setattr(restored, attr, [i for i in getattr(restored, attr) if i.name in kept])


def install_table_size() -> None:
    """TableSizeBytes from the items (moto reports 0; DynamoDB refreshes it about every six hours)."""
    from moto.dynamodb.models.table import Table

    if getattr(Table.describe, "_dbops_sized", False):
        return
    describe = Table.describe

    def sized(self: Any, base_key: str = "TableDescription") -> dict[str, Any]:
        out = describe(self, base_key)
        out[base_key]["TableSizeBytes"] = sum(item.size() for item in self.all_items())
        return out

    sized._dbops_sized = True  # type: ignore[attr-defined]
    Table.describe = sized


def _place(table: Any, key: tuple[Any, Any], item: Any) -> None:
    """Make the restored table's item at key what it was at T (None: absent)."""
    hash_key, range_key = key
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = copy.deepcopy(item)
        return
    if item is None:
        inner = table.items.get(hash_key)
        if inner is not None:
            inner.pop(range_key, None)
            if not inner:
                del table.items[hash_key]
    else:
        table.items[hash_key][range_key] = copy.deepcopy(item)


def install() -> None:
    """Register the settings and patch moto's DynamoDB backend (idempotent)."""
    global _installed
    if _installed:
        return
    settings.register(LAG_SETTING, SERVICE_LAG_S,
                      "seconds LatestRestorableDateTime trails now (DynamoDB: typically 5 minutes, API reference "
                      "PointInTimeRecoveryDescription)", minimum=0, maximum=86_400)
    settings.register(IGNORE_TIME_SETTING, False,
                      "fault: RestoreTableToPointInTime copies today's items whatever the restore time (plain moto)")
    _install_writes()
    _install_continuous_backups()
    _install_restore()
    install_table_size()
    _installed = True
