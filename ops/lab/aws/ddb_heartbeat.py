"""The lab's DynamoDB heartbeat: one marker item a second into each table with point-in-time recovery on.

A real table always has items being written; the lab gets them from this thread of the emulator
process, started when a table first turns point-in-time recovery on and living as long as the
emulator does. Each item is a heartbeat marker (ops.data.ddb_markers: source `heartbeat`, seq =
the epoch second, one deterministic key per second), so a restore test reads the ones around its
T by key. They are written in the second half of their second: RestoreDateTime travels as whole
seconds (boto3 sends the JSON protocol's timestamps as integer epoch seconds), and an item written
at S + f with f >= 0.5 that a drill judges at or before its T (written at least 0.5 s before T) was
written before T's whole second too, so it is in a restore to that second.

Seconds and write times are on the service's clock (ops.lab.aws.service_clock): the heartbeat stands
for an application whose clock agrees with the service's.

The `ddb_heartbeat` lab setting turns it off (a table then looks like one on AWS where nothing
writes those keys).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from ops.lab.aws import service_clock, settings

SETTING = "ddb_heartbeat"
# A heartbeat item is written between half a second and this far into its second: its write time
# and the time its history entry is kept at stay in the same second.
LATEST_IN_SECOND = 0.9
log = logging.getLogger(__name__)
_thread: threading.Thread | None = None
_lock = threading.Lock()


def install() -> None:
    """Register the setting; the writer starts when a table first turns point-in-time recovery on (idempotent)."""
    from ops.lab.aws import ddb_pitr

    settings.register(SETTING, True, "write one heartbeat marker item a second into each table with point-in-time recovery on")
    if ensure_started not in ddb_pitr.ON_ENABLED:
        ddb_pitr.ON_ENABLED.append(ensure_started)


def ensure_started() -> None:
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="dbops-ddb-heartbeat", daemon=True)
            _thread.start()


def _tables() -> list[Any]:
    from moto.dynamodb.models import dynamodb_backends

    from ops.lab.aws.ddb_pitr import history

    out = []
    for regions in list(dynamodb_backends.values()):
        for backend in list(regions.values()):
            out += [t for t in list(backend.tables.values()) if history(t) is not None]
    return out


def beat(second: int) -> int:
    """Write the heartbeat item of `second` into every table with history, each in the second half of
    that second (a table reached later waits for the next beat). Returns how many were written."""
    from moto.dynamodb.exceptions import ConditionalCheckFailed

    from ops.data import ddb_markers
    from ops.lab.aws.ddb_pitr import history

    written = 0
    for table in _tables():
        h = history(table)
        now = service_clock.now()
        if h is None or not second + 0.5 <= now < second + LATEST_IN_SECOND:
            continue
        item = ddb_markers.heartbeat_item({"KeySchema": table.schema, "AttributeDefinitions": table.attr}, second, now)
        try:
            table.put_item(item, condition_expression="attribute_not_exists(#k)",
                           expression_attribute_names={"#k": table.hash_key_attr})
            written += 1
        except ConditionalCheckFailed:
            pass  # this second's item is there already
        except Exception:  # noqa: BLE001 — one odd table must not stop the heartbeat of the others
            log.exception("heartbeat into %s failed", table.name)
    return written


def _sweep(now: float) -> None:
    from ops.lab.aws.ddb_pitr import SWEEP_EVERY_S, history

    for table in _tables():
        h = history(table)
        if h is not None and now - h.swept_at >= SWEEP_EVERY_S:
            h.sweep(now)


def _run() -> None:
    while True:
        now = service_clock.now()
        wake = math.floor(now - 0.5) + 1.5 + 0.01  # just past the next half second of the service's clock
        time.sleep(max(0.0, wake - now))
        second = int(wake)
        try:
            if settings.get(SETTING):
                beat(second)
            _sweep(time.time())
        except Exception:  # noqa: BLE001 — the emulator resets its backends under us; keep beating
            log.exception("DynamoDB heartbeat")
