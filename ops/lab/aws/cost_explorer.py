"""Cost Explorer in the lab's emulator: GetCostAndUsage, GetCostForecast and GetAnomalies answer
from the estate — what exists in the emulator, priced day by day by ops.lab.aws.cost_usage — with the
request checks, shapes and errors of the AWS API reference (Cost Explorer, 2017-10-25).

GetCostAndUsage
- TimePeriod Start inclusive, End exclusive (YYYY-MM-DD). Start not before End:
  ValidationException "Start date (and hour) should be before end date (and hour)"; an End
  after the first day of next month: "end date past the beginning of next month"; a Start more
  than 14 months back that is not the first of a month: "To retrieve data beyond the past 14
  months, your start date needs to be the first day of the month."
- Granularity DAILY or MONTHLY (a MONTHLY period is cut at the TimePeriod's ends). HOURLY
  needs hourly data, which the lab does not keep: 501 NotImplemented.
- Metrics: UnblendedCost, BlendedCost, AmortizedCost, NetUnblendedCost, NetAmortizedCost (all
  the same in the lab: list prices, no discounts or credits) and UsageQuantity (Unit: the
  usage type's unit, or "N/A" over several). NormalizedUsageAmount: 501.
- Filter: Expression with And, Or, Not, Dimensions (SERVICE, USAGE_TYPE, REGION,
  LINKED_ACCOUNT, RECORD_TYPE; MatchOptions EQUALS, CASE_SENSITIVE) and Tags (EQUALS, ABSENT,
  CASE_SENSITIVE; a Key with no Values, or the value "", matches resources without the tag; no
  Key at all, resources without tags). Every tag counts as an activated cost allocation tag.
  Other dimensions and CostCategories: 501.
- GroupBy: up to two of DIMENSION (SERVICE, USAGE_TYPE, REGION, LINKED_ACCOUNT, RECORD_TYPE)
  and TAG (keys "key$value", "key$" without the tag); then Total is {} and Groups carry the
  metrics. Other dimensions that AWS groups by and COST_CATEGORY: 501.
- Only whole days are in Cost Explorer: today and later have no cost (AWS shows today in part,
  refreshed about three times a day; the lab waits for the day to end, so every figure is
  fixed for a date). Estimated is true for every period that ends after the first day of the
  current month (the bill of the month is not final).
- Pages of `cost_page_size` groups (lab setting, 100); NextPageToken names its query:
  InvalidNextTokenException for a token that is not one, RequestChangedException for a token
  of another query.
- Results seeded through moto's /moto-api/static/ce/cost-and-usage-results take precedence,
  as in plain moto.

GetCostForecast: Start not before today ("The start date must be equal to or no later than the
current date"), before End ("Requested Start: S must be before requested End: E"), DAILY for up
to 3 months or MONTHLY for up to 12, a cost metric, PredictionIntervalLevel 51-99. The forecast
is the daily cost of what is billed now (the scenario's overrun included, a one-off burst not)
for every day of the period: the lab's costs do not vary, so the prediction interval, when
asked for, is the mean itself. DataUnavailableException "Insufficient amount of historical data
to generate forecast." until what the filter selects has a whole calendar month billed before
this one ("This is common for accounts that have less than one full billing cycle", Cost
Explorer user guide, "Forecasting with Cost Explorer").

GetAnomalyMonitors answers that monitor. GetAnomalies: the lab has one service monitor; it reports the anomaly scenario's burst (on the
day it happened, RootCauses naming service, region, account and usage type, Impact against the
day's expected spend) and nothing otherwise. DateInterval (AnomalyEndDate within it, up to 90
days back), MonitorArn, Feedback, TotalImpact, MaxResults and NextPageToken are honoured.

Lab settings: cost_scenario (normal | overrun | anomaly), cost_history_days and
cost_history_tag and aurora_schedule (ops.lab.aws.cost_usage), cost_page_size, cost_fault (none | throttle:
LimitExceededException for every Cost Explorer call).
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from ops.lab.aws import cost_usage, settings
from ops.lab.aws.cost_usage import Charge, Ledger, Model
from ops.window import SETTING_PATTERN, from_setting

SCENARIO = "cost_scenario"
HISTORY_DAYS = "cost_history_days"
HISTORY_TAG = "cost_history_tag"
SCHEDULE = "aurora_schedule"
PAGE_SIZE = "cost_page_size"
FAULT = "cost_fault"
SCENARIOS = ("normal", "overrun", "anomaly")

COST_METRICS = ("UnblendedCost", "BlendedCost", "AmortizedCost", "NetUnblendedCost", "NetAmortizedCost")
FORECAST_METRICS = ("UNBLENDED_COST", "BLENDED_COST", "AMORTIZED_COST", "NET_UNBLENDED_COST", "NET_AMORTIZED_COST")
DIMENSIONS = (
    "AZ", "INSTANCE_TYPE", "LINKED_ACCOUNT", "LINKED_ACCOUNT_NAME", "OPERATION", "PURCHASE_TYPE", "REGION", "SERVICE",
    "SERVICE_CODE", "USAGE_TYPE", "USAGE_TYPE_GROUP", "RECORD_TYPE", "OPERATING_SYSTEM", "TENANCY", "SCOPE", "PLATFORM",
    "SUBSCRIPTION_ID", "LEGAL_ENTITY_NAME", "DEPLOYMENT_OPTION", "DATABASE_ENGINE", "CACHE_ENGINE", "INSTANCE_TYPE_FAMILY",
    "BILLING_ENTITY", "RESERVATION_ID", "RESOURCE_ID", "RIGHTSIZING_TYPE", "SAVINGS_PLANS_TYPE", "SAVINGS_PLAN_ARN",
    "PAYMENT_OPTION", "AGREEMENT_END_DATE_TIME_AFTER", "AGREEMENT_END_DATE_TIME_BEFORE", "INVOICING_ENTITY",
)
GROUP_DIMENSIONS = ("AZ", "INSTANCE_TYPE", "LEGAL_ENTITY_NAME", "INVOICING_ENTITY", "LINKED_ACCOUNT", "OPERATION", "PLATFORM",
                    "PURCHASE_TYPE", "SERVICE", "TENANCY", "RECORD_TYPE", "USAGE_TYPE", "REGION")
MODELLED = {
    "SERVICE": lambda c: c.service,
    "USAGE_TYPE": lambda c: c.usage_type,
    "REGION": lambda c: c.region,
    "LINKED_ACCOUNT": lambda c: c.account,
    "RECORD_TYPE": lambda c: "Usage",
}
HISTORY_MONTHS = 14
ANOMALY_DAYS = 90
MONITOR = "dbops-lab-services"

_installed = False


class CeError(Exception):
    """An error answer of the service (HTTP 400, JSON __type and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> CeError:
    return CeError("ValidationException", message)


def model() -> Model:
    catalog, usage = cost_usage.catalog_and_usage()
    return Model(catalog, usage, history_days=float(settings.get(HISTORY_DAYS)), history_tag=str(settings.get(HISTORY_TAG)),
                 schedule=from_setting(str(settings.get(SCHEDULE))),
                 scenario=str(settings.get(SCENARIO)))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _date(value: Any, name: str) -> date:
    if not isinstance(value, str):
        raise invalid(f"{name} is required, as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid(f"{name} {value!r} is not a date as YYYY-MM-DD") from None


def _interval(params: dict[str, Any], name: str = "TimePeriod", start: str = "Start", end: str = "End") -> tuple[date, date]:
    period = params.get(name)
    if not isinstance(period, dict):
        raise invalid(f"{name} is required")
    return _date(period.get(start), f"{name}.{start}"), _date(period.get(end), f"{name}.{end}")


def _amount(value: float) -> str:
    return f"{round(value, 10):.10f}"


# --- filters -----------------------------------------------------------------------------------

Predicate = Callable[[Charge], bool]
_ROOTS = ("And", "Or", "Not", "Dimensions", "Tags", "CostCategories")


def compile_filter(expr: Any, where: str = "Filter") -> Predicate:
    """An Expression as a predicate over charges; ValidationException for a malformed one."""
    if not isinstance(expr, dict):
        raise invalid(f"{where} must be an Expression object")
    roots = [k for k in _ROOTS if expr.get(k) not in (None, [], {})]
    unknown = sorted(set(expr) - set(_ROOTS))
    if unknown:
        raise invalid(f"{where}: unknown field(s) {', '.join(unknown)}")
    if len(roots) != 1:
        raise invalid(f"{where}: an Expression takes exactly one of {', '.join(_ROOTS)}; found {', '.join(roots) or 'none'}")
    root = roots[0]
    value = expr[root]
    if root in ("And", "Or"):
        if not isinstance(value, list):
            raise invalid(f"{where}.{root} must be a list of Expressions")
        parts = [compile_filter(e, f"{where}.{root}[{i}]") for i, e in enumerate(value)]
        return (lambda c: all(p(c) for p in parts)) if root == "And" else (lambda c: any(p(c) for p in parts))
    if root == "Not":
        inner = compile_filter(value, f"{where}.Not")
        return lambda c: not inner(c)
    if root == "Dimensions":
        return _dimension_filter(value, f"{where}.Dimensions")
    if root == "Tags":
        return _tag_filter(value, f"{where}.Tags")
    raise NotImplementedError("A Cost Explorer filter on CostCategories (the lab has no cost categories)")


def _options(values: Any, allowed: tuple[str, ...], where: str) -> set[str]:
    if values is None:
        return {"EQUALS", "CASE_SENSITIVE"}
    if not isinstance(values, list) or any(v not in allowed for v in values):
        raise invalid(f"{where}.MatchOptions must be among {', '.join(allowed)}, got {values!r}")
    return set(values)


def _dimension_filter(spec: Any, where: str) -> Predicate:
    if not isinstance(spec, dict):
        raise invalid(f"{where} must be a DimensionValues object")
    key, values = spec.get("Key"), spec.get("Values")
    if key not in DIMENSIONS:
        raise invalid(f"{where}.Key {key!r} is not a dimension (one of {', '.join(DIMENSIONS)})")
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise invalid(f"{where}.Values must be a non-empty list of strings")
    _options(spec.get("MatchOptions"), ("EQUALS", "CASE_SENSITIVE"), where)  # the only ones: exact matches
    if key not in MODELLED:
        raise NotImplementedError(f"A Cost Explorer filter on dimension {key}")
    read, wanted = MODELLED[key], set(values)
    return lambda c: read(c) in wanted


def _tag_filter(spec: Any, where: str) -> Predicate:
    if not isinstance(spec, dict):
        raise invalid(f"{where} must be a TagValues object")
    key, values = spec.get("Key"), spec.get("Values")
    options = _options(spec.get("MatchOptions"), ("EQUALS", "ABSENT", "CASE_SENSITIVE"), where)
    if values is not None and (not isinstance(values, list) or not all(isinstance(v, str) for v in values)):
        raise invalid(f"{where}.Values must be a list of strings")
    if key is None:
        if values:
            raise invalid(f"{where}: Values without a Key")
        return lambda c: not c.tags
    if not isinstance(key, str) or not key:
        raise invalid(f"{where}.Key must be a tag key")
    if not values or "ABSENT" in options:
        return lambda c: c.tag(key) is None
    wanted = set(values)
    return lambda c: (c.tag(key) if c.tag(key) is not None else "") in wanted


# --- grouping, periods, pages ------------------------------------------------------------------

def _group_readers(group_by: Any) -> list[Callable[[Charge], str]]:
    if group_by is None:
        return []
    if not isinstance(group_by, list):
        raise invalid("GroupBy must be a list of GroupDefinitions")
    if len(group_by) > 2:
        raise invalid("GroupBy takes at most two group definitions")
    readers: list[Callable[[Charge], str]] = []
    seen = set()
    for i, g in enumerate(group_by):
        if not isinstance(g, dict) or g.get("Type") not in ("DIMENSION", "TAG", "COST_CATEGORY") or not g.get("Key"):
            raise invalid(f"GroupBy[{i}] needs a Type (DIMENSION, TAG or COST_CATEGORY) and a Key")
        kind, key = g["Type"], g["Key"]
        if (kind, key) in seen:
            raise invalid(f"GroupBy[{i}]: {kind} {key} is grouped by twice")
        seen.add((kind, key))
        if kind == "DIMENSION":
            if key not in GROUP_DIMENSIONS:
                raise invalid(f"GroupBy[{i}]: cannot group by dimension {key!r} (one of {', '.join(GROUP_DIMENSIONS)})")
            if key not in MODELLED:
                raise NotImplementedError(f"Grouping Cost Explorer results by dimension {key}")
            readers.append(MODELLED[key])
        elif kind == "TAG":
            readers.append(lambda c, k=key: f"{k}${c.tag(k) or ''}")
        else:
            raise NotImplementedError("Grouping Cost Explorer results by cost category")
    return readers


def _periods(start: date, end: date, granularity: str) -> list[tuple[date, date]]:
    out = []
    cursor = start
    while cursor < end:
        if granularity == "DAILY":
            nxt = cursor + timedelta(days=1)
        else:
            nxt = min(end, (cursor.replace(day=1) + timedelta(days=32)).replace(day=1))
        out.append((cursor, nxt))
        cursor = nxt
    return out


def _digest(params: dict[str, Any]) -> str:
    body = {k: v for k, v in params.items() if k != "NextPageToken"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _token(offset: int, digest: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset, "query": digest}).encode()).decode()


def _offset(params: dict[str, Any]) -> int:
    token = params.get("NextPageToken")
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        offset, digest = int(data["offset"]), str(data["query"])
    except (ValueError, KeyError, TypeError):
        raise CeError("InvalidNextTokenException", "The pagination token is invalid. Try again without a pagination token.") from None
    if offset < 0:
        raise CeError("InvalidNextTokenException", "The pagination token is invalid. Try again without a pagination token.")
    if digest != _digest(params):
        raise CeError("RequestChangedException",
                      "Your request parameters changed between pages. Try again with the old parameters or without a pagination token.")
    return offset


def _metric_names(metrics: Any) -> list[tuple[str, str]]:
    """(name as asked, what it measures: 'cost' or 'usage')."""
    if not isinstance(metrics, list) or not metrics:
        raise invalid("Metrics is required for GetCostAndUsage requests")
    canonical = {m.lower(): "cost" for m in COST_METRICS} | {"usagequantity": "usage", "normalizedusageamount": "normalized"}
    out = []
    for m in metrics:
        kind = canonical.get(str(m).replace("_", "").lower())
        if kind is None:
            raise invalid(f"Metric {m!r} is not one of {', '.join(COST_METRICS)}, NormalizedUsageAmount, UsageQuantity")
        if kind == "normalized":
            raise NotImplementedError("The NormalizedUsageAmount metric (the lab keeps no normalization factors)")
        out.append((str(m), kind))
    return out


def _metric_values(metrics: list[tuple[str, str]], usd: float, qty: float, units: set[str]) -> dict[str, Any]:
    unit = next(iter(units)) if len(units) == 1 else "N/A"
    return {name: {"Amount": _amount(usd if kind == "cost" else qty), "Unit": "USD" if kind == "cost" else unit}
            for name, kind in metrics}


def cost_and_usage(account: str, params: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    now = now or _now()
    today = now.date()
    start, end = _interval(params)
    granularity = params.get("Granularity")
    if granularity not in ("DAILY", "MONTHLY", "HOURLY"):
        raise invalid(f"Granularity must be DAILY, MONTHLY or HOURLY, got {granularity!r}")
    if granularity == "HOURLY":
        raise NotImplementedError("HOURLY granularity (the lab keeps no hourly cost data)")
    metrics = _metric_names(params.get("Metrics"))
    if start >= end:
        raise invalid("Start date (and hour) should be before end date (and hour)")
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    if end > next_month:
        raise invalid("end date past the beginning of next month")
    if start < _add_months(today, -HISTORY_MONTHS) and start.day != 1:
        raise invalid("To retrieve data beyond the past 14 months, your start date needs to be the first day of the month.")
    keep = compile_filter(params["Filter"]) if params.get("Filter") is not None else (lambda c: True)
    readers = _group_readers(params.get("GroupBy"))
    offset = _offset(params)
    ledger = cost_usage.ledger(account, model(), now).select(keep)
    first_of_month = today.replace(day=1)

    entries: list[tuple[int, tuple[str, ...] | None, list[Any] | None]] = []
    periods = _periods(start, end, granularity)
    for i, (p_start, p_end) in enumerate(periods):
        sums: dict[tuple[str, ...], list[Any]] = {}
        for day in cost_usage.days(p_start, min(p_end, today)):
            for c in ledger.charges:
                usd, qty = c.on(day)
                if usd == 0 and qty == 0:
                    continue
                key = tuple(r(c) for r in readers)
                acc = sums.setdefault(key, [0.0, 0.0, set()])
                acc[0] += usd
                acc[1] += qty
                acc[2].add(c.unit)
        if readers and sums:
            entries.extend((i, key, sums[key]) for key in sorted(sums))
        else:
            entries.append((i, None, sums.get((), [0.0, 0.0, set()])))

    size = int(settings.get(PAGE_SIZE))
    page = entries[offset:offset + size]
    results: list[dict[str, Any]] = []
    for i, key, acc in page:
        p_start, p_end = periods[i]
        if not results or results[-1]["_index"] != i:
            results.append({"_index": i, "TimePeriod": {"Start": p_start.isoformat(), "End": p_end.isoformat()},
                            "Total": {}, "Groups": [], "Estimated": p_end > first_of_month})
        if readers:
            if key is not None:
                results[-1]["Groups"].append({"Keys": list(key), "Metrics": _metric_values(metrics, acc[0], acc[1], acc[2])})
        else:
            results[-1]["Total"] = _metric_values(metrics, acc[0], acc[1], acc[2])
    for r in results:
        del r["_index"]
    answer: dict[str, Any] = {"ResultsByTime": results, "DimensionValueAttributes": []}
    if params.get("GroupBy"):
        answer["GroupDefinitions"] = params["GroupBy"]
    if offset + size < len(entries):
        answer["NextPageToken"] = _token(offset + size, _digest(params))
    return answer


# --- forecast ----------------------------------------------------------------------------------

def cost_forecast(account: str, params: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    now = now or _now()
    today = now.date()
    start, end = _interval(params)
    metric = params.get("Metric")
    if metric not in FORECAST_METRICS:
        raise invalid(f"Metric {metric!r} is not one of {', '.join(FORECAST_METRICS)} (GetUsageForecast forecasts usage)")
    granularity = params.get("Granularity")
    if granularity not in ("DAILY", "MONTHLY"):
        raise invalid(f"GetCostForecast supports only DAILY and MONTHLY granularities, not {granularity!r}")
    if start < today:
        raise invalid(f"The start date must be equal to or no later than the current date ({today.isoformat()}), "
                      f"not {start.isoformat()}")
    if start >= end:
        raise invalid(f"Requested Start: {start.isoformat()} must be before requested End: {end.isoformat()}")
    horizon = _add_months(start, 3 if granularity == "DAILY" else 12)
    if end > horizon:
        raise invalid(f"A {granularity} forecast ends by {horizon.isoformat()} (3 months of DAILY or 12 months of "
                      f"MONTHLY forecasts), not {end.isoformat()}")
    level = params.get("PredictionIntervalLevel")
    if level is not None and (isinstance(level, bool) or not isinstance(level, int) or not 51 <= level <= 99):
        raise invalid(f"PredictionIntervalLevel must be an integer from 51 to 99, got {level!r}")
    keep = compile_filter(params["Filter"]) if params.get("Filter") is not None else (lambda c: True)
    ledger = cost_usage.ledger(account, model(), now).select(keep)
    if not ledger.has_billing_cycle():
        raise CeError("DataUnavailableException", "Insufficient amount of historical data to generate forecast.")
    results, total = [], 0.0
    for p_start, p_end in _periods(start, end, granularity):
        mean = ledger.forecast(p_start, p_end)
        total += mean
        row: dict[str, Any] = {"TimePeriod": {"Start": p_start.isoformat(), "End": p_end.isoformat()}, "MeanValue": _amount(mean)}
        if level is not None:
            row["PredictionIntervalLowerBound"] = row["PredictionIntervalUpperBound"] = _amount(mean)
        results.append(row)
    return {"Total": {"Amount": _amount(total), "Unit": "USD"}, "ForecastResultsByTime": results}


# --- anomalies ---------------------------------------------------------------------------------

def monitor_arn(account: str) -> str:
    return f"arn:aws:ce::{account}:anomalymonitor/{MONITOR}"


def anomaly_monitors(account: str, params: dict[str, Any]) -> dict[str, Any]:
    """GetAnomalyMonitors: the lab's one SERVICE monitor (MonitorArnList narrows it; one page)."""
    wanted = params.get("MonitorArnList")
    if wanted is not None and (not isinstance(wanted, list) or not all(isinstance(a, str) for a in wanted)):
        raise invalid("MonitorArnList must be a list of ARNs")
    monitor = {"MonitorArn": monitor_arn(account), "MonitorName": MONITOR, "MonitorType": "DIMENSIONAL",
               "MonitorDimension": "SERVICE", "CreationDate": "2026-01-01"}
    return {"AnomalyMonitors": [monitor] if wanted is None or monitor["MonitorArn"] in wanted else []}


def anomalies_of(ledger: Ledger) -> list[dict[str, Any]]:
    """The anomalies the lab's monitor found: the anomaly scenario's burst, if it is on."""
    spikes = [c for c in ledger.charges if c.scenario == "anomaly"]
    out = []
    for spike in spikes:
        day = spike.start.date()
        expected = sum(c.on(day)[0] for c in ledger.charges
                       if c.recurring and (c.service, c.usage_type, c.region) == (spike.service, spike.usage_type, spike.region))
        impact = spike.usd
        anomaly: dict[str, Any] = {
            "AnomalyId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dbops-lab:{ledger.account}:{day}:{spike.usage_type}")),
            "AnomalyStartDate": day.isoformat(),
            "AnomalyEndDate": day.isoformat(),
            "DimensionValue": spike.service,
            "RootCauses": [{"Service": spike.service, "Region": spike.region, "LinkedAccount": ledger.account,
                            "UsageType": spike.usage_type, "Impact": {"Contribution": round(impact, 2)}}],
            "AnomalyScore": {"MaxScore": round(impact / (impact + expected), 2), "CurrentScore": round(impact / (impact + expected), 2)},
            "Impact": {"MaxImpact": round(impact, 2), "TotalImpact": round(impact, 2), "TotalActualSpend": round(impact + expected, 2),
                       "TotalExpectedSpend": round(expected, 2)},
            "MonitorArn": monitor_arn(ledger.account),
        }
        if expected > 0:
            anomaly["Impact"]["TotalImpactPercentage"] = round(100 * impact / expected, 2)
        out.append(anomaly)
    return out


def _impact_filter(spec: Any) -> Callable[[float], bool]:
    if spec is None:
        return lambda v: True
    ops = {"EQUAL": lambda v, a, b: v == a, "GREATER_THAN_OR_EQUAL": lambda v, a, b: v >= a,
           "LESS_THAN_OR_EQUAL": lambda v, a, b: v <= a, "GREATER_THAN": lambda v, a, b: v > a,
           "LESS_THAN": lambda v, a, b: v < a, "BETWEEN": lambda v, a, b: a <= v <= b}
    if not isinstance(spec, dict) or spec.get("NumericOperator") not in ops or not isinstance(spec.get("StartValue"), (int, float)):
        raise invalid("TotalImpact needs a NumericOperator (" + ", ".join(ops) + ") and a StartValue")
    low, high = float(spec["StartValue"]), spec.get("EndValue")
    if spec["NumericOperator"] == "BETWEEN" and not isinstance(high, (int, float)):
        raise invalid("TotalImpact BETWEEN needs an EndValue")
    op = ops[spec["NumericOperator"]]
    return lambda v: op(v, low, float(high) if high is not None else 0.0)


def anomalies(account: str, params: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    now = now or _now()
    today = now.date()
    interval = params.get("DateInterval")
    if not isinstance(interval, dict):
        raise invalid("DateInterval is required")
    start = _date(interval.get("StartDate"), "DateInterval.StartDate")
    end = _date(interval["EndDate"], "DateInterval.EndDate") if interval.get("EndDate") else today
    if start > end:
        raise invalid(f"DateInterval.StartDate {start.isoformat()} is after its EndDate {end.isoformat()}")
    if params.get("Feedback") is not None and params["Feedback"] not in ("YES", "NO", "PLANNED_ACTIVITY"):
        raise invalid("Feedback must be YES, NO or PLANNED_ACTIVITY")
    size = params.get("MaxResults")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise invalid("MaxResults must be a positive integer")
    impact = _impact_filter(params.get("TotalImpact"))
    offset = _offset(params)
    ledger = cost_usage.ledger(account, model(), now)
    oldest = today - timedelta(days=ANOMALY_DAYS)
    found = [a for a in anomalies_of(ledger)
             if max(start, oldest).isoformat() <= a["AnomalyEndDate"] <= end.isoformat()
             and params.get("MonitorArn") in (None, a["MonitorArn"])
             and params.get("Feedback") is None  # no feedback was ever given in the lab
             and impact(a["Impact"]["TotalImpact"])]
    page = found[offset:offset + size] if size else found[offset:]
    answer: dict[str, Any] = {"Anomalies": page}
    if size and offset + size < len(found):
        answer["NextPageToken"] = _token(offset + size, _digest(params))
    return answer


# --- wiring into the emulator ------------------------------------------------------------------

def _fault() -> None:
    if settings.get(FAULT) == "throttle":
        raise CeError("LimitExceededException", "You made too many calls in a short period of time. Try again later.")


def _answer(call: Callable[[], dict[str, Any]]) -> Any:
    from moto.core.exceptions import JsonRESTError

    try:
        _fault()
        return json.dumps(call())
    except CeError as exc:
        raise JsonRESTError(exc.code, exc.message) from None


def _params(response: Any) -> dict[str, Any]:
    try:
        data = json.loads(response.body or "{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        from moto.core.exceptions import JsonRESTError

        raise JsonRESTError("ValidationException", "The request body is not a JSON object")
    return data


def install() -> None:
    """Register the cost settings and answer Cost Explorer (and Budgets' calculated spend) from the estate."""
    global _installed
    if _installed:
        return
    settings.register(SCENARIO, "normal", "Cost Explorer scenario: normal, overrun (a db.r6g.xlarge since the first of the month) "
                      "or anomaly (a burst of DynamoDB writes yesterday)", choices=SCENARIOS)
    settings.register(HISTORY_DAYS, 62, "Days of Cost Explorer history before their creation for resources with cost_history_tag",
                      minimum=0, maximum=400, integer=True)
    settings.register(HISTORY_TAG, "managed-by=dbops", "Tag (KEY=VALUE or KEY) of the resources billed with cost_history_days "
                      "of history; empty: every resource")
    settings.register(SCHEDULE, "", "The weekly window (UTC) the estate's Aurora clusters run in, billed as their instance hours: "
                      "DAYS HH:MM HOURS, e.g. SUN 01:00 4 (`dbops lab up` sets the lab env's [envs.lab.schedule]); empty: always on",
                      pattern=SETTING_PATTERN, pattern_doc="DAYS HH:MM HOURS, e.g. SUN 01:00 4 or SAT,SUN 02:30 6")
    settings.register(PAGE_SIZE, 100, "Groups per GetCostAndUsage page", minimum=1, maximum=10_000, integer=True)
    settings.register(FAULT, "none", "Cost Explorer fault: none, or throttle (LimitExceededException)", choices=("none", "throttle"))

    from moto.ce.responses import CostExplorerResponse

    seeded = CostExplorerResponse.get_cost_and_usage

    def get_cost_and_usage(self: CostExplorerResponse) -> str:
        backend = self.ce_backend
        if backend.cost_usage_results_queue or backend.cost_usage_results:
            return seeded(self)  # results a test seeded through moto's API answer first, as in plain moto
        params = _params(self)
        return _answer(lambda: cost_and_usage(self.current_account, params))

    def get_cost_forecast(self: CostExplorerResponse) -> str:
        params = _params(self)
        return _answer(lambda: cost_forecast(self.current_account, params))

    def get_anomalies(self: CostExplorerResponse) -> str:
        params = _params(self)
        return _answer(lambda: anomalies(self.current_account, params))

    def get_anomaly_monitors(self: CostExplorerResponse) -> str:
        params = _params(self)
        return _answer(lambda: anomaly_monitors(self.current_account, params))

    CostExplorerResponse.get_anomaly_monitors = get_anomaly_monitors  # type: ignore[attr-defined]
    CostExplorerResponse.get_cost_and_usage = get_cost_and_usage
    CostExplorerResponse.get_cost_forecast = get_cost_forecast
    CostExplorerResponse.get_anomalies = get_anomalies
    from ops.lab.aws import budgets

    budgets.install(model)
    _installed = True
