"""`dbops cost check`: month-to-date and projected spend of the database estate against its budget.

Month-to-date cost by service (and usage type, to tell storage apart) from GetCostAndUsage,
paginated; the projection from GetCostForecast, or — when Cost Explorer has too little
history (DataUnavailableException) or the endpoint does not implement it — a linear
projection of month-to-date, labelled as such. A forecast that failed for any other reason
is an `error`, never quietly replaced by the linear projection.

Objectives (journal.require): COST-BUDGET (projected spend against the monthly budget) and
COST-STORAGE (projected storage spend against its own limit). Either one not judged, or
`unknown`, makes the run `inconclusive` (exit 4) — in particular when Cost Explorer returns
no cost at all for the estate's services (no ResultsByTime, no groups, or a --tag that
matches nothing): an empty answer is not 0 USD.
COST-ANOMALIES and COST-AWS-BUDGET are optional: they add evidence, and an `unknown` there
(the endpoint lacks the API, no account id to ask Budgets with) still lets the run pass;
an `error` or `fail` there still counts. COST-ANOMALIES passes only when GetAnomalyMonitors
names at least one monitor: with none, Cost Anomaly Detection looks at nothing and "no
anomaly" is not evidence (unknown).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Callable, Iterator

from ops.aws import Read, paged, safe_read
from ops.cost.cache import CeCache
from ops.report import Journal, Report, headline, measured
from ops.permissions import declare, need

DEFAULT_SERVICES = (
    "Amazon Relational Database Service",
    "Amazon DynamoDB",
    "AWS Backup",
    "AWS Key Management Service",
    "AmazonCloudWatch",
    "AWS Secrets Manager",  # the clusters' master credentials
)
STORAGE_MARKERS = ("Storage", "TimedStorage", "BackupUsage", "ByteHrs")
# Request charges whose usage types name storage: Aurora's I/O ("Aurora:StorageIOUsage").
NOT_STORAGE_MARKERS = ("StorageIOUsage",)


def is_storage(usage_type: str) -> bool:
    return any(m in usage_type for m in STORAGE_MARKERS) and not any(m in usage_type for m in NOT_STORAGE_MARKERS)


OBJECTIVES = ("COST-BUDGET", "COST-STORAGE")


# Cost Explorer and Budgets: spend, forecast, anomalies and the account's budgets.
CALLS = declare(
    "cost.check",
    need("ce:GetCostAndUsage", on="*"),
    need("ce:GetCostForecast", on="*"),
    need("ce:GetAnomalyMonitors", on="*"),
    need("ce:GetAnomalies", on="*"),
    need("budgets:DescribeBudgets", action="budgets:ViewBudget", on="budget",
         why="DescribeBudgets is authorized as budgets:ViewBudget"),
    need("sts:GetCallerIdentity", on="*", why="the cache is kept per account"),
)


@dataclass
class CostSources:
    """The clients each part of the check reads from (one purpose each, so tests can stub one)."""

    usage: Any  # Cost Explorer client for GetCostAndUsage
    forecast: Any  # Cost Explorer client for GetCostForecast
    anomalies: Any  # Cost Explorer client for GetAnomalies
    budgets: Any | None = None
    account_id: str | None = None


@dataclass(frozen=True)
class CostOptions:
    budget_usd: float
    storage_budget_usd: float
    month: date  # first day of the month checked
    today: date
    services: tuple[str, ...] = DEFAULT_SERVICES
    tag: tuple[str, str] | None = None
    budget_name: str | None = None


@dataclass
class Spend:
    by_service: dict[str, float] = field(default_factory=dict)
    storage: float = 0.0
    estimated: bool = False
    groups: int = 0  # cost groups Cost Explorer returned: none means nothing was measured, not 0 USD

    @property
    def total(self) -> float:
        return sum(self.by_service.values())

    @property
    def measured(self) -> bool:
        return self.groups > 0


@dataclass(frozen=True)
class Forecast:
    """Cost Explorer's forecast of the rest of the month: an amount, or why there is none."""

    amount: float | None
    how: str
    error: str | None = None  # a real failure: the projection is not judged


def month_bounds(month: date) -> tuple[date, date]:
    days = calendar.monthrange(month.year, month.month)[1]
    return month, month + timedelta(days=days)


def _filter(opts: CostOptions) -> dict[str, Any]:
    f: dict[str, Any] = {"Dimensions": {"Key": "SERVICE", "Values": list(opts.services)}}
    if opts.tag:
        return {"And": [f, {"Tags": {"Key": opts.tag[0], "Values": [opts.tag[1]], "MatchOptions": ["EQUALS"]}}]}
    return f


def cost_and_usage(sources: CostSources, cache: CeCache, opts: CostOptions, start: date, end: date) -> Spend:
    """Cost by service over [start, end), every page summed once."""
    spend = Spend()
    if end <= start:
        return spend
    params: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "MONTHLY", "Metrics": ["UnblendedCost"], "Filter": _filter(opts),
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    }
    for page in cached_pages(cache, "GetCostAndUsage", params, sources.usage.get_cost_and_usage):
        for period in page.get("ResultsByTime", []):
            spend.estimated |= bool(period.get("Estimated"))
            for group in period.get("Groups", []):
                service = group["Keys"][0]
                usage_type = group["Keys"][1] if len(group["Keys"]) > 1 else ""
                amount = float(group["Metrics"]["UnblendedCost"]["Amount"])
                spend.groups += 1
                spend.by_service[service] = spend.by_service.get(service, 0.0) + amount
                if is_storage(usage_type):
                    spend.storage += amount
    return spend


def cached_pages(cache: CeCache, operation: str, params: dict[str, Any], call: Callable[..., dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every page of a paged Cost Explorer read, each through the cache (each page is a paid request)."""
    token, seen = None, set()
    while True:
        page_params = dict(params, NextPageToken=token) if token else params
        page = cache.call(operation, page_params, lambda p=page_params: call(**p))
        yield page
        token = page.get("NextPageToken")
        if not token or token in seen:
            return
        seen.add(token)


def forecast(sources: CostSources, cache: CeCache, opts: CostOptions, start: date, end: date) -> Forecast:
    """Cost Explorer's forecast over [start, end); `how` says why there is none when there is none."""
    params = {"TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()}, "Metric": "UNBLENDED_COST",
              "Granularity": "MONTHLY", "Filter": _filter(opts)}
    read = safe_read(lambda: cache.call("GetCostForecast", params, lambda: sources.forecast.get_cost_forecast(**params)))
    if read.ok:
        return Forecast(float(read.value["Total"]["Amount"]), "Cost Explorer forecast")
    if "DataUnavailable" in (read.error or ""):
        return Forecast(None, "Cost Explorer has too little history to forecast (DataUnavailableException)")
    if read.unimplemented:
        return Forecast(None, "the endpoint does not implement GetCostForecast")
    return Forecast(None, "no projection: the forecast failed", error=f"forecast not read: {read.error}")


def _no_cost(opts: CostOptions, start: date, end: date) -> str:
    hint = (f"tag {opts.tag[0]}={opts.tag[1]} matched nothing?" if opts.tag
            else "no usage yet, or Cost Explorer not enabled for the account?")
    return f"Cost Explorer returned no cost for the estate's services in {start.isoformat()}..{end.isoformat()} ({hint})"


def run_cost_check(sources: CostSources, opts: CostOptions, cache: CeCache, journal: Journal) -> Report:
    start, end = month_bounds(opts.month)
    past = end <= opts.today
    mtd_end = end if past else opts.today
    journal.require(*OBJECTIVES)
    journal.details["month"] = start.strftime("%Y-%m")  # `dbops status` shows the burn of the current month only
    journal.objectives.update({"projected_usd": opts.budget_usd, "projected_storage_usd": opts.storage_budget_usd})
    if cache.off_reason:
        journal.event("cache", f"Cost Explorer cache not used: {cache.off_reason}")
        journal.details["ce_cache"] = f"off: {cache.off_reason}"
    journal.event("query", f"month-to-date cost {start} .. {mtd_end} (exclusive) for {len(opts.services)} services")
    days_in = (mtd_end - start).days
    days_total = (end - start).days
    prev_start = (start - timedelta(days=1)).replace(day=1)
    journal.measure("budget_usd", opts.budget_usd)

    if days_in:
        mtd, last = cost_and_usage(sources, cache, opts, start, mtd_end), Spend()
        if not mtd.measured:
            return _inconclusive(sources, cache, opts, journal, _no_cost(opts, start, mtd_end), past)
        prev_end = min(prev_start + timedelta(days=days_in), start)
        previous = cost_and_usage(sources, cache, opts, prev_start, prev_end)
        storage_projected = mtd.storage if past else mtd.storage / days_in * days_total
        storage_how = "storage usage types" + ("" if past else f", linear over {days_in} day(s)")
    else:  # the first day of the month: nothing this month yet; last month stands in for it
        mtd = previous = Spend()
        last = cost_and_usage(sources, cache, opts, prev_start, start)
        storage_projected = last.storage if last.measured else None
        storage_how = "storage usage types of last month"

    projected: float | None
    error = None
    if past:
        projected, how = mtd.total, "actual (month closed)"
    else:
        fc = forecast(sources, cache, opts, opts.today, end)
        error = fc.error
        if fc.amount is not None:
            projected, how = mtd.total + fc.amount, "month-to-date + Cost Explorer forecast"
        elif fc.error:
            projected, how = None, fc.how
        elif days_in:
            projected = mtd.total / days_in * days_total
            how = f"LINEAR projection of {days_in} day(s) month-to-date ({fc.how})"
        elif last.measured:
            projected, how = last.total, f"first day of the month: previous month's total ({fc.how})"
        else:
            projected, how = None, f"no projection ({fc.how}; {_no_cost(opts, prev_start, start)})"

    journal.measure("month_to_date_usd", round(mtd.total, 2))
    _measure_or_not(journal, "projected_usd", projected, how)
    _measure_or_not(journal, "projected_storage_usd", storage_projected, storage_how)
    journal.details["projection_method"] = how
    journal.details["estimated"] = mtd.estimated
    if error:
        journal.check("COST-BUDGET", "error", f"{error}; the projection is not judged (no linear fallback for a failed read)")
    elif projected is None:
        journal.check("COST-BUDGET", "unknown", how)
    else:
        _judge(journal, "COST-BUDGET", projected, opts.budget_usd, how, mtd.estimated)
    if storage_projected is None:
        journal.check("COST-STORAGE", "unknown", _no_cost(opts, prev_start, start))
    else:
        _judge(journal, "COST-STORAGE", storage_projected, opts.storage_budget_usd, storage_how, mtd.estimated)
    rows = _table(mtd, previous, projected if projected is not None else mtd.total, days_in)
    journal.details["services"] = rows
    movers = sorted(rows, key=lambda r: abs(r["change_usd"]), reverse=True)[:3]
    journal.details["top_movers"] = [r["service"] for r in movers if r["change_usd"]]
    section = ["| service | month to date | projected | same days last month | change |", "|---|---|---|---|---|"]
    section += [f"| {r['service']} | {r['mtd_usd']:.2f} | {r['projected_usd']:.2f} | {r['previous_usd']:.2f} | {r['change_usd']:+.2f} |" for r in rows]
    journal.details["markdown_sections"] = [("Spend by service (USD)", "\n".join(section) + f"\n\nProjection: {how}.")]
    if not past:
        _anomalies(sources, cache, opts, journal)
    _budget_agreement(sources, opts, projected, mtd.total, journal)
    _count_requests(journal, cache)
    report = journal.finish()
    if projected is None:
        reason = error or how
        return replace(report, summary=headline(report, reason))
    pct = 100 * projected / opts.budget_usd
    return replace(report, summary=headline(report, f"projected {projected:.2f} USD of {opts.budget_usd:.2f} ({pct:.0f}%), "
                                                    f"{mtd.total:.2f} so far; {how}"))


def _inconclusive(sources: CostSources, cache: CeCache, opts: CostOptions, journal: Journal, reason: str, past: bool) -> Report:
    """Cost Explorer answered with no cost at all: nothing to judge the budget on, and no zero pretends otherwise."""
    for name in ("month_to_date_usd", "projected_usd", "projected_storage_usd"):
        journal.mark_not_measured(name, reason)
    journal.details["projection_method"] = "none: no cost returned"
    journal.check("COST-BUDGET", "unknown", reason)
    journal.check("COST-STORAGE", "unknown", reason)
    if not past:
        _anomalies(sources, cache, opts, journal)
    _budget_agreement(sources, opts, None, None, journal)
    _count_requests(journal, cache)
    report = journal.finish()
    return replace(report, summary=headline(report, reason))


def _measure_or_not(journal: Journal, name: str, value: float | None, why: str) -> None:
    if value is None:
        journal.mark_not_measured(name, why)
    else:
        journal.measure(name, round(value, 2))


def _count_requests(journal: Journal, cache: CeCache) -> None:
    journal.measure("ce_paid_requests", cache.paid_requests)
    journal.measure("ce_request_cost_usd", round(cache.cost_usd, 2))


def _judge(journal: Journal, cid: str, value: float, limit: float, how: str, estimated: bool) -> None:
    pct = 100 * value / limit
    status = "fail" if pct >= 100 else "warn" if pct >= 80 else "pass"
    note = " (periods marked Estimated by Cost Explorer)" if estimated else ""
    journal.check(cid, status, f"projected {value:.2f} USD is {pct:.0f}% of {limit:.2f} USD; {how}{note}")


def _table(mtd: Spend, previous: Spend, projected: float, days_in: int) -> list[dict[str, Any]]:
    services = sorted(set(mtd.by_service) | set(previous.by_service))
    share = projected / mtd.total if mtd.total else 0.0
    return [{
        "service": s,
        "mtd_usd": round(mtd.by_service.get(s, 0.0), 2),
        "projected_usd": round(mtd.by_service.get(s, 0.0) * share, 2),
        "previous_usd": round(previous.by_service.get(s, 0.0), 2),
        "change_usd": round(mtd.by_service.get(s, 0.0) - previous.by_service.get(s, 0.0), 2),
    } for s in services]


def _monitors(sources: CostSources, cache: CeCache) -> Read:
    """The account's Cost Anomaly Detection monitors (GetAnomalyMonitors, every page, each a paid request)."""
    return safe_read(lambda: [m for page in cached_pages(cache, "GetAnomalyMonitors", {}, sources.anomalies.get_anomaly_monitors)
                              for m in page.get("AnomalyMonitors", [])])


def monitor_gap(monitor: dict[str, Any], account_id: str | None, window_start: date) -> str | None:
    """Why a monitor cannot vouch for "no anomaly in this account over the window", or None when it can.

    It can when it looks at this account's spend by service and did so over the whole window: a DIMENSIONAL
    monitor of the SERVICE dimension (AWS managed: every service of the account), or a CUSTOM monitor whose
    specification covers this account (a LINKED_ACCOUNT dimension holding its id, or no account restriction at
    all); and created on or before the window's first day (GetAnomalyMonitors' CreationDate, YYYY-MM-DD):
    a monitor created since has not looked at the days before it."""
    name = monitor.get("MonitorName") or monitor.get("MonitorArn") or "?"
    kind, dimension = monitor.get("MonitorType"), monitor.get("MonitorDimension")
    if kind == "DIMENSIONAL" and dimension != "SERVICE":
        return f"{name}: a DIMENSIONAL monitor of {dimension or 'no'} dimension, not SERVICE"
    if kind == "CUSTOM":
        accounts = _linked_accounts(monitor.get("MonitorSpecification") or {})
        if accounts is not None and (account_id is None or account_id not in accounts):
            return (f"{name}: a CUSTOM monitor of linked account(s) {', '.join(sorted(accounts)) or 'none'}, "
                    + ("and this account's id could not be read" if account_id is None else f"not of this account {account_id}"))
    elif kind != "DIMENSIONAL":
        return f"{name}: monitor type {kind!r} is neither DIMENSIONAL nor CUSTOM"
    created = str(monitor.get("CreationDate") or "")
    try:
        created_on = date.fromisoformat(created[:10])
    except ValueError:
        return f"{name}: its creation date {created or 'is missing'}{'' if not created else ' is not a date'}"
    if created_on > window_start:
        return f"{name}: created {created_on.isoformat()}, after the window's first day {window_start.isoformat()}"
    return None


def _linked_accounts(expression: dict[str, Any], negated: bool = False) -> set[str] | None:
    """The account ids a monitor's specification restricts it to (None: no LINKED_ACCOUNT restriction). An
    account named under a Not is excluded, not covered; the safe reading is that it covers none there."""
    found: set[str] | None = None
    dims = expression.get("Dimensions") or {}
    if dims.get("Key") == "LINKED_ACCOUNT":
        found = set() if negated else {str(v) for v in dims.get("Values") or []}
    for child in [*(expression.get("And") or []), *(expression.get("Or") or [])]:
        sub = _linked_accounts(child, negated)
        if sub is not None:
            found = (found or set()) | sub
    if expression.get("Not"):
        sub = _linked_accounts(expression["Not"], not negated)
        if sub is not None:
            found = found or set()
    return found


def _anomalies(sources: CostSources, cache: CeCache, opts: CostOptions, journal: Journal) -> None:
    """No anomaly is evidence only when a monitor looks for them in this account, by service, over the whole
    window: without one, COST-ANOMALIES is unknown, with each monitor's reason."""
    monitors = _monitors(sources, cache)
    if not monitors.ok:
        journal.check("COST-ANOMALIES", "unknown" if monitors.unimplemented else "error",
                      f"anomaly monitors not read: {monitors.error}")
        return
    if not monitors.value:
        journal.check("COST-ANOMALIES", "unknown", "no anomaly monitor: Cost Anomaly Detection looks at nothing in this "
                                                   "account, so finding no anomaly says nothing (create a SERVICE monitor)")
        return
    window_start = opts.today - timedelta(days=30)
    gaps = {str(m.get("MonitorName")): monitor_gap(m, sources.account_id, window_start) for m in monitors.value}
    journal.details["anomaly_monitors"] = [m.get("MonitorName") for m in monitors.value]
    journal.details["anomaly_monitors_not_watching"] = {n: why for n, why in gaps.items() if why}
    if all(gaps.values()):
        journal.check("COST-ANOMALIES", "unknown", "no anomaly monitor watches this account's services over the last 30 days, "
                                                   "so finding no anomaly says nothing: " + "; ".join(v for v in gaps.values() if v))
        return
    params = {"DateInterval": {"StartDate": window_start.isoformat(), "EndDate": opts.today.isoformat()}}
    read = safe_read(lambda: [a for page in cached_pages(cache, "GetAnomalies", params, sources.anomalies.get_anomalies)
                              for a in page.get("Anomalies", [])])
    if not read.ok:
        journal.check("COST-ANOMALIES", "unknown" if read.unimplemented else "error", f"anomalies not read: {read.error}")
        return
    ours = [a for a in read.value
            if any(rc.get("Service") in opts.services for rc in a.get("RootCauses", []))]
    journal.details["anomalies"] = ours
    if ours:
        worst = max(ours, key=lambda a: a.get("Impact", {}).get("TotalImpact", 0))
        journal.check("COST-ANOMALIES", "warn", f"{len(ours)} anomaly(ies) in 30 days; largest {worst.get('Impact', {}).get('TotalImpact', 0):.2f} USD "
                                               f"on {worst['RootCauses'][0].get('Service')}")
    else:
        journal.check("COST-ANOMALIES", "pass", f"no cost anomaly on the estate's services in the last 30 days "
                                                f"({sum(1 for v in gaps.values() if v is None)} anomaly monitor(s) watching them since "
                                                f"{window_start.isoformat()} or before)")


def _budget_agreement(sources: CostSources, opts: CostOptions, projected: float | None, mtd: float | None,
                      journal: Journal) -> None:
    """Optional evidence: does AWS Budgets see the same spend? Never decides the budget verdict on its own."""
    if sources.budgets is None:
        return
    if not sources.account_id:
        journal.check("COST-AWS-BUDGET", "unknown", "AWS Budgets not read: the account id could not be read")
        return
    read = safe_read(lambda: paged(sources.budgets, "describe_budgets", "Budgets", AccountId=sources.account_id))
    if not read.ok:
        journal.check("COST-AWS-BUDGET", "unknown" if read.unimplemented else "error", f"AWS Budgets not read: {read.error}")
        return
    budgets = [b for b in read.value if b.get("BudgetType") == "COST" and (opts.budget_name is None or b["BudgetName"] == opts.budget_name)]
    if not budgets:
        journal.check("COST-AWS-BUDGET", "warn", "no AWS Budgets cost budget found for the estate")
        return
    b = budgets[0]
    spend = b.get("CalculatedSpend", {})
    actual = float(spend.get("ActualSpend", {}).get("Amount", 0))
    fc = float(spend.get("ForecastedSpend", {}).get("Amount", 0) or 0)
    limit = float(b["BudgetLimit"]["Amount"])
    if mtd is None or projected is None:
        journal.check("COST-AWS-BUDGET", "unknown", f"AWS Budgets '{b['BudgetName']}' limit {limit:.2f}: actual {actual:.2f}, "
                                                    f"forecast {fc:.2f}; nothing from Cost Explorer to compare it with")
        return
    agree = abs(actual - mtd) <= max(1.0, 0.1 * max(actual, mtd))
    journal.check("COST-AWS-BUDGET", "pass" if agree else "warn",
                  f"AWS Budgets '{b['BudgetName']}' limit {limit:.2f}: actual {actual:.2f}, forecast {fc:.2f} vs dbops "
                  f"{mtd:.2f} / {projected:.2f} — {'agree' if agree else 'DISAGREE (Budgets covers the whole account unless filtered)'}")
