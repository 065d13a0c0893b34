"""cost_check: spend against the budget, as `dbops cost check` judges it, from the Cost Explorer cache.

Every Cost Explorer request costs 0.01 USD. Unless the server was started with --allow-paid-requests,
the tool answers only from fresh cached responses (those `dbops cost check` keeps for a few hours) and
refuses when one is missing; with it, missing answers are asked for, at most MAX_PAID_REQUESTS a server
session, and the paid requests are counted in the answer and in the audit log. The report is returned,
not written.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone
from typing import Any, Callable

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from ops.cost.cache import PRICE_PER_REQUEST_USD, CeCache
from ops.mcp.common import answers, loaded, refuse
from ops.mcp.evidence import plain
from ops.mcp.settings import McpSettings


# The paid Cost Explorer requests one server session may make: a month's check asks a handful (usage pages, the
# forecast), so 20 covers a few months; an assistant calling the tool in a loop stops at 0.20 USD.
MAX_PAID_REQUESTS = 20


class NotCached(Exception):
    """A Cost Explorer answer the cache does not hold fresh, on a server that may not pay for it."""


class OverPaidCap(Exception):
    """A Cost Explorer request past the session's MAX_PAID_REQUESTS."""


class PaidBudget:
    """The paid requests a server session has made, refused past its most (tools run in threads: one lock)."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.spent = 0
        self._lock = threading.Lock()

    def take(self, operation: str) -> None:
        with self._lock:
            if self.spent >= self.most:
                raise OverPaidCap(operation)
            self.spent += 1


class Capped(CeCache):
    """The cache, with every miss paid from the session's budget and refused once it is spent."""

    budget: PaidBudget

    def call(self, operation: str, params: dict[str, Any], fetch: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        def paid() -> dict[str, Any]:
            self.budget.take(operation)
            return fetch()

        return super().call(operation, params, paid)


def capped(cache: CeCache, budget: PaidBudget) -> Capped:
    out = Capped(cache.directory, cache.scope, cache.ttl_s, enabled=cache.enabled, off_reason=cache.off_reason)
    out.budget = budget
    return out


class CacheOnly(CeCache):
    """The cache, with every miss refused instead of sent to Cost Explorer."""

    def call(self, operation: str, params: dict[str, Any], fetch: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        def unpaid() -> dict[str, Any]:
            raise NotCached(operation)

        return super().call(operation, params, unpaid)


def cache_only(cache: CeCache) -> CacheOnly:
    return CacheOnly(cache.directory, cache.scope, cache.ttl_s, enabled=cache.enabled, off_reason=cache.off_reason)


def month_of(text: str | None, today: date) -> date:
    if text is None:
        return today.replace(day=1)
    try:
        year, month = (int(x) for x in text.split("-"))
        first = date(year, month, 1)
    except ValueError:
        raise ToolError(f"month '{text}' is not a month as YYYY-MM") from None
    if first > today:
        raise ToolError(f"month {text} is in the future")
    return first


def register(server: MCPServer, settings: McpSettings) -> None:
    paid = f"asks Cost Explorer for what the cache lacks (counted, at most {MAX_PAID_REQUESTS} requests a session)" \
        if settings.allow_paid_requests else "answers from the cache only (this server makes no paid request)"
    budget = PaidBudget(MAX_PAID_REQUESTS)  # the server's: every call of the tool pays from it

    @server.tool(description="Month-to-date and projected spend against the budget, as `dbops cost check`; "
                             f"{paid}. MONTH as YYYY-MM (default: this month).")
    @answers
    def cost_check(month: str | None = None) -> dict[str, Any]:
        from ops.aws import Aws
        from ops.cost.cache import scoped_cache
        from ops.cost.check import CostOptions, CostSources, run_cost_check
        from ops.report import Journal

        cfg, env = loaded(settings)
        today = datetime.now(timezone.utc).date()
        first = month_of(month, today)
        aws = Aws.for_env(cfg, env)
        ce = aws.client("ce")
        cache = scoped_cache(cfg.root / ".dbops" / "cache" / "ce", lambda: aws.client("sts").get_caller_identity()["Account"],
                             endpoint=aws.endpoint_url, region=aws.region)
        cache = capped(cache, budget) if settings.allow_paid_requests else cache_only(cache)
        sources = CostSources(usage=ce, forecast=ce, anomalies=ce, budgets=aws.client("budgets"),
                              account_id=cache.scope.account if cache.scope else None)
        opts = CostOptions(budget_usd=cfg.policy.monthly_budget_usd, storage_budget_usd=cfg.policy.storage_budget_usd,
                           month=first, today=today, budget_name=f"dbops-{env.name}")
        try:
            report = run_cost_check(sources, opts, cache, Journal("cost", f"estate:{env.name}", env.name))
        except NotCached as exc:
            why = cache.off_reason if not cache.enabled else f"no fresh cached answer to {exc}"
            raise refuse(f"cost_check: {why}; a Cost Explorer request costs 0.01 USD and this server was started "
                         f"without --allow-paid-requests (run `dbops cost check --env {env.name}` to refresh the cache)") from None
        except OverPaidCap:
            raise refuse(f"cost_check: this server has made its {budget.most} paid Cost Explorer requests, the most a "
                         f"session may ({budget.most * PRICE_PER_REQUEST_USD:.2f} USD); what they answered is cached "
                         f"(run `dbops cost check --env {env.name}` for more, or restart the server)") from None
        return plain({**report.to_dict(), "ce_paid_requests": cache.paid_requests, "ce_cache_hits": cache.hits,
                      "ce_request_cost_usd": round(cache.cost_usd, 2), "ce_paid_requests_this_session": budget.spent,
                      "ce_paid_requests_session_max": budget.most})
