"""What shares a DynamoDB table with a drill in the lab: an application's steady load, and global-table replicas.

The application: `dbops lab set ddb_app_table=NAME ddb_app_wcu=W ddb_app_rcu=R` makes the emulator
itself a client of table NAME (in every account and region that has one) at W write and R read units a
second, one unit a request, as the lab's capacity model meters any request: what is admitted is
consumed (ConsumedWriteCapacityUnits / ConsumedReadCapacityUnits), what is not is throttled
(WriteThrottleEvents / ReadThrottleEvents), and, as an application's SDK gives up on a throttled
request in the end, it is not retried. So a drill sees the application's use in CloudWatch before it
starts and the application's throttles while it runs, as it would on AWS. `ddb_app_table=""` stops it.

Replicas: moto has no global tables. UpdateTable's ReplicaUpdates (Create / Delete of a RegionName,
global tables version 2019.11.21) are kept on the table, and DescribeTable lists them in Replicas as
the API reference shapes it (RegionName, ReplicaStatus ACTIVE); nothing is copied to another region.
DescribeGlobalTable (version 2017.11.29) answers GlobalTableNotFoundException: the lab has no table of
that version.
"""

from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace
from typing import Any

from ops.lab.aws import settings

APP_TABLE = "ddb_app_table"
TABLE_NAME = r"[a-zA-Z0-9_.-]{3,255}"  # DynamoDB's own rule for a table name
APP_WCU = "ddb_app_wcu"
APP_RCU = "ddb_app_rcu"
TICK_S = 0.05

log = logging.getLogger(__name__)
_thread: threading.Thread | None = None
_lock = threading.Lock()


def _tables(name: str) -> list[tuple[str, str, Any]]:
    from moto.dynamodb.models import dynamodb_backends

    found = []
    for account, regions in list(dynamodb_backends.items()):
        for region, backend in list(regions.items()):
            table = backend.tables.get(name)
            if table is not None:
                found.append((account, region, table))
    return found


def _serve(account: str, region: str, table: Any, kind: str, n: int, now: float) -> None:
    """n requests of one unit each, admitted or throttled one by one, metered as the emulator meters any."""
    from ops.lab.aws import ddb_capacity as cap

    meter = cap._Meter(SimpleNamespace(current_account=account, region=region), table, "PutItem" if kind == "write" else "GetItem")
    state = cap.capacity(table)
    served = throttled = 0
    for _ in range(n):
        with state.lock:
            reason = state.admit(table, kind, None, now)
            if reason is None:
                state.charge(table, kind, None, 1.0, now)
        if reason is None:
            served += 1
        else:
            throttled += 1
    meter.consumed(kind, float(served), now)
    for _ in range(throttled):
        meter.throttled(kind, 1, True, now)


def _run() -> None:
    owed = {"write": 0.0, "read": 0.0}
    last = time.time()
    while True:
        time.sleep(TICK_S)
        name = str(settings.get(APP_TABLE))
        rates = {"write": float(settings.get(APP_WCU)), "read": float(settings.get(APP_RCU))}
        now = time.time()
        elapsed, last = now - last, now
        if not name or not any(rates.values()):
            owed = {"write": 0.0, "read": 0.0}
            continue
        try:
            tables = _tables(name)
            for kind, rate in rates.items():
                owed[kind] += rate * elapsed
                n = int(owed[kind])
                owed[kind] -= n
                for account, region, table in tables:
                    _serve(account, region, table, kind, n, now)
        except Exception:  # noqa: BLE001 — the emulator resets its backends under us; serve the next tick
            log.exception("the lab's DynamoDB application")


def _ensure_running() -> None:
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="dbops-ddb-application", daemon=True)
            _thread.start()


def _install_replicas() -> None:
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler

    describe = Table.describe

    def describe_with_replicas(self: Any, base_key: str = "TableDescription") -> dict[str, Any]:
        result = describe(self, base_key)
        replicas = getattr(self, "dbops_replicas", None)
        if replicas:
            result[base_key]["Replicas"] = [{"RegionName": r, "ReplicaStatus": "ACTIVE"} for r in replicas]
            result[base_key]["GlobalTableVersion"] = "2019.11.21"
        return result

    Table.describe = describe_with_replicas
    update_table = DynamoHandler.update_table

    def update_table_replicas(self: Any) -> Any:
        updates = self.body.pop("ReplicaUpdates", None)
        if updates:
            table = self.dynamodb_backend.get_table(self.body["TableName"])
            replicas = list(getattr(table, "dbops_replicas", None) or [])
            for update in updates:
                create, delete = (update or {}).get("Create"), (update or {}).get("Delete")
                if create and create.get("RegionName") not in replicas:
                    replicas.append(create["RegionName"])
                if delete and delete.get("RegionName") in replicas:
                    replicas.remove(delete["RegionName"])
            table.dbops_replicas = replicas
        return update_table(self)

    DynamoHandler.update_table = update_table_replicas

    def describe_global_table(self: Any) -> Any:
        """DescribeGlobalTable (global tables version 2017.11.29): the lab has none of that version, so it answers
        as the service does for a table that is not one."""
        from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException

        raise DynamodbException(ERROR_TYPE_PREFIX + "GlobalTableNotFoundException",
                                f"Global table not found: {self.body.get('GlobalTableName')}")

    DynamoHandler.describe_global_table = describe_global_table


def register() -> None:
    settings.register(APP_TABLE, "", "a DynamoDB table the lab's emulated application uses ('' : none); see ddb_app_wcu, ddb_app_rcu",
                      pattern=TABLE_NAME, pattern_doc="a DynamoDB table name (3 to 255 letters, digits, _ . -)")
    rate = {"minimum": 0, "maximum": 40000}
    settings.register(APP_WCU, 0.0, "write units a second the emulated application sends to ddb_app_table (throttled as any client)", **rate)
    settings.register(APP_RCU, 0.0, "read units a second the emulated application sends to ddb_app_table (throttled as any client)", **rate)


def install() -> None:
    register()
    _install_replicas()
    settings.on_change(lambda: _ensure_running() if settings.get(APP_TABLE) else None)
