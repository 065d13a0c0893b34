"""dbops cost check|estimate|prices"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import click

from ops.cli.context import app, emit, finish
from ops.cli.options import FiniteFloat, NonEmpty, env_option, json_option, report_options
from ops.errors import ConfigError, UsageError, first_line


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


def _require_credentials(aws: Any, env_name: str) -> None:
    """Fail in one line, before anything runs, when the standard chain finds no AWS credentials."""
    import botocore.exceptions

    from ops.errors import EndpointUnreachable

    hint = "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure the standard credential chain"
    try:
        credentials = aws.session.get_credentials()
    except (EndpointUnreachable, botocore.exceptions.BotoCoreError) as exc:
        raise ConfigError(f"no AWS credentials for env '{env_name}': {first_line(exc)} ({hint})") from None
    if credentials is None:
        raise ConfigError(f"no AWS credentials for env '{env_name}' ({hint})")


@cost.command()
@click.option("--budget", type=FiniteFloat(min=0, min_open=True), help="Monthly budget in USD (default: policy monthly_budget_usd).")
@click.option("--tag", "tag", metavar="KEY=VALUE", help="Only costs carrying this cost allocation tag.")
@click.option("--month", metavar="YYYY-MM", help="Month to check (default: this month).")
@click.option("--no-cache", is_flag=True, help="Ask Cost Explorer again even if a cached answer is fresh (each request costs 0.01 USD).")
@report_options
def check(budget: float | None, tag: str | None, month: str | None, no_cache: bool, env_name: str | None, as_json: bool,
          report_dir, junit, publish_metrics: bool, confirm: tuple[str, ...]) -> int:  # type: ignore[no-untyped-def]
    """Month-to-date and projected spend of the estate against the budget; warn at 80%, fail at 100%.

    Exit codes: 0 pass (or warn); 1 over the budget; 2 could not run, or a Cost Explorer read
    failed; 4 inconclusive: Cost Explorer returned no cost for the estate (e.g. a --tag that
    matches nothing), so there was nothing to judge. Read-only: --confirm is accepted, never needed.
    """
    from datetime import datetime, timezone

    from ops.aws import Aws
    from ops.cost.cache import scoped_cache
    from ops.cost.check import CostOptions, CostSources, run_cost_check
    from ops.report import Journal

    chosen_month, chosen_tag = _month(month), _tag(tag)
    cfg = app().config.for_env(env_name).with_policy(monthly_budget_usd=budget)
    env = cfg.env(env_name)
    today = datetime.now(timezone.utc).date()
    first = chosen_month or today.replace(day=1)
    if first > today:
        raise UsageError(f"--month {month} is in the future")
    aws = Aws.for_env(cfg, env)
    _require_credentials(aws, env.name)
    ce = aws.client("ce")
    cache = scoped_cache(cfg.root / ".dbops" / "cache" / "ce", lambda: aws.client("sts").get_caller_identity()["Account"],
                         endpoint=aws.endpoint_url, region=aws.region, enabled=not no_cache)
    sources = CostSources(usage=ce, forecast=ce, anomalies=ce, budgets=aws.client("budgets"),
                          account_id=cache.scope.account if cache.scope else None)
    opts = CostOptions(budget_usd=cfg.policy.monthly_budget_usd, storage_budget_usd=cfg.policy.storage_budget_usd,
                       month=first, today=today, tag=chosen_tag, budget_name=f"dbops-{env.name}")
    target = f"estate:{env.name}" + (f"[{chosen_tag[0]}={chosen_tag[1]}]" if chosen_tag else "")
    report = run_cost_check(sources, opts, cache, Journal("cost", target, env.name))
    cached = f"{cache.hits} answered from the cache" if cache.scope else "cache not used"
    click.echo(f"Cost Explorer: {cache.paid_requests} paid request(s) ({cache.cost_usd:.2f} USD), {cached}", err=True)
    return finish(report, env, report_dir, junit, publish_metrics, as_json)


@cost.command()
@env_option
@click.option("--plan", "plan_json", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="A plan in JSON (terraform show -json PLAN) instead of planning the env.")
@click.option("--usage", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="Usage assumptions (default: cost-usage.toml at the root, else the built-in ones).")
@click.option("--region", metavar="REGION", type=NonEmpty(), help="Price the plan at this region's prices (default: the env's region).")
@json_option
def estimate(env_name: str | None, plan_json: Path | None, usage: Path | None, region: str | None, as_json: bool) -> int:
    """Monthly cost per resource of a plan, from the price catalog and the usage assumptions.

    Resources the catalog cannot price are listed by address (the total is then a lower bound).
    Exit codes: 0 the estimate is within the monthly budget; 1 it is over the budget;
    2 could not run (not a plan, bad usage assumptions, --plan with --env).
    """
    import tempfile

    from ops.cost import estimate as est

    if plan_json is not None and env_name is not None:
        raise UsageError("--plan and --env cannot be used together: --plan prices that plan file, --env plans the env")
    cfg = app().config.for_env(None if plan_json is not None else env_name)
    usage = usage or est.usage_path(cfg.root)
    assumptions = est.load_usage(usage)  # before anything runs: a bad value stops here
    region = region or cfg.env(None if plan_json is not None else env_name).region
    catalog_path, catalog_why = est.catalog_in_use()
    catalog = est.load_catalog(region, catalog_path)  # the region's prices, or one line naming the region the catalog lacks
    if plan_json is not None:
        plan = est.load_plan(plan_json)
    else:
        from ops.terraform.envs import engine_for_env

        env = cfg.env(env_name)
        engine = engine_for_env(cfg, env)
        with tempfile.TemporaryDirectory() as tmp:
            planfile = Path(tmp) / "plan.tfplan"
            engine.plan(out=planfile)
            plan = engine.show_json(planfile)
    schedule = cfg.env(None if plan_json is not None else env_name).schedule
    result = est.estimate(plan, catalog, assumptions, schedule)
    budget = cfg.policy.monthly_budget_usd
    over = result.total > budget
    width = max([len(line.address) for line in result.lines] + [len(u.address) for u in result.unpriced] + [8])
    lines = [f"prices: {catalog_path} ({catalog_why}), {region} catalog {result.catalog_version} "
             f"(prices dated {result.oldest_price} .. {result.catalog_version})",
             f"{'resource':<{width}} {'USD/month':>10}  basis"]
    for line in result.lines:
        lines.append(f"{line.address:<{width}} {line.usd:>10.2f}  {line.basis}")
    lines.append(f"{'total':<{width}} {result.total:>10.2f}  ({100 * result.total / budget:.0f}% of the {budget:.2f} USD budget: "
                 f"{'OVER' if over else 'within'})")
    modules = result.by_module()
    if modules:
        lines.append("by module (nested modules counted in their parents too):")
        lines.extend(f"  {name:<{width - 2}} {usd:>10.2f}" for name, usd in modules.items())
    if result.unpriced:
        lines.append(f"not priced ({len(result.unpriced)}): the total is a lower bound")
        for u in result.unpriced:
            lines.append(f"  {u.address:<{width}} {u.reason}")
    lines.append(f"usage assumptions: {usage}")
    lines.append(f"Aurora instance hours: {f'{schedule.hours_per_month():g} h a month, the schedule {schedule.describe()}' if schedule else '730 h a month (no schedule: always on)'}; storage always")
    emit({"total_usd": round(result.total, 2), "budget_usd": budget, "over_budget": over,
          "verdict": "over" if over else "within", "lower_bound": bool(result.unpriced), "region": region,
          "catalog_version": result.catalog_version, "catalog_path": str(catalog_path), "oldest_price_date": result.oldest_price, "usage_path": str(usage),
          "schedule": schedule.describe() if schedule else "none: always on",
          "aurora_instance_hours_per_month": schedule.hours_per_month() if schedule else est.HOURS_PER_MONTH,
          "lines": [line.__dict__ for line in result.lines], "modules": {k: round(v, 2) for k, v in modules.items()},
          "unpriced": [u.__dict__ for u in result.unpriced]},
         as_json, "\n".join(lines))
    return 1 if over else 0


@cost.command()
@click.option("--refresh", is_flag=True, help="Re-read the Aurora instance-hour prices of the env's region from the AWS Price List API.")
@env_option
def prices(refresh: bool, env_name: str | None) -> int:
    """Show the price catalog of the env's region, or refresh it from the AWS Price List API.

    Each price keeps its own source and date; a refresh re-dates only the prices it read, and the
    catalog version is the newest date. Exit code 1 when some price could not be refreshed.
    """
    from ops.cost import estimate as est

    cfg = app().config
    env = cfg.env(env_name)
    code = 0
    if refresh:
        from ops.aws import Aws
        from ops.cost.prices import refresh_catalog

        aws = Aws.for_env(cfg, env)
        source, _why = est.catalog_in_use()
        target = est.user_catalog_path()  # the installed package is never written
        target.parent.mkdir(parents=True, exist_ok=True)
        work = target.with_name(f".{target.name}.{os.getpid()}.refresh")
        shutil.copyfile(source, work)
        try:  # the user's copy is replaced only by a catalog with at least one price read
            # The Price List API answers from us-east-1; the prices asked for are the env's region's.
            outcome = refresh_catalog(aws.client("pricing", region="us-east-1"), work, env.region)
            if outcome.refreshed:
                os.replace(work, target)
        finally:
            work.unlink(missing_ok=True)
        click.echo(f"{len(outcome.refreshed)} price(s) refreshed" + (f" into {target}" if outcome.refreshed else ": no catalog written"),
                   err=True)
        by_reason: dict[str, list[str]] = {}
        for key, why in outcome.failed.items():
            by_reason.setdefault(why, []).append(key)
        for why, keys in by_reason.items():
            click.echo(f"not refreshed, kept with {'its' if len(keys) == 1 else 'their'} old date: "
                       f"{keys[0] if len(keys) == 1 else f'{len(keys)} prices ({keys[0]} ..)'}: {why}", err=True)
        code = 1 if outcome.failed else 0
    path, why = est.catalog_in_use()
    catalog = est.load_catalog(env.region, path)
    click.echo(f"catalog {path} ({why}): version {catalog['version']}, region {catalog['region']}")
    for key, p in sorted(catalog["prices"].items()):
        amount = f"{p['usd']:>10} USD" if "usd" in p else f"{'x' + format(p['factor'], 'g'):>10}    "
        click.echo(f"  {key:<40} {amount} per {p['unit']:<20} {p['source']} ({p['date']})")
    return code
