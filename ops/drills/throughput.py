"""The throughput drill: a DynamoDB table at a multiple of its recent peak, judged as its clients see it.

baseline -> cost (refused above --max-cost before anything is written) -> pre-checks -> drill record
-> manifest -> load: writes and reads of the drill's own items, ramped from the peak to the multiple
over --ramp seconds, then held at the multiple for --time seconds -> verdicts -> the items deleted
-> CloudWatch read back -> the cost of what was consumed.

The baseline is the table's peak over the last --window-hours (24 by default: a day's cycle):
CloudWatch's one-minute Sum of ConsumedWriteCapacityUnits and ConsumedReadCapacityUnits (namespace
AWS/DynamoDB, dimension TableName) divided by 60 — the service's own way to a rate ("get the Sum value
over a span of one minute, and divide it by ... 60", DynamoDB developer guide, "DynamoDB metrics and
dimensions"); a spike shorter than a minute is averaged into its minute. Minutes during earlier
throughput drills of the same target (from the report directory) are left out: a drill does not
multiply its own load. A table with no consumed capacity in the window has no peak: the drill refuses
to guess and asks for --baseline-wcu / --baseline-rcu (units a second); a table with writes but no
reads (or the reverse) gets no load of the side it lacks, and says so.

Objectives (not judged means inconclusive, never a pass):
- TP-THROTTLES: no request of the drill throttled (ProvisionedThroughputExceededException,
  ThrottlingException, RequestLimitExceeded), counted one by one by a client with retries off.
- TP-P95: p95 latency of the successful writes and of the reads at the multiple, each at most the
  policy's throughput_p95_ms.
- TP-RATE: the units the table served over the hold at least what a rate within
  throughput_rate_tolerance of the target gives, less four standard deviations of that count's
  Poisson spread (the latency drill's LAT-RATE floor): a few requests over a short hold may fall
  short by chance, and that is no limit of anyone's. When the client did not even send that many
  (the emulator's or this process's own limit), the rate is unknown and the drill inconclusive; when
  it sent them and the table did not serve them, it failed. A hold that schedules too few requests
  for the floor to be above zero judges nothing: the rate is not measured, with the count it needs.

Cost: on-demand, the request units consumed at the catalog's prices (ops/cost/prices.json: 0.625
USD per million write request units, 0.125 per million read request units); provisioned, nothing on
top of the capacity the table pays for whether it is used or not, unless Application Auto Scaling
may raise it: then the capacity up to the scalable maximum, for the drill and an hour after it (the
scale-in waits for low use, and capacity is billed by the hour) — an upper bound.

A provisioned table shares its capacity with the application: a load beyond it throttles the
application's requests too, and autoscaling follows only minutes later. The drill is budgeted
against what the application leaves: the capacity less a headroom (a fifth, for the application's
own swings) less what the table consumes now (the busiest of the last five minutes CloudWatch has
published, the minute under way over the seconds it has run, earlier drills' minutes counted whole:
the application's consumption is in them too, and a drill still loading holds the lease; when it
has published none of them, the day's peak stands for it: a minute not yet published is never "nothing
consumed"). A load above
that budget is refused before anything is written (PRE-CAPACITY fails) unless --allow-throttling says that is the point. On demand, the same
sum is held against the warm throughput less the headroom and the maximum on-demand throughput
(OnDemandThroughput): above either, PRE-CAPACITY fails unless --allow-throttling, as the service
throttles there and the application with the drill; a warm throughput the table does not report
leaves PRE-CAPACITY unknown (not measured), never a pass. Autoscaling that could not be
read is priced up to the per-table quota.

Another client's throttles stop the drill where CloudWatch shows them: while the load runs, the
table's WriteThrottleEvents and ReadThrottleEvents are read every few seconds and compared with the
throttles the drill's own client counted, by when it sent them (OtherClients: a throttle of the
drill's can be in CloudWatch only if its request was sent before the read). Any event beyond the
drill's own is another client's: the load halts, the report says why (TP-OTHER-CLIENTS fails) and the
drill ends aborted (exit 3). Only a minute CloudWatch has published is watched (its data point of the
drill's own consumption marks it published); CloudWatch publishes DynamoDB's minutes a minute or more
late on AWS, so a drill shorter than that lag watches none: TP-OTHER-CLIENTS is then unknown (not
measured), as it is when any read failed, and the minutes read back after the load
(TP-TABLE-THROTTLES) are the only check of other clients' throttles.

A global table (DescribeTable lists Replicas; a table of version 2017.11.29, which DescribeTable does not
describe as global, from DescribeGlobalTable) copies every write of the drill to each replica, whose
capacity and bill take them too: it is refused (PRE-REPLICAS) unless --allow-replicas, and then each
write is priced once more per replica (replicated write request units on demand, replicated write
capacity that autoscaling may add when provisioned, at the write prices of each replica's region in
the catalog, which AWS charges for them alike; a replica region the catalog lacks refuses the drill);
cross-region transfer of the replicated items is not priced.

A global secondary index whose key attributes the drill's items all carry (the table's key, the drill's
own dbops_* attributes, the TTL attribute) takes every write of the drill: its capacity is not budgeted
(a provisioned index that cannot keep up throttles the table's writes, the application's too), so it is
refused (PRE-GSI) unless --allow-gsi-writes, and then each write is priced once more per index (on
demand; provisioned, the index's capacity is paid anyway and what its autoscaling may add is not
priced). Writes ask for ReturnConsumedCapacity=INDEXES and count the table's own units, so an index's
are not counted twice. The indexes' own throttle events are not watched.

Earlier drills' minutes are found in two places: the report directory, and the ledger's drill
windows (ops.lease: kept 15 days, in an AWS env's lease table, so drills run from another host count).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from ops.data.ddb_load import READ_TIMEOUT_S, MAX_ITEMS, LoadTarget, MinuteSum, Removed, TableInfo, Tally, planned_requests
from ops.drills.common import deferred_interrupts, expiry, fewest_by_chance, stand_down
from ops.errors import CannotRun, UsageError
from ops.lease import Record
from ops.percentiles import percentile
from ops.proc import owner_id
from ops.report import Journal, Report, headline, measured

OBJECTIVES = ("TP-THROTTLES", "TP-P95", "TP-RATE")
MIN_SAMPLES = 20  # fewer successful requests of a kind at the multiple: no p95 to judge
TABLE_QUOTA_UNITS = 40000.0  # default per-table read and write capacity quota (Service Quotas, DynamoDB)
BURST_S = 300  # provisioned tables keep "up to 5 minutes (300 seconds) of unused read and write capacity"
METRICS = {"write": "ConsumedWriteCapacityUnits", "read": "ConsumedReadCapacityUnits"}
THROTTLE_METRICS = {"write": "WriteThrottleEvents", "read": "ReadThrottleEvents"}
UNIT = {"write": "WCU", "read": "RCU"}
CAPACITY_HEADROOM = 0.2  # of a table's capacity, never budgeted to a drill: the application's own swings
PARTIAL_MINUTE_S = 10.0


@dataclass(frozen=True)
class ThroughputOptions:
    multiplier: float = 10.0
    ramp_s: float = 30.0
    hold_s: float = 60.0
    window_h: float = 24.0
    baseline_wcu: float | None = None  # units a second; None: the CloudWatch peak
    baseline_rcu: float | None = None
    p95_ms: float = 20.0
    tolerance: float = 0.1
    max_cost_usd: float = 1.0
    metrics_wait_s: float = 120.0
    expires_hours: float = 6.0
    allow_throttling: bool = False  # a provisioned table's capacity may be exceeded, the application's requests throttled
    allow_replicas: bool = False  # a global table may be loaded: every write is replicated to each replica
    allow_gsi_writes: bool = False  # a table whose global secondary indexes take the drill's items may be loaded
    current_minutes: float = 5.0  # how far back "what the table consumes now" is read
    headroom: float = CAPACITY_HEADROOM
    watch_every_s: float = 2.0  # how often another client's throttles are looked for during the load


@dataclass(frozen=True)
class Baseline:
    wcu: float
    rcu: float
    wcu_from: str
    rcu_from: str
    window_start: datetime
    window_end: datetime
    excluded_minutes: int
    current_wcu: float = 0.0  # what the table consumes now (the busiest recent minute / 60), drills left out
    current_rcu: float = 0.0
    current_from: str = "not read"


@dataclass(frozen=True)
class Cost:
    write_units: float
    read_units: float
    usd: float
    note: str


@dataclass(frozen=True)
class Plan:
    info: TableInfo
    baseline: Baseline
    multiplier: float
    writes: tuple[float, float]  # units a second at the start of the ramp and at the multiple
    reads: tuple[float, float]
    ramp_s: float
    hold_s: float
    items: int  # load items the drill may write (each rewritten about once a second)
    planned_writes: int
    planned_reads: int
    workers: int
    estimate: Cost

    @property
    def target_wcu(self) -> float:
        return self.writes[1]

    @property
    def target_rcu(self) -> float:
        return self.reads[1]


# --- before anything is written ---------------------------------------------------------------------


# a refused drill's report says so: it sent nothing, so its minutes are not left out of the peak
NOT_STARTED = "not started"


def peak(sums: list[MinuteSum], excluded: list[tuple[datetime, datetime]]) -> tuple[float, MinuteSum | None, int]:
    """The highest one-minute Sum / 60 outside the excluded intervals: (units a second, its minute, minutes left out)."""
    kept, dropped = [], 0
    for m in sums:
        end = m.at + timedelta(minutes=1)
        if any(m.at < b and a < end for a, b in excluded):
            dropped += 1
        else:
            kept.append(m)
    best = max(kept, key=lambda m: m.total, default=None)
    return (best.total / 60.0 if best else 0.0), best, dropped


def baseline(target: LoadTarget, opts: ThroughputOptions, excluded: list[tuple[datetime, datetime]],
             now: datetime | None = None) -> Baseline:
    """The table's recent peak from CloudWatch, or what the flags say; refuses a table with no traffic."""
    now = now or datetime.now(timezone.utc)
    start = now - timedelta(hours=opts.window_h)
    given = {"write": opts.baseline_wcu, "read": opts.baseline_rcu}
    rate: dict[str, float] = {}
    source: dict[str, str] = {}
    dropped = 0
    for kind in ("write", "read"):
        flag = f"--baseline-{UNIT[kind].lower()}"
        if given[kind] is not None:
            rate[kind], source[kind] = float(given[kind]), f"{flag} {given[kind]:g}"
            continue
        per_s, minute, left_out = peak(target.minute_sums(METRICS[kind], start, now), excluded)
        dropped = max(dropped, left_out)
        rate[kind] = per_s
        source[kind] = (f"CloudWatch {METRICS[kind]}: {minute.total:g} units in the minute of {minute.at:%Y-%m-%d %H:%M} UTC / 60 s"
                        if minute and per_s > 0 else f"no {METRICS[kind]} in CloudWatch over the last {opts.window_h:g} h")
    if rate["write"] <= 0 and rate["read"] <= 0:
        raise UsageError(f"dynamodb:{target.name} consumed no capacity over the last {opts.window_h:g} h (CloudWatch AWS/DynamoDB "
                         "ConsumedWriteCapacityUnits and ConsumedReadCapacityUnits): there is no peak to multiply; "
                         "give --baseline-wcu and/or --baseline-rcu (units a second) or a longer --window-hours")
    current, current_from = current_use(target, opts, excluded, now)
    return Baseline(rate["write"], rate["read"], source["write"], source["read"], start, now, dropped,
                    current["write"], current["read"], current_from)


def current_use(target: LoadTarget, opts: ThroughputOptions, excluded: list[tuple[datetime, datetime]],
                now: datetime) -> tuple[dict[str, float], str]:
    """What the table consumes now: the busiest one-minute Sum / 60 of the minutes CloudWatch has published of
    the last opts.current_minutes (the minute under way over the seconds it has run). Earlier drills' minutes
    are counted whole: the application's own consumption is in them too, and leaving them out read a table the
    application keeps busy as idle right after a drill. A drill still loading the table holds its lease, so
    none is under way here; one that just ended makes the current use read high (the safe side) for a few
    minutes. Only the peak (baseline) leaves drills' minutes out, so a drill never multiplies its own load.
    `excluded` is taken for the fallback below, which is a peak. A minute with no data point is not "nothing consumed": CloudWatch publishes DynamoDB's minutes a
    minute or more late. A minute is published when either consumed metric has a data point in it (the
    newest such minute marks how far CloudWatch has got); when none of the recent minutes is, the peak of
    the last opts.window_h hours stands for the current use. Only a table with no data point over those hours
    at all (DynamoDB publishes none for a minute nobody used) is taken to consume nothing."""
    day = now - timedelta(hours=opts.window_h)
    start = now - timedelta(minutes=opts.current_minutes)
    series = {k: target.minute_sums(METRICS[k], day, now + timedelta(minutes=1)) for k in METRICS}
    published = sorted({m.at for sums in series.values() for m in sums})
    if not published:
        return {"write": 0.0, "read": 0.0}, (f"nothing: CloudWatch has no ConsumedWriteCapacityUnits or ConsumedReadCapacityUnits "
                                             f"data point over the last {opts.window_h:g} h (a minute nobody used has none)")
    newest = published[-1]
    recent = {t for t in published if t + timedelta(minutes=1) > start}
    rate, parts = {}, []
    if not recent:
        for kind in METRICS:
            rate[kind], minute, _ = peak(series[kind], excluded)
            parts.append(f"{rate[kind]:.3f} {UNIT[kind]}/s" + (f" (minute of {minute.at:%H:%M} UTC)" if minute and rate[kind] > 0 else ""))
        return rate, (f"{' and '.join(parts)}, the peak of the last {opts.window_h:g} h (earlier drills' minutes left out): CloudWatch "
                      f"has published no minute of the last {opts.current_minutes:g} (the newest it has is "
                      f"{newest:%H:%M} UTC), so the current use is not known and the peak stands for it")
    for kind in METRICS:
        per_s, busiest = 0.0, None
        for m in series[kind]:
            if m.at not in recent:
                continue
            # the minute under way: its Sum over the seconds it has run so far (at least PARTIAL_MINUTE_S, so a
            # request or two in its first second is not taken for a rate)
            seconds = max(PARTIAL_MINUTE_S, (now - m.at).total_seconds()) if m.at + timedelta(minutes=1) > now else 60.0
            if m.total / seconds > per_s:
                per_s, busiest = m.total / seconds, m
        rate[kind] = per_s
        parts.append(f"{per_s:.3f} {UNIT[kind]}/s" + (f" (minute of {busiest.at:%H:%M} UTC)" if busiest and per_s > 0 else ""))
    first, last = min(recent), max(recent)
    return rate, (f"{' and '.join(parts)}, the busiest of the {len(recent)} minute(s) CloudWatch has published of the last "
                  f"{opts.current_minutes:g} ({first:%H:%M} to {last:%H:%M} UTC; the minute under way over the seconds it has run)")


class _Prices:
    """The catalog region's prices; one it lacks stops the drill before it runs (its cost cannot be bounded)."""

    def __init__(self, catalog: dict[str, Any]) -> None:
        self.prices, self.region = catalog["prices"], catalog.get("region", "?")

    def usd(self, key: str) -> float:
        if key not in self.prices:
            raise UsageError(f"the price catalog has no price '{key}' for {self.region}: the drill's cost cannot be bounded")
        return float(self.prices[key]["usd"])


def _replica_prices(info: TableInfo, replica_catalogs: dict[str, dict[str, Any]] | None) -> list[_Prices]:
    """Each replica's region's prices (the catalog's own, loaded when not given); a region the catalog lacks
    stops the drill in one line: another region's price never stands in for it."""
    from ops.cost.estimate import load_catalog
    from ops.errors import ConfigError

    out = []
    for region in info.replicas:
        try:
            out.append(_Prices((replica_catalogs or {}).get(region) or load_catalog(region)))
        except ConfigError as exc:
            raise UsageError(f"replica region {region} of {info.name} cannot be priced: {exc}") from None
    return out


def price(info: TableInfo, write_units: float, read_units: float, catalog: dict[str, Any],
          targets: tuple[float, float] = (0.0, 0.0), seconds: float = 0.0,
          replica_catalogs: dict[str, dict[str, Any]] | None = None) -> Cost:
    """targets: the write and read units a second at the multiple; seconds: how long the load runs;
    replica_catalogs: the prices of each replica's region (by default from the price catalog)."""
    prices = _Prices(catalog)
    replicas = _replica_prices(info, replica_catalogs)
    copies = len(replicas)
    if info.on_demand:
        w, r = prices.usd("dynamodb.ondemand.write"), prices.usd("dynamodb.ondemand.read")
        each = [(region, rp.usd("dynamodb.ondemand.write")) for region, rp in zip(info.replicas, replicas)]
        indexes = 1 + len(info.indexes_written)  # the table's write and one in each index the item lands in
        usd = write_units * indexes * (w + sum(x for _, x in each)) / 1e6 + read_units * r / 1e6
        note = (f"on-demand: {write_units:,.0f} write request units x {w:g} USD per million + "
                f"{read_units:,.0f} read request units x {r:g} USD per million")
        if info.indexes_written:
            note += (f" + {write_units:,.0f} write request units in each of {len(info.indexes_written)} global secondary index(es) "
                     f"({', '.join(info.indexes_written)}) x {w:g} USD per million")
        if copies:
            note += (f" + {write_units * indexes:,.0f} replicated write request units in each of {copies} replica(s) ("
                     + ", ".join(f"{region} x {x:g}" for region, x in each) + " USD per million; cross-region transfer not priced)")
        return Cost(write_units, read_units, usd, note)
    hourly = (info.provisioned_wcu * prices.usd("dynamodb.provisioned.wcu")
              + info.provisioned_rcu * prices.usd("dynamodb.provisioned.rcu"))
    note = (f"provisioned: the table's {info.provisioned_wcu:g} WCU and {info.provisioned_rcu:g} RCU are paid whether used or not "
            f"({hourly:.4f} USD an hour)" + (f"; its indexes' capacity ({', '.join(info.indexes_written)}), which the drill's "
                                             "writes take too, as well (what their autoscaling may add is not priced)"
                                             if info.indexes_written else ""))
    # Capacity autoscaling may add, up to its maximum, when the load is above the provisioned capacity; when
    # it could not be read, up to the per-table quota.
    scaling = info.autoscaling if info.autoscaling is not None else {k: (0.0, TABLE_QUOTA_UNITS) for k in ("write", "read")}
    raised = {kind: max(0.0, scaling.get(kind, (0.0, current))[1] - current)
              for kind, target, current in (("write", targets[0], info.provisioned_wcu), ("read", targets[1], info.provisioned_rcu))
              if target > current}
    if not raised or not any(raised.values()):
        return Cost(write_units, read_units, 0.0, note + f"; the drill's {write_units:,.0f} write and {read_units:,.0f} read units "
                                                         "add nothing to it")
    hours = math.ceil(seconds / 3600) + 1
    # each replica's write capacity scales with the replicated writes as the table's does (replicated WCU)
    wcu = prices.usd("dynamodb.provisioned.wcu") + sum(rp.usd("dynamodb.provisioned.wcu") for rp in replicas)
    usd = hours * (raised.get("write", 0.0) * wcu + raised.get("read", 0.0) * prices.usd("dynamodb.provisioned.rcu"))
    added = " and ".join(f"{n:g} {UNIT[k]}" for k, n in raised.items() if n)
    each = f" (the write capacity in the table and each of its {copies} replica(s))" if copies and raised.get("write") else ""
    return Cost(write_units, read_units, usd, note + f"; autoscaling may add up to {added}{each} for about {hours} h "
                                                     f"(the drill and the scale-in after it): at most {usd:.4f} USD")


def plan(target: LoadTarget, opts: ThroughputOptions, catalog: dict[str, Any],
         excluded: list[tuple[datetime, datetime]] = ()) -> Plan:  # type: ignore[assignment]
    info = target.info()
    base = baseline(target, opts, list(excluded))
    writes = (base.wcu, base.wcu * opts.multiplier) if base.wcu > 0 else (0.0, 0.0)
    reads = (base.rcu, base.rcu * opts.multiplier) if base.rcu > 0 else (0.0, 0.0)
    n_writes = planned_requests(*writes, opts.ramp_s, opts.hold_s)
    n_reads = planned_requests(*reads, opts.ramp_s, opts.hold_s)
    items = max(1, min(MAX_ITEMS, math.ceil(writes[1]), n_writes or 1))
    # every load item is one write unit, every read one read unit; the manifest's put and delete and the
    # deletes of the items are writes too
    estimate = price(info, n_writes + items + 2, n_reads, catalog, (writes[1], reads[1]), opts.ramp_s + opts.hold_s)
    workers = min(64, max(8, math.ceil((writes[1] + reads[1]) * 0.1)))
    return Plan(info, base, opts.multiplier, writes, reads, opts.ramp_s, opts.hold_s, items, n_writes, n_reads, workers, estimate)


def refuse_if_costly(p: Plan, max_cost_usd: float) -> None:
    if p.estimate.usd > max_cost_usd:
        raise UsageError(f"the drill would cost about {p.estimate.usd:.4f} USD ({p.estimate.note}), above --max-cost "
                         f"{max_cost_usd:g} USD: nothing was written; raise --max-cost, or shorten --time / --ramp")


def pre_checks(p: Plan, allow_throttling: bool = False, allow_replicas: bool = False,
               headroom: float = CAPACITY_HEADROOM, allow_gsi_writes: bool = False) -> list[tuple[str, str, str]]:
    info, base = p.info, p.baseline
    out = [("PRE-AVAILABLE", "pass" if info.status == "ACTIVE" else "fail", f"table {info.name} is {info.status} ({info.mode})")]
    if info.indexes_written:
        # An index's capacity is not budgeted here: a provisioned index that cannot keep up throttles the
        # table's writes too (the application's with the drill's).
        gsis = (f"the drill's items carry every key attribute of {len(info.indexes_written)} global secondary index(es) "
                f"({', '.join(info.indexes_written)}): each takes every write of the drill, and its capacity is not budgeted")
        out.append(("PRE-GSI", "warn", gsis + "; --allow-gsi-writes: each priced once more") if allow_gsi_writes
                   else ("PRE-GSI", "fail", gsis + "; pass --allow-gsi-writes to load it anyway"))
    if info.replicas:
        copies = f"a global table with {len(info.replicas)} replica(s) ({', '.join(info.replicas)}): each of the drill's writes is " \
                 "replicated to every replica, whose capacity and bill take it too"
        out.append(("PRE-REPLICAS", "warn", copies + "; --allow-replicas: priced per replica") if allow_replicas
                   else ("PRE-REPLICAS", "fail", copies + "; pass --allow-replicas to load it anyway"))
    lacking = [k for k, r in (("writes", base.wcu), ("reads", base.rcu)) if r <= 0]
    detail = (f"peak {base.wcu:.3f} WCU/s ({base.wcu_from}) and {base.rcu:.3f} RCU/s ({base.rcu_from})"
              + (f"; {base.excluded_minutes} minute(s) of earlier throughput drills left out" if base.excluded_minutes else ""))
    out.append(("PRE-BASELINE", "warn" if lacking else "pass",
                detail + (f"; no {' or '.join(lacking)} in the window: the drill sends none" if lacking else "")))
    need = f"{p.target_wcu:.1f} WCU/s and {p.target_rcu:.1f} RCU/s"
    now = {"write": base.current_wcu, "read": base.current_rcu}
    uses = f"the table consumes {base.current_from}"
    if not info.on_demand:
        # The drill gets what the application leaves: the capacity less a headroom less what it consumes now.
        budget = {k: c * (1 - headroom) - now[k] for k, c in (("write", info.provisioned_wcu), ("read", info.provisioned_rcu))}
        wanted = {"write": p.target_wcu, "read": p.target_rcu}
        over = [k for k in ("write", "read") if wanted[k] > 0 and wanted[k] > budget[k]]
        budgets = (f"a budget of {max(0.0, budget['write']):.1f} WCU/s and {max(0.0, budget['read']):.1f} RCU/s "
                   f"(provisioned {info.provisioned_wcu:g} WCU and {info.provisioned_rcu:g} RCU, less {100 * headroom:.0f}% headroom, "
                   f"less what {uses})")
        fits = min((max(0.0, budget[k]) / (wanted[k] / p.multiplier) for k in over), default=p.multiplier)
        # Over the budget, the application's own requests throttle with the drill's. Autoscaling does not
        # prevent it: it acts after two one-minute breaches and the table update takes minutes more.
        if over and not allow_throttling:
            out.append(("PRE-CAPACITY", "fail", f"{p.multiplier:g}x needs {need}, above {budgets} ({_scaling(info)}): the drill would "
                                                "throttle the application's requests too (autoscaling, if any, follows only minutes "
                                                "later); " + (f"lower --multiplier (at most {fits:.2f}x fits), " if fits > 0 else
                                                              "no multiple fits what the application leaves; ")
                                                + "raise the capacity first, or pass --allow-throttling"))
        elif over:
            capacity = {"write": info.provisioned_wcu, "read": info.provisioned_rcu}
            # burst capacity holds up to BURST_S seconds of the capacity; it drains at what the drill and the application take beyond it
            lasts = min((capacity[k] * BURST_S / (wanted[k] + now[k] - capacity[k]) if wanted[k] + now[k] > capacity[k] else float("inf"))
                        for k in over)
            out.append(("PRE-CAPACITY", "warn", f"{p.multiplier:g}x needs {need}, above {budgets} ({_scaling(info)}): beyond the "
                                                f"capacity only burst capacity serves it (at most {BURST_S} s of unused capacity, best "
                                                + (f"effort), about {lasts:.0f} s at this rate, then it throttles" if lasts != float("inf")
                                                   else "effort) and the headroom") + " until autoscaling, if any, raises the capacity"))
        else:
            out.append(("PRE-CAPACITY", "pass", f"{p.multiplier:g}x needs {need}, within {budgets}"))
    else:
        out.append(_on_demand_capacity(p, now, need, allow_throttling, headroom))
    if info.stream:
        out.append(("PRE-STREAM-CONSUMERS", "warn", f"the table has a stream: its consumers see about {p.planned_writes} writes and "
                                                    f"{p.items + 1} deletes of the drill's items (attribute dbops_marker)"))
    return out


def _on_demand_capacity(p: Plan, now: dict[str, float], need: str, allow_throttling: bool,
                        headroom: float) -> tuple[str, str, str]:
    """PRE-CAPACITY of an on-demand table. Above its maximum on-demand throughput the service throttles;
    above its warm throughput (less the headroom) it may, and the application's requests with the
    drill's: both fail unless --allow-throttling, as a provisioned table's capacity does. A warm
    throughput the table does not report is not measured: what it serves at once is unknown."""
    info = p.info
    over, unknown = [], []
    for k, t, warm, ceiling in (("write", p.target_wcu, info.warm_wcu, info.max_on_demand_wru),
                                ("read", p.target_rcu, info.warm_rcu, info.max_on_demand_rru)):
        if t <= 0:
            continue
        if ceiling is not None and t + now[k] > ceiling:
            over.append(f"{t:.1f} {k} units/s and the {now[k]:.1f} the table consumes now are above its maximum on-demand "
                        f"throughput {ceiling:g} (the service throttles above it)")
        elif warm is None:
            unknown.append(k)
        elif t + now[k] > warm * (1 - headroom):
            over.append(f"{t:.1f} {k} units/s and the {now[k]:.1f} the table consumes now are above its warm throughput {warm:g} "
                        f"less {100 * headroom:.0f}% headroom: on demand serves up to double its previous peak at once, beyond it "
                        "the application's requests throttle with the drill's")
    if over and not allow_throttling:
        return ("PRE-CAPACITY", "fail", "; ".join(over) + "; pre-warm the table (UpdateTable WarmThroughput), raise its maximum, "
                                                        "lower --multiplier, or pass --allow-throttling")
    if over:
        return ("PRE-CAPACITY", "warn", "; ".join(over) + "; --allow-throttling: expect throttling"
                + (f"; no warm throughput of {' or '.join(k + 's' for k in unknown)} reported: not measured" if unknown else ""))
    if unknown:
        return ("PRE-CAPACITY", "unknown", f"not measured: the table reports no warm throughput of {' or '.join(k + 's' for k in unknown)} "
                                           f"(DescribeTable WarmThroughput): whether {need} is served at once is unknown")
    return ("PRE-CAPACITY", "pass", f"{p.multiplier:g}x needs {need}, within the table's warm throughput less "
                                    f"{100 * headroom:.0f}% headroom ({_units(info.warm_wcu)} WCU/s, {_units(info.warm_rcu)} RCU/s)"
                                    + "".join(f" and its maximum on-demand throughput {c:g} {u}/s" for c, u in
                                              ((info.max_on_demand_wru, "WRU"), (info.max_on_demand_rru, "RRU")) if c is not None))


def _scaling(info: TableInfo) -> str:
    if info.autoscaling is None:
        return "its autoscaling could not be read"
    return "; ".join(f"{k} autoscaling {lo:g}-{hi:g}" for k, (lo, hi) in sorted(info.autoscaling.items())) or "no autoscaling"


def _units(value: float | None) -> str:
    return "not reported" if value is None else f"{value:g}"


# --- the run ---------------------------------------------------------------------------------------------


class OtherClients:
    """Watches the table's throttle events while the load runs; any beyond the drill's own are another client's.

    Only a minute CloudWatch has published is measured. DynamoDB publishes each minute a minute or more
    after it ends on AWS, and publishes nothing for a minute nobody used the table: a minute with no
    data point is not "no throttles" until it is known to be published. The drill consumes capacity
    every second it runs, so its own ConsumedWriteCapacityUnits / ConsumedReadCapacityUnits data
    point marks a minute as published; a minute without one is not measured (a drill shorter than
    CloudWatch's lag measures none, and says so).

    A throttle of the drill's can be in CloudWatch only if the drill sent its request before CloudWatch
    was read, so each poll takes two lower bounds of the events that are not the drill's, and stops
    the load when either is above zero:
    - live: the events of every published minute, less the drill's throttled requests sent before the
      read and its requests still unanswered (any of them may have been throttled);
    - settled: the events of the published minutes, without a gap from the first, that ended before
      the read's minute, less the drill's throttled requests sent before their end. A minute not
      published in full yet only makes it smaller; once published it is exact but for a request in
      flight across the boundary.
    The drill's first minute holds whatever happened in it before the drill began. It is watched only
    when CloudWatch had already published it as the drill began (what it held then is left out);
    otherwise (always on AWS) the watch starts at the next minute, and earlier throttles are never
    counted against anyone.
    """

    def __init__(self, target: LoadTarget, stop: threading.Event, every_s: float,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.target, self.stop, self.every_s, self.now = target, stop, every_s, now
        started = now()
        self.first_minute = started.replace(second=0, microsecond=0)
        self.tally: Tally | None = None
        self.extra_own = 0  # the manifest's throttled attempts: sent before the load
        self.reason: str | None = None
        self.reads = 0
        self.failed: str | None = None
        self.measured: set[datetime] = set()  # the minutes CloudWatch had published when read
        self.before: float | None = None  # the first minute's events before the drill began (None: not known)
        try:
            if self.first_minute in self._published(self.first_minute, started + timedelta(minutes=1)):
                self.before = self._throttles(self.first_minute, started + timedelta(minutes=1)).get(self.first_minute, 0.0)
        except Exception as exc:  # noqa: BLE001 — a failed read is said, never taken as "no throttles"
            self._failed(exc)
        self.since = self.first_minute if self.before is not None else self.first_minute + timedelta(minutes=1)
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def _failed(self, exc: BaseException) -> None:
        from ops.errors import describe

        self.failed = describe(exc) or str(exc)

    def _published(self, start: datetime, end: datetime) -> set[datetime]:
        """The minutes from start to end CloudWatch has published: those holding the drill's own consumption."""
        return {m.at for metric in METRICS.values() for m in self.target.minute_sums(metric, start, end) if m.at >= start}

    def _throttles(self, start: datetime, end: datetime) -> dict[datetime, float]:
        events: dict[datetime, float] = {}
        for metric in THROTTLE_METRICS.values():
            for m in self.target.minute_sums(metric, start, end):
                events[m.at] = events.get(m.at, 0.0) + m.total
        return events

    def start(self, tally: Tally, extra_own: int) -> None:
        self.tally, self.extra_own = tally, extra_own
        self._thread = threading.Thread(target=self._watch, name="dbops-other-clients", daemon=True)
        self._thread.start()

    def _own(self, before: float, unanswered: bool) -> int:
        """The drill's throttled requests sent from the watch's start to an epoch time (and, asked, those not yet answered)."""
        tally = self.tally
        assert tally is not None
        since = self.since.timestamp()
        with tally.lock:
            sent = sum(o.outcome == "throttled" and since <= tally.started_at + o.sent < before for o in tally.ops)
            return self.extra_own + sent + (tally.in_flight if unanswered else 0)

    def _excess(self) -> tuple[float, str] | None:
        """The larger lower bound of other clients' throttle events; None: no minute of the watch published yet."""
        read_at = self.now()
        end = read_at + timedelta(minutes=1)
        published = self._published(self.since, end)
        events = self._throttles(self.since, end)
        self.reads += 1
        if not published:
            return None
        self.measured |= published

        def counted(minutes: set[datetime]) -> float:
            return sum(events.get(m, 0.0) for m in minutes) - ((self.before or 0.0) if self.since in minutes else 0.0)

        live, own = counted(published), self._own(read_at.timestamp(), unanswered=True)
        found = [(live - own, f"CloudWatch counted {live:g} throttle events on the table in the {len(published)} minute(s) it had "
                              f"published since {self.since:%H:%M} UTC; the drill had at most {own} of its own")]
        boundary, through, settled = read_at.replace(second=0, microsecond=0), self.since, set()
        while through in published and through + timedelta(minutes=1) <= boundary:
            settled.add(through)
            through += timedelta(minutes=1)
        if settled:
            total, own = counted(settled), self._own(through.timestamp(), unanswered=False)
            found.append((total - own, f"CloudWatch counted {total:g} throttle events on the table from {self.since:%H:%M} "
                                       f"to {through:%H:%M} UTC; the drill had {own} of its own"))
        return max(found, key=lambda f: f[0])

    def poll(self) -> bool:
        """One look at CloudWatch; True when another client's throttles stopped the load."""
        try:
            found = self._excess()
        except Exception as exc:  # noqa: BLE001 — a failed read is said, never taken as "no throttles"
            self._failed(exc)
            return False
        if found is not None and found[0] > 0:
            self.reason = f"another client's requests were throttled: {found[1]}"
            self.stop.set()
            return True
        return False

    def _watch(self) -> None:
        while not self._done.wait(self.every_s):
            if self.poll():
                return

    def finish(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=READ_TIMEOUT_S)

    def judge(self, journal: Journal) -> None:
        if self.reason:
            journal.check("TP-OTHER-CLIENTS", "fail", f"the load was stopped: {self.reason}")
            return
        minutes = (f"{len(self.measured)} minute(s) CloudWatch had published ({min(self.measured):%H:%M} to "
                   f"{max(self.measured):%H:%M} UTC)" if self.measured else "no minute")
        if self.failed:
            journal.check("TP-OTHER-CLIENTS", "unknown", f"other clients' throttles not measured during the load: a CloudWatch read "
                                                         f"failed ({self.failed}); {minutes} read")
        elif not self.measured:
            why = ("the load ended before a first read" if not self.reads else
                   f"CloudWatch had published none of the drill's minutes from {self.since:%H:%M} UTC in {self.reads} read(s) "
                   "(it publishes DynamoDB's minutes a minute or more late)")
            journal.check("TP-OTHER-CLIENTS", "unknown", f"other clients' throttles not measured during the load: {why}; "
                                                         "the load was not stopped by them")
        else:
            journal.check("TP-OTHER-CLIENTS", "pass", f"no throttle event beyond the drill's own in the {minutes} during the load "
                                                      f"({self.reads} reads, every {self.every_s:g}s); a later minute is not watched")


def run_throughput(target: LoadTarget, p: Plan, opts: ThroughputOptions, journal: Journal, drill_id: str,
                   ledger: Any = None, catalog: dict[str, Any] | None = None, guard: Any = None) -> Report:
    """`guard` (ops.drills.guard.Guard) stands down once the load has stopped: removing the items is the rollback."""
    from ops.cost.estimate import load_catalog

    catalog = catalog or load_catalog(target.aws.region)
    journal.details["drill_id"] = drill_id
    journal.require(*OBJECTIVES)
    journal.objectives.update({"throttled_requests": 0, "write_p95_ms": opts.p95_ms, "read_p95_ms": opts.p95_ms,
                               "target_wcu": round(p.target_wcu, 3), "target_rcu": round(p.target_rcu, 3),
                               "rate_tolerance": opts.tolerance, "cost_estimate_usd": opts.max_cost_usd})
    journal.details.update(mode=p.info.mode, multiplier=p.multiplier, ramp_s=p.ramp_s, hold_s=p.hold_s, items=p.items,
                           window={"start": p.baseline.window_start.isoformat(), "end": p.baseline.window_end.isoformat()},
                           baseline={"wcu": p.baseline.wcu_from, "rcu": p.baseline.rcu_from})
    journal.event("pre", f"drill {drill_id}: {journal.target} ({p.info.mode})")
    journal.measure("peak_wcu", p.baseline.wcu)
    journal.measure("peak_rcu", p.baseline.rcu)
    journal.measure("current_wcu", p.baseline.current_wcu)
    journal.measure("current_rcu", p.baseline.current_rcu)
    journal.measure("target_wcu", p.target_wcu)
    journal.measure("target_rcu", p.target_rcu)
    journal.measure("cost_estimate_usd", p.estimate.usd)
    journal.event("cost", f"estimated {p.estimate.usd:.6f} USD (at most {opts.max_cost_usd:g}): {p.estimate.note}")
    for cid, status, detail in pre_checks(p, opts.allow_throttling, opts.allow_replicas, opts.headroom, opts.allow_gsi_writes):
        journal.check(cid, status, detail)
    if any(c.status == "fail" for c in journal.checks):
        journal.details["load"] = NOT_STARTED  # nothing sent: its minutes are the application's alone
        return journal.finish("error", f"ERROR: pre-checks failed, the drill did not start: {journal.failed_detail()}")

    stop = threading.Event()
    watch = OtherClients(target, stop, opts.watch_every_s)  # the minute's throttle events so far: not the drill's
    record = Record(drill_id, journal.target, journal.env, owner_id(), expiry(opts.expires_hours), markers=True)
    if ledger is not None:
        # the window first: one that cannot be kept stops the drill before its record exists, so nothing is stranded
        _put_window(ledger, drill_id, journal, datetime.now(timezone.utc) + timedelta(seconds=p.ramp_s + p.hold_s + 60))
        ledger.put_record(record)  # before the first item: a drill killed from here on leaves its items findable
    tally: Tally | None = None
    aborted = False
    manifest_units, manifest_throttled = 0.0, 0
    try:
        manifest_units, manifest_throttled = target.write_manifest(p.info, drill_id, p.items)
        journal.event("load", f"{p.multiplier:g}x: writes {p.writes[0]:.2f} -> {p.writes[1]:.2f} WCU/s and reads {p.reads[0]:.2f} -> "
                              f"{p.reads[1]:.2f} RCU/s over {p.ramp_s:g}s, then held {p.hold_s:g}s; {p.items} item(s) of the drill's "
                              f"own, {p.workers} workers, retries off")
        tally = Tally()
        tally.started_at = time.time()  # the load sets it again as it starts: nothing is sent before it
        watch.start(tally, manifest_throttled)
        try:
            target.run(p.info, drill_id, p.items, p.writes, p.reads, p.ramp_s, p.hold_s, p.workers, stop,
                       lambda m: journal.event("load", m), tally)
        finally:
            watch.finish()
        stand_down(guard)
    except KeyboardInterrupt:
        aborted = True
        stop.set()
        journal.event("abort", "interrupted: removing the drill's items")
    finally:
        stand_down(guard)
        with deferred_interrupts(lambda m: journal.event("cleanup", m), "the drill's cleanup") as deferred:
            pending, removed = _cleanup(target, p, drill_id, tally, journal)
            if ledger is not None:  # the drill's own requests end with its cleanup
                _close_window(ledger, drill_id, journal)
        aborted |= deferred.count > 0
        if ledger is not None and not pending:
            ledger.delete_record(drill_id)
    if aborted:
        return journal.finish("aborted", f"ABORTED: interrupted; {journal.details.get('cleanup', '')}")
    if tally is None:
        raise CannotRun("the load did not run")
    if tally.collision:
        raise CannotRun(tally.collision)
    watch.judge(journal)
    if watch.reason:
        journal.measure("requests", len(tally.ops))
        journal.measure("throttled_requests", sum(o.outcome == "throttled" for o in tally.ops))
        journal.details["stopped"] = watch.reason
        return journal.finish("aborted", f"STOPPED: {watch.reason}; the load halted at once; "
                                         f"{journal.details.get('cleanup', '')}")
    _judge(tally, p, opts, journal)
    # the manifest and the deletes are the drill's requests too (retried when throttled: counted, not judged)
    housekeeping_throttled = manifest_throttled + removed.throttled
    journal.measure("cleanup_throttled_attempts", housekeeping_throttled)
    _cloudwatch(target, opts, tally, journal, manifest_units + removed.write_units, housekeeping_throttled, watch)
    consumed_w = manifest_units + removed.write_units + sum(o.units for o in tally.ops if o.kind == "write")
    consumed_r = sum(o.units for o in tally.ops if o.kind == "read")
    journal.measure("consumed_write_units", consumed_w)
    journal.measure("consumed_read_units", consumed_r)
    cost = price(p.info, consumed_w, consumed_r, catalog)
    journal.measure("cost_usd", cost.usd)  # rounded to 0.001 USD; the exact figures are in details.cost
    journal.details["cost"] = {"estimate_usd": p.estimate.usd, "estimate": p.estimate.note, "usd": cost.usd, "actual": cost.note}
    journal.event("cost", f"{cost.usd:.6f} USD from the capacity consumed: {cost.note}")
    return with_summary(journal.finish())


def _cleanup(target: LoadTarget, p: Plan, drill_id: str, tally: Tally | None, journal: Journal) -> tuple[bool, Removed]:
    """Delete the drill's items, each conditionally; returns (anything left for the janitor, what the deletes did)."""
    written = set(tally.written) | tally.uncertain if tally is not None else None
    count = len(written) if written is not None else p.items
    capacity = p.info.provisioned_wcu if not p.info.on_demand else 1000.0
    deadline = min(900.0, 60.0 + 2 * (count + 1) / max(1.0, capacity))
    try:
        removed = target.remove(p.info, drill_id, written, deadline)
    except Exception as exc:  # noqa: BLE001 — the record stays: the janitor removes them
        journal.details["cleanup"] = f"the drill's items were not all deleted ({exc}); `dbops janitor` removes them (drill {drill_id})"
        journal.details["items_deleted"] = False
        journal.event("cleanup", journal.details["cleanup"])
        journal.check("TP-CLEANUP", "warn", journal.details["cleanup"])
        return True, Removed(0, 0.0, 0)
    if written is not None:
        journal.measure("items_written", count)
    journal.measure("items_deleted", removed.items)
    journal.details["items_deleted"] = True
    journal.details["cleanup"] = f"deleted the drill's {removed.items} item(s) and its manifest, each only if it was the drill's"
    journal.event("cleanup", journal.details["cleanup"])
    return False, removed


def _ms(values: list[float], q: float) -> float:
    return 1000 * percentile(values, q)


def _judge(tally: Tally, p: Plan, opts: ThroughputOptions, journal: Journal) -> None:
    lo, hi = p.ramp_s, p.ramp_s + p.hold_s
    throttled = sum(o.outcome == "throttled" for o in tally.ops)
    errors = [o for o in tally.ops if o.outcome.startswith("error:")]
    journal.measure("requests", len(tally.ops))
    journal.measure("throttled_requests", throttled)
    journal.measure("retries", sum(o.retries for o in tally.ops))
    rate_verdicts, p95_verdicts = [], []
    for kind, target in (("write", p.target_wcu), ("read", p.target_rcu)):
        ops = [o for o in tally.ops if o.kind == kind]
        journal.measure(f"{kind}s_sent", len(ops))
        journal.measure(f"{kind}s_throttled", sum(o.outcome == "throttled" for o in ops))
        journal.measure(f"{kind}s_not_sent", tally.not_sent[kind])
        if target <= 0:
            continue
        held = [o for o in ops if lo <= o.sent < hi]
        ok = [o for o in held if o.outcome == "ok"]
        rate_verdicts.append(_judge_rate(kind, target, len(held), sum(o.units for o in ok), p.hold_s, opts.tolerance, journal))
        if len(ok) >= MIN_SAMPLES:
            lat = [o.latency_s for o in ok]
            p50, p95 = _ms(lat, 0.5), _ms(lat, 0.95)
            journal.measure(f"{kind}_p50_ms", p50)
            journal.measure(f"{kind}_p95_ms", p95)
            p95_verdicts.append(("pass" if p95 <= opts.p95_ms else "fail",
                                 f"{kind}s p95 {p95:.1f} ms (p50 {p50:.1f}) over {len(ok)} requests"))
        else:
            journal.mark_not_measured(f"{kind}_p95_ms", f"{len(ok)} successful {kind}s at the multiple, fewer than {MIN_SAMPLES}")
            p95_verdicts.append(("unknown", f"{kind}s: {len(ok)} successful at the multiple, fewer than {MIN_SAMPLES} to take a p95 of"))
    if not tally.ops:
        journal.check("TP-THROTTLES", "unknown", "no request was sent")
    else:
        by_kind = ", ".join(f"{journal.measurements[f'{k}s_throttled']} of {journal.measurements[f'{k}s_sent']} {k}s" for k in ("write", "read"))
        journal.check("TP-THROTTLES", "pass" if throttled == 0 else "fail", f"{throttled} throttled ({by_kind}); the client retried none")
    journal.check("TP-P95", _worst([s for s, _ in p95_verdicts]), "; ".join(d for _, d in p95_verdicts) + f" (objective {opts.p95_ms:g} ms)")
    journal.check("TP-RATE", _worst([s for s, _ in rate_verdicts]), "; ".join(d for _, d in rate_verdicts))
    if errors:
        classes: dict[str, int] = {}
        for o in errors:
            classes[o.outcome[6:]] = classes.get(o.outcome[6:], 0) + 1
        journal.check("TP-ERRORS", "fail", f"{len(errors)} requests failed other than by throttling: {classes}")
    else:
        journal.check("TP-ERRORS", "pass", "no request failed other than by throttling")


def rate_judgeable_from(tolerance: float) -> int:
    """The fewest requests the hold must schedule for its count to tell a shortfall beyond the tolerance
    from the schedule's chance spread (below it, any count is what a rate at the tolerance may give)."""
    n = 1
    while fewest_by_chance((1 - tolerance) * n) <= 0:
        n += 1
    return n


def _judge_rate(kind: str, target: float, sent: int, served_units: float, hold_s: float, tolerance: float,
                journal: Journal) -> tuple[str, str]:
    """TP-RATE of one kind. Each request is one unit, so the hold schedules target x hold_s of them; a
    rate at the tolerance's edge gives (1 - tolerance) of that, less its count's chance spread (the
    latency drill's LAT-RATE floor). A count under that floor is a real shortfall: of the client when it
    did not even send that many, else of the table. A hold too short for the floor to be above zero
    judges nothing: the rate is not measured, and no figure is given for it."""
    unit = UNIT[kind]
    expected = target * hold_s
    journal.measure(f"{kind}s_scheduled_at_multiple", expected)
    floor = fewest_by_chance((1 - tolerance) * expected)
    if floor <= 0:
        needed = rate_judgeable_from(tolerance)
        why = (f"not measured: {expected:.0f} {kind}s expected at the multiple ({target:.2f}/s for {hold_s:g}s), at least {needed} "
               f"needed to tell a shortfall beyond {100 * tolerance:.0f}% from chance (--time of at least {math.ceil(needed / target)}s)")
        journal.mark_not_measured(f"achieved_{unit.lower()}", why)
        journal.mark_not_measured(f"offered_{kind}s_per_second", why)
        return "unknown", f"{kind}s: {why}"
    achieved, offered = served_units / hold_s, sent / hold_s
    journal.measure(f"achieved_{unit.lower()}", achieved)
    journal.measure(f"offered_{kind}s_per_second", offered)
    counted = (f"{served_units:g} units served of {sent} requests sent, {expected:.0f} scheduled ({target:.2f}/s for {hold_s:g}s; "
               f"at least {math.ceil(floor)} expected within the {100 * tolerance:.0f}% tolerance and its chance spread)")
    if served_units >= floor:
        return "pass", f"{kind}s: {achieved:.2f} {unit}/s served at the multiple: {counted}"
    if sent < floor:
        return "unknown", (f"{kind}s: the client sent only {offered:.2f} requests/s of the {target:.2f} wanted (the client's or the "
                           f"endpoint's own limit): {counted}; the table was not tested at the multiple")
    return "fail", f"{kind}s: only {achieved:.2f} {unit}/s served at the multiple: {counted}"


def _worst(statuses: list[str]) -> str:
    for s in ("fail", "error", "unknown"):
        if s in statuses:
            return s
    return "pass" if statuses else "unknown"


def _put_window(ledger: Any, drill_id: str, journal: Journal, until: datetime) -> None:
    from ops.lease import Window

    started = journal.started_at.astimezone(timezone.utc)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    ledger.put_window(Window(drill_id, journal.target, journal.env, "throughput", started.strftime(stamp), until.strftime(stamp)))


def _close_window(ledger: Any, drill_id: str, journal: Journal) -> None:
    """End the drill's window at its cleanup. A window that cannot be rewritten keeps the end planned at the
    start (later, so later drills leave out more, never less); the record is deleted all the same."""
    try:
        _put_window(ledger, drill_id, journal, datetime.now(timezone.utc))
    except Exception as exc:  # noqa: BLE001 — said in the report; the record's deletion must not depend on it
        from ops.errors import describe

        journal.event("cleanup", f"the drill's window could not be closed in the ledger ({describe(exc) or exc}): "
                                 "it keeps the end planned at the start")


def _cloudwatch(target: LoadTarget, opts: ThroughputOptions, tally: Tally, journal: Journal, extra_write_units: float,
                extra_throttled: int, watch: OtherClients | None = None) -> None:
    """What CloudWatch says of the table while the drill ran: its consumed capacity (every client's, the
    drill's included) and throttle events — throttles beyond the drill's own are other clients'."""
    start = watch.first_minute if watch is not None else datetime.fromtimestamp(tally.started_at, timezone.utc).replace(second=0, microsecond=0)
    before = watch.before if watch is not None else None  # the first minute's events before the drill began, when known
    drill_w = extra_write_units + sum(o.units for o in tally.ops if o.kind == "write")
    deadline = time.monotonic() + opts.metrics_wait_s
    totals: dict[str, float | None] = {}
    while True:
        end = datetime.now(timezone.utc) + timedelta(minutes=1)
        try:
            totals = {k: target.total(METRICS[k], start, end) for k in METRICS}
            totals |= {f"throttle_{k}": target.total(THROTTLE_METRICS[k], start, end) for k in THROTTLE_METRICS}
        except Exception as exc:  # noqa: BLE001 — a failed read is an error finding, never "none"
            from ops.errors import describe

            journal.check("TP-TABLE-THROTTLES", "error", f"CloudWatch could not be read: {describe(exc) or exc}")
            return
        if (totals["write"] or 0) >= drill_w or time.monotonic() >= deadline:
            break
        waited = opts.metrics_wait_s - (deadline - time.monotonic())
        time.sleep(max(0.0, min(1.0 if waited < 10 else 5.0, deadline - time.monotonic())))
    if totals["write"] is None and totals["read"] is None:
        for name in ("cloudwatch_write_units", "cloudwatch_read_units", "cloudwatch_throttle_events"):
            journal.mark_not_measured(name, f"CloudWatch had published no data point of the drill's minutes after {opts.metrics_wait_s:g}s")
        journal.check("TP-TABLE-THROTTLES", "unknown", "CloudWatch had not published the drill's minutes yet")
        return
    events = (totals["throttle_write"] or 0) + (totals["throttle_read"] or 0) - (before or 0.0)
    journal.measure("cloudwatch_write_units", totals["write"] or 0.0)
    journal.measure("cloudwatch_read_units", totals["read"] or 0.0)
    journal.measure("cloudwatch_throttle_events", events)
    own = sum(o.outcome == "throttled" for o in tally.ops) + extra_throttled
    others = events - own
    journal.check("TP-TABLE-THROTTLES", "fail" if others > 0 else "pass",
                  f"CloudWatch counted {events:g} throttle events on the table in the minutes of the drill (from {start:%H:%M} UTC), "
                  f"{own} of them the drill's" + (f": {others:g} were other clients' in those minutes" if others > 0 else "")
                  + ("" if before is not None else " (the first minute's whole count: CloudWatch had not published it when the drill "
                                                   "began, so events in it before the drill are included)"))


def with_summary(report: Report) -> Report:
    m = report.measurements
    mult = report.details.get("multiplier")
    if report.status in ("pass", "fail", "inconclusive"):
        def units(name: str) -> str:
            return measured(m.get(name), "{:.1f}")

        text = (f"{mult:g}x the peak: {units('target_wcu')} WCU/s and {units('target_rcu')} RCU/s for "
                f"{measured(report.details.get('hold_s'), '{:g}s')}, served {units('achieved_wcu')} / {units('achieved_rcu')}; "
                f"{measured(m.get('throttled_requests'))} throttled; p95 write {measured(m.get('write_p95_ms'), '{:.1f} ms')}, "
                f"read {measured(m.get('read_p95_ms'), '{:.1f} ms')}; "
                f"cost {measured(report.details.get('cost', {}).get('usd'), '{:.6f} USD')}")
        if report.status == "inconclusive":
            text += " — NOT VERIFIED: " + "; ".join(report.details.get("inconclusive_because", []))
        return replace(report, summary=headline(report, text))
    return report


def excluded_intervals(reports: list[dict[str, Any]], target: str,
                       windows: list[Any] = ()) -> list[tuple[datetime, datetime]]:  # type: ignore[assignment]
    """When earlier throughput drills of the target ran (a minute either side): their load is not the table's peak.
    reports: the report directory's; windows: the ledger's drill windows (ops.lease.Window), drills run from any host."""
    out = []
    for w in windows:
        try:
            a = datetime.strptime(w.started_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            b = datetime.strptime(w.finished_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        out.append((a - timedelta(minutes=1), b + timedelta(minutes=1)))
    for r in reports:
        if r.get("target") != target or r.get("kind") != "throughput":
            continue
        if (r.get("details") or {}).get("load") == NOT_STARTED:  # refused before anything was sent
            continue
        try:
            a = datetime.fromisoformat(str(r["started_at"]).replace("Z", "+00:00"))
            b = datetime.fromisoformat(str(r["finished_at"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            continue
        out.append((a - timedelta(minutes=1), b + timedelta(minutes=1)))
    return out


__all__ = ["ThroughputOptions", "Plan", "plan", "refuse_if_costly", "run_throughput", "with_summary", "excluded_intervals", "peak",
           "price"]
