"""What a restore drill may cost, from the price catalog, before anything is created.

A bound, not a forecast: the restored resources are priced for the longest the drill may keep
them (its restore timeout and its deletion wait; with --keep, until the copy expires), at the
size the service last reported for the source (Aurora VolumeBytesUsed from CloudWatch,
DynamoDB TableSizeBytes, refreshed about every six hours).

- Aurora: the one instance's hours at its class's price (Aurora bills instances per second,
  at least 10 minutes) and the cluster volume's storage for those hours.
- DynamoDB: the GB restored at the restore price (the table, and its indexes when they are
  restored too), the restored table's storage for those hours, and — when the restored
  table keeps provisioned capacity — that capacity for those hours.
- An AWS Backup round trip adds its recovery point: backup storage for the point's 1-day
  lifecycle (the drill deletes it sooner).
"""

from __future__ import annotations

from dataclasses import dataclass

from ops.cost.estimate import HOURS_PER_MONTH, NotPriced, Pricer
from ops.errors import UsageError

GB = 1024 ** 3
MIN_INSTANCE_HOURS = 10 / 60  # Aurora's minimum charge for an instance
POINT_LIFECYCLE_HOURS = 24.0


@dataclass(frozen=True)
class RestoreCost:
    usd: float
    basis: str  # how the figure was made, in words: printed before the drill starts


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


def aurora(catalog: dict, instance_class: str, volume_bytes: float, hours: float, backup_point: bool = False) -> RestoreCost:
    p = _pricer(catalog)
    gb = volume_bytes / GB
    billed = max(hours, MIN_INSTANCE_HOURS)
    instance = _price(p, f"rds.aurora-postgresql.{instance_class}") * billed
    storage = gb * _price(p, "rds.aurora.storage") * hours / HOURS_PER_MONTH
    usd = instance + storage
    basis = (f"1 x {instance_class} for {billed:.2f} h ({instance:.4f} USD) + {gb:.2f} GB cluster volume "
             f"(VolumeBytesUsed) for {hours:.2f} h ({storage:.4f} USD)")
    if backup_point:
        point = gb * _price(p, "rds.aurora.backup_storage") * POINT_LIFECYCLE_HOURS / HOURS_PER_MONTH
        usd += point
        basis += f" + the recovery point, {gb:.2f} GB for at most {POINT_LIFECYCLE_HOURS:g} h ({point:.4f} USD)"
    return RestoreCost(usd, basis)


def dynamodb(catalog: dict, table_bytes: float, index_bytes: float, hours: float, with_indexes: bool,
             provisioned: tuple[float, float] | None = None, backup_point: bool = False) -> RestoreCost:
    """provisioned: the (WCU, RCU) the restored table keeps; None when it is restored on demand."""
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
    return RestoreCost(usd, basis)


def refuse_if_costly(what: str, cost: RestoreCost, max_cost_usd: float) -> None:
    """One line, exit 2, before anything is created."""
    if cost.usd > max_cost_usd:
        raise UsageError(f"{what} would cost up to {usd(cost.usd)} USD ({cost.basis}), above --max-cost {max_cost_usd:g} USD: "
                         "nothing was created; raise --max-cost (policy max_drill_cost_usd) or shorten --timeout")
