"""dbops scorecard: each target's RTO, RPO, lost writes and availability budget against what drills measured."""

from __future__ import annotations

from pathlib import Path

import click

from ops.cli.context import app, emit, warn_skipped
from ops.cli.options import FiniteFloat, NonEmpty, env_option, json_option, junit_option, report_dir_option
from ops.errors import UsageError


MAX_TARGET = 255  # a target name longer than any AWS identifier is a mistake, not a name to score


@click.command()
@env_option
@click.option("--target", "targets", multiple=True, type=NonEmpty(), metavar="KIND:NAME",
              help="Score this target even without drills (repeatable; targets with failover or restore drills always are).")
@click.option("--max-age-days", type=FiniteFloat(min=0, min_open=True, max=3660),
              help="Evidence older than this proves nothing (default: policy evidence_max_age_days, 35).")
@click.option("--fail-on", "fail_ons", type=click.Choice(["breached", "unproven"]), multiple=True,  # multiple: to refuse two
              help="Exit 1 when an objective is breached (breached), or breached or unproven (unproven). Give it once.")
@click.option("--markdown", "markdown_path", type=click.Path(path_type=Path, dir_okay=False), help="Also write Markdown to this path.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Also write scorecard.json, scorecard.md and scorecard.xml (JUnit) into this directory.")
@click.option("--keep", is_flag=True,
              help="Keep this scorecard in the report dir as the baseline the next one's drift is measured against.")
@junit_option
@report_dir_option
@json_option
def scorecard(env_name: str | None, targets: tuple[str, ...], max_age_days: float | None, fail_ons: tuple[str, ...],
              markdown_path: Path | None, out_dir: Path | None, keep: bool, junit: Path | None, report_dir: Path | None,
              as_json: bool) -> int:
    """Judge each target's objectives against the report history: PolicyMet, PolicyBreached or Unproven,
    the availability budget, and the drift since the last scorecard kept (--keep) in the report dir.
    An output that cannot be written exits 2, after the verdict is printed."""
    import json

    from ops import report as report_mod
    from ops import scorecard as card_mod
    from ops.targets import parse_target

    if len(fail_ons) > 1:  # which one was meant is not known: the stricter, or the last typed
        raise UsageError(f"--fail-on given {len(fail_ons)} times ({', '.join(fail_ons)}): give it once")
    fail_on = fail_ons[0] if fail_ons else None
    for target in targets:
        if len(target) > MAX_TARGET:
            raise UsageError(f"--target '{target[:40]}…' is longer than {MAX_TARGET} characters")
    cfg = app().config
    env = cfg.env(env_name)
    for target in targets:
        parse_target(target)
    where = report_dir or cfg.report_dir
    card = card_mod.build_scorecard(cfg, env.name, where, targets, max_age_days=max_age_days, on_skip=warn_skipped())
    outputs: dict[Path, str] = {}
    if out_dir is not None:
        outputs |= {out_dir / "scorecard.json": json.dumps(card, indent=2) + "\n",
                    out_dir / "scorecard.md": card_mod.render_markdown(card),
                    out_dir / "scorecard.xml": card_mod.render_junit(card, fail_on)}
    if markdown_path is not None:
        outputs[markdown_path] = card_mod.render_markdown(card)
    if junit is not None:
        outputs[junit] = card_mod.render_junit(card, fail_on)
    problems, written = [], {}
    try:
        if keep:  # only a deliberate run (the weekly drill) moves the baseline of drift; an ad-hoc rerun never does
            written = report_mod.write(card_mod.to_report(card, env.region, env.account_id), where)
    except OSError as exc:
        problems.append(f"scorecard not kept in the report dir: {exc.strerror or exc} ({exc.filename or where})")
    for path, text in outputs.items():
        try:
            report_mod.write_replacing(path, text)
        except OSError as exc:
            problems.append(f"{path} not written: {exc.strerror or exc}")
    lines = [card_mod.summary(card)]
    for t in card["targets"]:
        for o in t["objectives"]:
            lines.append(f"  {t['target']:<28} {o['id']:<13} {o['status']:<15} {o['reason']}")
        ages = [f"{kind} {v['age_days']} d" if v["report"] else f"{kind} never" for kind, v in t["newest_passing"].items()]
        lines.append(f"  {t['target']:<28} newest passing drill: {', '.join(ages) or 'no drill'}")
    lines += [f"report: {written['json']}"] if written else []
    emit(card | {"paths": {k: str(v) for k, v in written.items()}}, as_json, report_mod.printable("\n".join(lines)))
    if problems:  # one line for all: what was asked for and not written
        click.echo(f"dbops: error: {'; '.join(problems)}", err=True)
        return 2
    return card_mod.exit_code(card, fail_on)
