"""A fast clone of a PostgreSQL source at a chosen time T, for an export of T that never reads the writer.

The restore drill's machinery makes it (a target's Restorable operations, ops.targets.registry.open_restorable):
Aurora's RestoreDBClusterToPointInTime plus one small instance, the lab's localpg a point-in-time recovery of its
base backup and WAL archive into a new server. On Aurora a clone of the latest restorable time is copy-on-write
(it shares the source's pages until either writes them, and is ready in minutes whatever the size); RDS takes an
explicit RestoreToTime only as a full copy, so a clone at an explicit T is one.

Like a drill's restore, a clone is
- priced before anything is created, for the longest it may live (until its expiry tag), and refused above the
  policy's max_drill_cost_usd (ops.cost.restore);
- noted in a drill record (ops.lease) before it is asked for, and tagged at creation (dbops:drill-id,
  dbops:expires-at, dbops:owner), so `dbops janitor` finds and deletes what a killed run left; while the run
  lives it holds the lease `etl-clone:SOURCE`, which tells a janitor on any host not to touch it (and lets one
  clone of a source exist at a time);
- deleted on the way out, errors and Ctrl-C included (interrupts wait for the deletion); a deletion that fails
  or is not seen done within DELETE_WAIT_S is said and left to the janitor, with its record.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, NamedTuple

from ops.errors import UsageError, describe
from ops.lease import DRILL_TAG, EXPIRES_TAG, OWNER_TAG, Record, expiry, expiry_hours, lease_key, ledger_for, new_drill_id
from ops.proc import deferred_interrupts, owner_id

ID_KIND = "etl"  # a clone's id: etl-YYYYMMDDTHHMMSSZ-xxxxxx, its name's suffix and its dbops:drill-id tag
LEASE_KIND = "etl-clone"
DELETE_WAIT_S = 600.0
Progress = Callable[[str], None]


class Clone(NamedTuple):
    dsn: str  # reaches the clone; read it with ops.etl.extract_pg.Reader(dsn, label, clone_of=t)
    label: str
    t: datetime  # everything committed at the source by t is in the clone (UTC)


def choose_time(restorable: Any, at: datetime | None) -> datetime | None:
    """T as asked, refused (one line) unless it is in the past on the service's clock and not before the source's
    earliest restorable time. None: the latest restorable time, for a kind whose service restores to it."""
    ref = restorable.ref
    if at is None:
        if not restorable.restores_to_latest:
            raise UsageError(f"{ref} is cloned to an explicit time only: give --at")
        return None
    t = at.astimezone(timezone.utc)
    if not restorable.exact_times:
        t = t.replace(microsecond=0)
    now = restorable.now()
    if t >= now:
        raise UsageError(f"--at {t.isoformat()} is not in the past on {ref}'s clock (now {now.isoformat()}): nothing to clone yet")
    earliest, _ = restorable.restorable_window()
    if earliest is None:
        raise UsageError(f"{ref} has no earliest restorable time (no backup to restore from): it cannot be cloned at a point in time")
    if t < earliest:
        raise UsageError(f"--at {t.isoformat()} is before the earliest restorable time of {ref} ({earliest.isoformat()}): "
                         "outside its restorable window")
    return t


@contextmanager
def clone_at(cfg: Any, env: Any, source: str, at: datetime | None, progress: Progress,
             timeout_s: float | None = None, secret_arn: str | None = None) -> Iterator[Clone]:
    """A clone of source (KIND:NAME, a PostgreSQL kind) at `at` (None: its latest restorable time, where the
    service restores to it), available for the block and deleted after it. Bad input and a cost above the policy
    are UsageErrors raised before anything is created. secret_arn: the master secret of an Aurora source, where
    neither the env's Terraform outputs nor an RDS-managed secret give it (the clone keeps the source's)."""
    from ops.cost.estimate import load_catalog
    from ops.cost.restore import refuse_if_costly, usd
    from ops.targets import parse_target
    from ops.targets.registry import open_restorable

    ref = parse_target(source)
    if ref.kind == "dynamodb":
        raise UsageError(f"{source}: a DynamoDB table is exported at T by ExportTableToPointInTime, not cloned")
    restorable = open_restorable(cfg, env, source, secret_arn, clone=True)
    if hasattr(restorable, "probe"):
        restorable.probe()
    t = choose_time(restorable, at)
    timeout = timeout_s or restorable.default_timeout_s
    hours = expiry_hours(timeout + DELETE_WAIT_S)  # until its expiry tag: what a janitor waits for after a failed delete
    cost = restorable.restore_cost(hours, load_catalog(env.region))
    refuse_if_costly(f"cloning {ref}", cost, cfg.policy.max_drill_cost_usd)
    progress(f"clone of {ref}: at most {usd(cost.usd)} USD (max_drill_cost_usd {cfg.policy.max_drill_cost_usd:g}): {cost.basis}")

    clone_id = new_drill_id(ID_KIND)
    tags = {DRILL_TAG: clone_id, EXPIRES_TAG: expiry(hours), OWNER_TAG: owner_id()}
    ledger = ledger_for(cfg, env)
    with ledger.acquire(f"{LEASE_KIND}:{lease_key(str(ref))}", clone_id, hours=hours):
        handle = restorable.plan_restore(clone_id)
        ledger.put_record(Record(clone_id, str(ref), env.name, owner_id(), tags[EXPIRES_TAG],
                                 resources=[{"kind": "restore", "name": handle.name}]))
        asked = False  # once the restore is asked for, a clone may exist: the cleanup deletes it by name
        try:
            if t is not None:
                restorable.make_restorable(t, timeout, progress)
            how = "copy-on-write" if t is None and getattr(restorable, "copy_on_write", False) else "point-in-time restore"
            progress(f"cloning {ref} to {t.isoformat() if t else 'its latest restorable time'} as {handle.name} ({how}), "
                     f"tagged {DRILL_TAG}={clone_id}")
            asked = True
            handle = restorable.start_restore(handle, t, tags, progress)
            handle = restorable.wait_restored(handle, timeout, progress)
            if t is None:
                # RDS does not say which time it took: at least the latest restorable time read before the call.
                t = handle.restored_to
            progress(f"clone {handle.name} is available, at {t.isoformat()}")
            yield Clone(restorable.restored_dsn(handle), f"the clone {handle.name} of {ref}", t)
        finally:
            with deferred_interrupts(progress, f"deleting the clone {handle.name}"):
                gone = _delete(restorable, handle, clone_id, progress) if asked else True
            if gone:
                ledger.delete_record(clone_id)


def _delete(restorable: Any, handle: Any, clone_id: str, progress: Progress) -> bool:
    """Delete the clone and wait to see it gone; False (said) leaves it and its record to the janitor."""
    from ops.clock import wait_until

    progress(f"deleting the clone {handle.name}")
    try:
        restorable.delete(handle)
        gone = wait_until(lambda: restorable.deleted(handle), timeout=DELETE_WAIT_S, interval=2)
    except Exception as exc:  # noqa: BLE001 — left to the janitor, and said
        progress(f"deleting the clone {handle.name} failed ({describe(exc) or exc}): `dbops janitor` deletes it (id {clone_id})")
        return False
    if not gone:
        progress(f"the clone {handle.name} is still being deleted after {DELETE_WAIT_S:.0f} s: `dbops janitor` finishes it (id {clone_id})")
        return False
    progress(f"the clone {handle.name} was deleted (seen gone)")
    return True
