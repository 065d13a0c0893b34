"""What a restore drill may cost, from the price catalog, before anything is created.

A bound, not a forecast: the restored resources are priced for the longest they may live, which
is until their expiry tag (the drill deletes them sooner, but a cleanup that fails leaves them to
the janitor, which takes them only once expired; with --keep they live until then by design), at
the size the service last reported for the source (Aurora VolumeBytesUsed from CloudWatch,
DynamoDB TableSizeBytes, refreshed about every six hours).

- Aurora: the one instance's hours at its class's price (Aurora bills instances per second,
  at least 10 minutes) and the cluster volume's storage for those hours. A source on Aurora
  I/O-Optimized (StorageType aurora-iopt1) restores as I/O-Optimized: the instance at the
  catalog's I/O-Optimized factor, the volume at the I/O-Optimized storage price.
- DynamoDB: the GB restored at the restore price (the table, and its indexes when they are
  restored too), the restored table's storage for those hours, and — when the restored
  table keeps provisioned capacity — that capacity for those hours. TableSizeBytes trails the
  table by up to six hours: 0 bytes for a table that has items (ItemCount > 0) is not a size, so
  the size is "not measured" and the restore is refused unless --max-cost is given explicitly
  (the operator's own bound, said in the cost line); a table created within those six hours is
  priced at the size reported, and the cost line says that size may not count its newest writes.
- An AWS Backup round trip adds its recovery point: backup storage for the point's 1-day
  lifecycle (the drill deletes it sooner).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ops.cost.estimate import HOURS_PER_MONTH, NotPriced, Pricer
from ops.errors import UsageError

GB = 1024 ** 3
MIN_INSTANCE_HOURS = 10 / 60  # Aurora's minimum charge for an instance
POINT_LIFECYCLE_HOURS = 24.0
SIZE_REFRESH_HOURS = 6.0  # DynamoDB refreshes TableSizeBytes and ItemCount about this often
IO_OPTIMIZED = "aurora-iopt1"


@dataclass(frozen=True)
class RestoreCost:
    usd: float
    basis: str  # how the figure was made, in words: printed before the drill starts
    not_measured: str | None = None  # why the size, hence the bound, is not measured: refused unless --max-cost is explicit


@dataclass(frozen=True)
class TableSize:
    """A table's TableSizeBytes as DescribeTable reported it, and what is known of how stale it is."""

    bytes: float
    not_measured: str | None = None  # the figure is not the table's size
    caveat: str | None = None  # the figure may miss recent writes


def table_size(table: dict, now: datetime) -> TableSize:
    """TableSizeBytes of a DescribeTable answer, judged against ItemCount and the table's age."""
    size, items = float(table.get("TableSizeBytes") or 0), int(table.get("ItemCount") or 0)
    if size == 0 and items > 0:
        return TableSize(0.0, f"TableSizeBytes is 0 for {items} item(s) (ItemCount): DynamoDB has not refreshed it "
                              f"(about every {SIZE_REFRESH_HOURS:g} h), so the size restored is not measured")
    created = table.get("CreationDateTime")
    if isinstance(created, datetime):
        age_h = (now - (created if created.tzinfo else created.replace(tzinfo=timezone.utc))).total_seconds() / 3600
        if age_h < SIZE_REFRESH_HOURS:
            return TableSize(size, caveat=f"the table was created {age_h:.1f} h ago, within DynamoDB's {SIZE_REFRESH_HOURS:g}-hour "
                                          "refresh of TableSizeBytes: writes since its last refresh are not counted")
    return TableSize(size)


def usd(amount: float) -> str:
    """An amount in USD, small ones in significant digits (a few bytes restored cost a fraction of a cent)."""
    return f"{amount:.4f}" if amount >= 0.0001 or amount == 0 else f"{amount:.2g}"


def _pricer(catalog: dict) -> Pricer:
    return Pricer(catalog, {})


def _price(pricer: Pricer, key: str) -> float:
    try:
        return pricer.price(key)
    except NotPriced as exc:
        raise UsageError(f"the restore cannot be priced, so its cost cannot be bounded: {exc}") from None


def aurora(catalog: dict, instance_class: str, volume_bytes: float, hours: float, backup_point: bool = False,
           storage_type: str | None = None) -> RestoreCost:
    """storage_type: the source's StorageType; aurora-iopt1 restores as I/O-Optimized and is priced so."""
    p = _pricer(catalog)
    gb = volume_bytes / GB
    billed = max(hours, MIN_INSTANCE_HOURS)
    optimized = storage_type == IO_OPTIMIZED
    factor = p.factor("rds.aurora.iopt1.instance_factor") if optimized else 1.0
    instance = _price(p, f"rds.aurora-postgresql.{instance_class}") * factor * billed
    storage = gb * _price(p, "rds.aurora.storage.iopt1" if optimized else "rds.aurora.storage") * hours / HOURS_PER_MONTH
    usd = instance + storage
    kind = f" on I/O-Optimized (x{factor:g})" if optimized else ""
    basis = (f"1 x {instance_class}{kind} for {billed:.2f} h ({instance:.4f} USD) + {gb:.2f} GB cluster volume "
             f"(VolumeBytesUsed{', I/O-Optimized storage' if optimized else ''}) for {hours:.2f} h ({storage:.4f} USD)")
    if backup_point:
        point = gb * _price(p, "rds.aurora.backup_storage") * POINT_LIFECYCLE_HOURS / HOURS_PER_MONTH
        usd += point
        basis += f" + the recovery point, {gb:.2f} GB for at most {POINT_LIFECYCLE_HOURS:g} h ({point:.4f} USD)"
    return RestoreCost(usd, basis)


def dynamodb(catalog: dict, table_bytes: float | TableSize, index_bytes: float, hours: float, with_indexes: bool,
             provisioned: tuple[float, float] | None = None, backup_point: bool = False) -> RestoreCost:
    """provisioned: the (WCU, RCU) the restored table keeps; None when it is restored on demand."""
    size = table_bytes if isinstance(table_bytes, TableSize) else TableSize(float(table_bytes))
    table_bytes = size.bytes
    p = _pricer(catalog)
    gb = (table_bytes + (index_bytes if with_indexes else 0.0)) / GB
    restore = gb * _price(p, "dynamodb.restore")
    storage = gb * _price(p, "dynamodb.storage") * hours / HOURS_PER_MONTH
    usd = restore + storage
    what = "the table and its indexes" if with_indexes else "the table without its secondary indexes"
    basis = f"{gb:.3f} GB restored ({what}, TableSizeBytes) ({restore:.4f} USD) + its storage for {hours:.2f} h ({storage:.4f} USD)"
    if provisioned is not None and any(provisioned):
        wcu, rcu = provisioned
        capacity = (wcu * _price(p, "dynamodb.provisioned.wcu") + rcu * _price(p, "dynamodb.provisioned.rcu")) * hours
        usd += capacity
        basis += f" + {wcu:g} WCU and {rcu:g} RCU provisioned for {hours:.2f} h ({capacity:.4f} USD)"
    else:
        basis += "; on demand: no capacity charge"
    if backup_point:
        point = (table_bytes + index_bytes) / GB * _price(p, "backup.storage") * POINT_LIFECYCLE_HOURS / HOURS_PER_MONTH
        usd += point
        basis += f" + the recovery point for at most {POINT_LIFECYCLE_HOURS:g} h ({point:.4f} USD)"
    if size.not_measured:
        basis = f"size not measured: {size.not_measured}; priced as {basis}, a lower bound"
    elif size.caveat:
        basis += f"; {size.caveat}"
    return RestoreCost(usd, basis, size.not_measured)


def refuse_if_costly(what: str, cost: RestoreCost, max_cost_usd: float, explicit: bool = False) -> None:
    """One line, exit 2, before anything is created. A cost whose size is not measured is no bound: refused
    unless --max-cost was given explicitly, the operator's own bound for a size dbops cannot read."""
    if cost.not_measured and not explicit:
        raise UsageError(f"{what}: {cost.not_measured}, so its cost cannot be bounded: nothing was created; "
                         "give --max-cost explicitly to accept a restore of a size not measured")
    if cost.usd > max_cost_usd:
        raise UsageError(f"{what} would cost up to {usd(cost.usd)} USD ({cost.basis}), above --max-cost {max_cost_usd:g} USD: "
                         "nothing was created; raise --max-cost (policy max_drill_cost_usd) or shorten --timeout")
