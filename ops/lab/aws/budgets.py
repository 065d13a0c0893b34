"""AWS Budgets in the lab's emulator: a cost budget's CalculatedSpend from the lab's Cost Explorer.

moto keeps budgets and answers CalculatedSpend with zeros. Here, for a COST budget,
ActualSpend is what the lab's Cost Explorer bills in the budget's current period (the month,
quarter or year of its TimeUnit that holds today; DAILY: today) up to today — whole days, as
GetCostAndUsage has them — and ForecastedSpend is that plus GetCostForecast's amount for the rest
of the period, so a budget and Cost Explorer asked about the same period agree to the cent.
While the account has no whole billing cycle Cost Explorer cannot forecast, and the budget has
no ForecastedSpend, as AWS leaves it out. A period that has not started costs nothing.

CostFilters taken: Service, Region, UsageType, LinkedAccount and TagKeyValue ("user:KEY$VALUE",
"user:KEY$" for resources without the tag). Any other filter answers 501 NotImplemented rather
than a spend that ignores it. A budget created with its own CalculatedSpend keeps it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from ops.lab.aws import cost_usage
from ops.lab.aws.cost_usage import Charge, Model

_installed = False
# The cost model Cost Explorer answers from, handed in by ops.lab.aws.cost_explorer when it installs this:
# the budget's spend and Cost Explorer's figures are one computation.
_model: Callable[[], Model] | None = None

_DIMENSION_FILTERS: dict[str, Callable[[Charge], str]] = {
    "Service": lambda c: c.service,
    "Region": lambda c: c.region,
    "UsageType": lambda c: c.usage_type,
    "LinkedAccount": lambda c: c.account,
}


def period(time_unit: str, today: date) -> tuple[date, date]:
    """The budget period of `time_unit` that holds today: [start, end)."""
    if time_unit == "DAILY":
        return today, today + timedelta(days=1)
    if time_unit == "QUARTERLY":
        start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        months = 3
    elif time_unit == "ANNUALLY":
        start, months = date(today.year, 1, 1), 12
    else:  # MONTHLY
        start, months = today.replace(day=1), 1
    index = start.year * 12 + start.month - 1 + months
    return start, date(index // 12, index % 12 + 1, 1)


def _moment(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).date()
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), tz=timezone.utc).date()
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), tz=timezone.utc).date()
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()


def cost_filter(filters: dict[str, list[str]] | None) -> Callable[[Charge], bool]:
    checks: list[Callable[[Charge], bool]] = []
    for name, values in (filters or {}).items():
        wanted = set(values or [])
        if name in _DIMENSION_FILTERS:
            read = _DIMENSION_FILTERS[name]
            checks.append(lambda c, r=read, w=wanted: r(c) in w)
        elif name == "TagKeyValue":
            pairs = [v.removeprefix("user:").partition("$") for v in wanted]
            checks.append(lambda c, p=pairs: any((c.tag(k) or "") == v for k, _, v in p))
        else:
            raise NotImplementedError(f"The budget cost filter {name}")
    return lambda c: all(check(c) for check in checks)


def calculated_spend(account: str, budget: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(timezone.utc)
    today = now.date()
    start, end = period(str(budget.get("TimeUnit", "MONTHLY")), today)
    begins = _moment((budget.get("TimePeriod") or {}).get("Start"))
    if begins is not None and begins > start:
        start = begins
    ledger = cost_usage.ledger(account, _cost_model(), now).select(cost_filter(budget.get("CostFilters")))
    if start >= end or start > today:
        actual, projected = 0.0, 0.0
    else:
        actual = ledger.actual(start, today)
        projected = actual + ledger.forecast(max(today, start), end)
    spend: dict[str, Any] = {"ActualSpend": {"Amount": f"{actual:.10f}", "Unit": "USD"}}
    if ledger.has_billing_cycle():
        spend["ForecastedSpend"] = {"Amount": f"{projected:.10f}", "Unit": "USD"}
    return spend


def _cost_model() -> Model:
    if _model is None:
        raise RuntimeError("ops.lab.aws.budgets is installed by ops.lab.aws.cost_explorer, which hands it the cost model")
    return _model()


def install(model: Callable[[], Model]) -> None:
    """Patch moto's Budgets backend so cost budgets carry the spend `model` bills (idempotent)."""
    global _installed, _model
    _model = model
    if _installed:
        return
    from moto.budgets.models import BudgetsBackend

    describe_one, describe_all = BudgetsBackend.describe_budget, BudgetsBackend.describe_budgets

    def with_spend(self: BudgetsBackend, account_id: str, answer: dict[str, Any]) -> dict[str, Any]:
        stored = self.budgets[account_id].get(answer.get("BudgetName"))
        if answer.get("BudgetType") == "COST" and stored is not None and "CalculatedSpend" not in stored.budget:
            answer["CalculatedSpend"] = calculated_spend(account_id, answer)
        return answer

    def describe_budget(self: BudgetsBackend, account_id: str, budget_name: str) -> dict[str, Any]:
        return with_spend(self, account_id, describe_one(self, account_id, budget_name))

    def describe_budgets(self: BudgetsBackend, account_id: str) -> list[dict[str, Any]]:
        return [with_spend(self, account_id, b) for b in describe_all(self, account_id)]

    BudgetsBackend.describe_budget = describe_budget
    BudgetsBackend.describe_budgets = describe_budgets
    _installed = True
