"""dbops tf plan [--destroy]|apply|destroy|output --env ENV"""

from __future__ import annotations

import time

import click

from ops.cli.context import app, emit, progress, require_write
from ops.cli.options import confirm_option, env_option, json_option
from ops.config import Config, EnvConfig


def _env(env_name: str | None) -> tuple[Config, EnvConfig]:
    cfg = app().config
    return cfg, cfg.env(env_name)


var_option = click.option("--var", "variables", metavar="NAME=VALUE", multiple=True,
                          help="Set an input variable of the env (repeatable), e.g. --var aurora_reader_count=3.")


def _variables(given: tuple[str, ...]) -> dict[str, str]:
    from ops.errors import UsageError

    out = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not name.replace("_", "").isalnum():
            raise UsageError(f"--var {item!r} is not NAME=VALUE")
        out[name.strip()] = value
    return out


def _engine(cfg: Config, env: EnvConfig, variables: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    from ops.terraform.envs import engine_for_env

    return engine_for_env(cfg, env, _variables(variables))


@click.group()
def tf() -> None:
    """Terraform plan, apply, destroy and output for an env."""


@tf.command()
@env_option
@click.option("--destroy", "destroy", is_flag=True, help="Plan the env's destruction, for `dbops tf destroy`.")
@var_option
@json_option
def plan(env_name: str | None, destroy: bool, variables: tuple[str, ...], as_json: bool) -> None:
    """Plan the env, save the plan under its work dir, print each change and the counts.

    `dbops tf apply` (or `tf destroy` after `--destroy`) applies exactly this saved plan.
    """
    from ops.terraform import saved_plan

    cfg, env = _env(env_name)
    engine = _engine(cfg, env, variables)
    path = saved_plan.path_for(engine.ws.plan_dir, destroy)
    progress(f"terraform plan{' -destroy' if destroy else ''}: env {env.name} ({env.terraform_dir}) with {engine.name}")
    started = time.monotonic()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a plan that fails leaves no older one behind to be applied
    engine.plan(out=path, destroy=destroy)
    path.chmod(0o600)  # it holds the plan's input values, secrets included
    shown = engine.show_json(path)
    summary = saved_plan.summarize(shown, destroy)
    verb = "destroy" if destroy else "apply"
    lines = [f"  {c.action:<8} {c.address}" for c in summary.shown()]
    for c in summary.stateful_removals():
        lines.append(f"  holds data: {c.address} ({c.action}); `tf {verb}` needs --allow-destroy '{c.address}'")
    lines += [f"  cannot apply: {saved_plan.switch_advice(a)}" for a in saved_plan.unappliable_switches(shown)]
    lines.append(f"Saved plan: {path}; `dbops tf {verb} --env {env.name}` applies exactly this plan")
    lines.append(summary.line() + f" ({time.monotonic() - started:.1f}s)")
    emit({"env": env.name, "plan_file": str(path), **summary.as_dict()}, as_json, "\n".join(lines))


allow_destroy_option = click.option(
    "--allow-destroy", "allowed", metavar="ADDRESS", multiple=True,
    help="Let the saved plan delete or replace this resource that holds data (repeatable; the address as `tf plan` prints it).")


def _apply_saved(env_name: str | None, confirm: tuple[str, ...], allowed: tuple[str, ...], destroy: bool) -> None:
    """apply or destroy: the env's saved plan, as `tf plan` showed it, or nothing."""
    from ops.errors import UsageError
    from ops.terraform import saved_plan
    from ops.terraform.envs import PINNED_VARIABLES

    verb = "destroy" if destroy else "apply"
    cfg, env = _env(env_name)
    require_write(env, confirm, env.name)
    engine = _engine(cfg, env)
    path = saved_plan.path_for(engine.ws.plan_dir, destroy)
    if not path.is_file():
        raise UsageError(f"env '{env.name}' has no saved {verb} plan: run `dbops tf plan --env {env.name}"
                         f"{' --destroy' if destroy else ''}`, read it, then `dbops tf {verb}`")
    pinned = {k: v for k, v in engine.ws.variables.items() if k in PINNED_VARIABLES}
    summary = saved_plan.checked(engine.show_json(path), env.name, pinned, allowed, destroy)
    age = time.time() - path.stat().st_mtime
    progress(f"terraform {verb}: env {env.name} with {engine.name}, the saved plan {path} made {age / 60:.0f} min ago: "
             f"{summary.line()} This waits for every resource.")
    started = time.monotonic()
    outcome = engine.apply_plan(path)
    path.unlink(missing_ok=True)  # applied: Terraform would refuse it as stale from now on
    took = f"({time.monotonic() - started:.1f}s)"
    if destroy:
        click.echo(f"Destroy complete: {outcome.destroy} destroyed {took}")
    else:
        click.echo(f"Apply complete: {outcome.add} added, {outcome.change} changed, {outcome.destroy} destroyed {took}")


@tf.command()
@env_option
@confirm_option
@allow_destroy_option
def apply(env_name: str | None, confirm: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    """Apply the env's saved plan from `tf plan` (a protected env needs --confirm ENV)."""
    _apply_saved(env_name, confirm, allowed, destroy=False)


@tf.command()
@env_option
@confirm_option
@allow_destroy_option
def destroy(env_name: str | None, confirm: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    """Apply the env's saved destroy plan from `tf plan --destroy` (a protected env needs --confirm ENV)."""
    _apply_saved(env_name, confirm, allowed, destroy=True)


@tf.command()
@env_option
@json_option
def output(env_name: str | None, as_json: bool) -> None:
    """Print the env's Terraform outputs (sensitive ones are never shown)."""
    cfg, env = _env(env_name)
    values = _engine(cfg, env).output()
    emit(values, as_json, "\n".join(f"{k} = {v}" for k, v in sorted(values.items())))
