"""dbops tf plan|apply|destroy|output --env ENV"""

from __future__ import annotations

import time
from pathlib import Path

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
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Save the plan to this file.")
@var_option
@json_option
def plan(env_name: str | None, out: Path | None, variables: tuple[str, ...], as_json: bool) -> None:
    """Plan the env and print each change and the add/change/destroy counts."""
    cfg, env = _env(env_name)
    engine = _engine(cfg, env, variables)
    progress(f"terraform plan: env {env.name} ({env.terraform_dir}) with {engine.name}")
    started = time.monotonic()
    outcome = engine.plan(out=out.resolve() if out else None)
    lines = [f"  {c.action:<8} {c.address}" for c in outcome.changes]
    lines.append(outcome.line("Plan") + f" ({time.monotonic() - started:.1f}s)")
    data = {"env": env.name, "add": outcome.add, "change": outcome.change, "destroy": outcome.destroy,
            "changes": [{"address": c.address, "action": c.action} for c in outcome.changes]}
    emit(data, as_json, "\n".join(lines))


def _change(env_name: str | None, confirm: tuple[str, ...], verb: str, variables: tuple[str, ...] = ()) -> None:
    """apply or destroy: both need --confirm ENV on a protected env and wait for every resource."""
    cfg, env = _env(env_name)
    require_write(env, confirm, env.name)
    engine = _engine(cfg, env, variables)
    progress(f"terraform {verb}: env {env.name} with {engine.name}; this waits for every resource")
    started = time.monotonic()
    outcome = engine.apply() if verb == "apply" else engine.destroy()
    took = f"({time.monotonic() - started:.1f}s)"
    if verb == "apply":
        click.echo(f"Apply complete: {outcome.add} added, {outcome.change} changed, {outcome.destroy} destroyed {took}")
    else:
        click.echo(f"Destroy complete: {outcome.destroy} destroyed {took}")


@tf.command()
@env_option
@confirm_option
@var_option
def apply(env_name: str | None, confirm: tuple[str, ...], variables: tuple[str, ...]) -> None:
    """Apply the env (a protected env needs --confirm ENV)."""
    _change(env_name, confirm, "apply", variables)


@tf.command()
@env_option
@confirm_option
@var_option
def destroy(env_name: str | None, confirm: tuple[str, ...], variables: tuple[str, ...]) -> None:
    """Destroy the env (a protected env needs --confirm ENV)."""
    _change(env_name, confirm, "destroy", variables)


@tf.command()
@env_option
@json_option
def output(env_name: str | None, as_json: bool) -> None:
    """Print the env's Terraform outputs (sensitive ones are never shown)."""
    cfg, env = _env(env_name)
    values = _engine(cfg, env).output()
    emit(values, as_json, "\n".join(f"{k} = {v}" for k, v in sorted(values.items())))
