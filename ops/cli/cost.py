"""dbops cost check|estimate|prices"""

from __future__ import annotations

from pathlib import Path

import click

from ops.cli.context import app, emit, finish
from ops.cli.options import FiniteFloat, env_option, json_option, report_options


@click.group()
def cost() -> None:
    """Spend against the budget (Cost Explorer) and plan-time cost estimates."""


def _month(value: str | None):  # type: ignore[no-untyped-def]
    from datetime import date

    if value is None:
        return None
    try:
        year, month = (int(x) for x in value.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a month as YYYY-MM", param_hint="--month") from None


def _tag(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    key, sep, val = value.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"'{value}' is not KEY=VALUE", param_hint="--tag")
    return key, val


@cost.command()
@click.option("--budget", type=FiniteFloat(min=0, min_open=True), help="Monthly budget in USD (default: policy monthly_budget_usd).")
@click.option("--tag", "tag", metavar="KEY=VALUE", help="Only costs carrying this cost allocation tag.")
@click.option("--month", metavar="YYYY-MM", help="Month to check (default: this month).")
@click.option("--no-cache", is_flag=True, help="Ask Cost Explorer again even if a cached answer is fresh (each request costs 0.01 USD).")
@report_options
def check(budget: float | None, tag: str | None, month: str | None, no_cache: bool, env_name: str | None, as_json: bool,
          report_dir, junit, publish_metrics: bool, confirm: tuple[str, ...]) -> int:  # type: ignore[no-untyped-def]
    """Month-to-date and projected spend of the estate against the budget; warn at 80%, fail at 100%."""
    from datetime import datetime, timezone

    from ops.aws import Aws, safe_read
    from ops.cost.cache import CeCache
    from ops.cost.check import CostOptions, CostSources, run_cost_check
    from ops.errors import UsageError
    from ops.report import Journal

    chosen_month, chosen_tag = _month(month), _tag(tag)
    cfg = app().config.with_policy(monthly_budget_usd=budget)
    env = cfg.env(env_name)
    today = datetime.now(timezone.utc).date()
    first = chosen_month or today.replace(day=1)
    if first > today:
        raise UsageError(f"--month {month} is in the future")
    aws = Aws.for_env(cfg, env)
    ce = aws.client("ce")
    account = safe_read(lambda: aws.client("sts").get_caller_identity()["Account"])
    sources = CostSources(usage=ce, forecast=ce, anomalies=ce, budgets=aws.client("budgets"),
                          account_id=account.value, emulated=aws.emulated)
    opts = CostOptions(budget_usd=cfg.policy.monthly_budget_usd, storage_budget_usd=cfg.policy.storage_budget_usd,
                       month=first, today=today, tag=chosen_tag, budget_name=f"dbops-{env.name}")
    cache = CeCache(cfg.root / ".dbops" / "cache" / "ce", enabled=not no_cache)
    target = f"estate:{env.name}" + (f"[{chosen_tag[0]}={chosen_tag[1]}]" if chosen_tag else "")
    report = run_cost_check(sources, opts, cache, Journal("cost", target, env.name))
    click.echo(f"Cost Explorer: {cache.paid_requests} paid request(s) ({cache.cost_usd:.2f} USD), "
               f"{cache.hits} answered from the cache", err=True)
    return finish(report, env, report_dir, junit, publish_metrics, as_json)


@cost.command()
@env_option
@click.option("--plan", "plan_json", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="A plan in JSON (terraform show -json PLAN) instead of planning the env.")
@click.option("--usage", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="Usage assumptions (default: cost-usage.toml at the root, else the built-in ones).")
@json_option
def estimate(env_name: str | None, plan_json: Path | None, usage: Path | None, as_json: bool) -> None:
    """Monthly cost per resource of a plan, from the price catalog and the usage assumptions."""
    import json
    import tempfile

    from ops.cost import estimate as est

    cfg = app().config
    if plan_json is not None:
        try:
            plan = json.loads(plan_json.read_text())
        except json.JSONDecodeError as exc:
            from ops.errors import UsageError

            raise UsageError(f"{plan_json} is not plan JSON: {exc}") from None
    else:
        from ops.terraform.envs import engine_for_env

        env = cfg.env(env_name)
        engine = engine_for_env(cfg, env)
        with tempfile.TemporaryDirectory() as tmp:
            planfile = Path(tmp) / "plan.tfplan"
            engine.plan(out=planfile)
            plan = engine.show_json(planfile)
    usage = usage or est.usage_path(cfg.root)
    assumptions = est.load_usage(usage)
    result = est.estimate(plan, est.load_catalog(), assumptions)
    budget = cfg.policy.monthly_budget_usd
    width = max([len(line.address) for line in result.lines] + [8])
    lines = [f"{'resource':<{width}} {'USD/month':>10}  basis"]
    for line in result.lines:
        lines.append(f"{line.address:<{width}} {line.usd:>10.2f}  {line.basis}")
    verdict = "OVER" if result.total > budget else "within"
    lines.append(f"{'total':<{width}} {result.total:>10.2f}  ({100 * result.total / budget:.0f}% of the {budget:.2f} USD budget: {verdict})")
    lines.append(f"prices: catalog {result.catalog_version}; usage assumptions: {usage}")
    emit({"total_usd": round(result.total, 2), "budget_usd": budget, "catalog_version": result.catalog_version,
          "lines": [l.__dict__ for l in result.lines]}, as_json, "\n".join(lines))


@cost.command()
@click.option("--refresh", is_flag=True, help="Rebuild the catalog from the AWS Price List API (pricing client).")
@env_option
def prices(refresh: bool, env_name: str | None) -> None:
    """Show the price catalog, or rebuild it from the AWS Price List API."""
    from ops.cost import estimate as est

    if refresh:
        from ops.aws import Aws
        from ops.cost.prices import refresh_catalog

        cfg = app().config
        env = cfg.env(env_name)
        aws = Aws.for_env(cfg, env)
        aws.region = "us-east-1"  # the Price List API lives in us-east-1
        path = refresh_catalog(aws.client("pricing"), est.CATALOG_PATH)
        click.echo(f"catalog rebuilt: {path}")
    catalog = est.load_catalog()
    click.echo(f"catalog {catalog['version']} ({catalog['region']})")
    for key, p in sorted(catalog["prices"].items()):
        click.echo(f"  {key:<40} {p['usd']:>10} USD per {p['unit']:<20} {p['source']} ({p['date']})")
