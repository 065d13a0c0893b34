"""dbops janitor"""

from __future__ import annotations

import re
from pathlib import Path

import click

from ops.cli.context import app, emit, require_write
from ops.cli.options import FiniteFloat, NonEmpty, env_option, json_option


# as ops.drills.common.new_drill_id makes them: KIND-YYYYMMDDTHHMMSSZ-6 hex digits
DRILL_ID = re.compile(r"[a-z][a-z-]*-\d{8}T\d{6}Z-[0-9a-f]{6}")


def _reported(report_dir: Path, drill_id: str) -> bool:
    """A report under report_dir names the drill: it ran here, even if it left nothing."""
    if not report_dir.is_dir():
        return False
    for path in report_dir.rglob("*.json"):
        try:
            if drill_id in path.read_text(errors="replace"):
                return True
        except OSError:
            continue
    return False


@click.command()
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@click.option("--include-unexpired", is_flag=True, help="Also delete drill leftovers whose expiry has not passed yet.")
@click.option("--drill", "drill_id", metavar="ID", type=NonEmpty(),
              help="Only this drill's leftovers, whatever their expiry (a restore kept with --keep, done with).")
@click.option("--keep-hours", type=FiniteFloat(min=0, max=24 * 90, min_open=True), metavar="H",
              help="Leave alone every restore whose drill started less than H hours ago, whatever its expiry "
                   "(restores kept in an incident).")
@click.option("--confirm", "confirm", metavar="ENV", multiple=True, type=NonEmpty(),
              help="Required to delete on a protected env: the env's name.")
@env_option
@json_option
def janitor(dry_run: bool, include_unexpired: bool, drill_id: str | None, keep_hours: float | None, confirm: tuple[str, ...],
            env_name: str | None, as_json: bool) -> int:
    """Delete what interrupted drills left behind: found by drill record, tag, drill-named table and,
    in the lab, by owner process; and what killed `etl run`s left: batch files with no manifest of a
    pipeline no run holds, work directories of runs whose process is gone. Exits 1 when something could
    not be deleted, 4 when a listing or read failed (it cannot tell whether something is left there)."""
    from ops.errors import EXIT_FAILED, EXIT_INCONCLUSIVE, EXIT_PASS, UsageError
    from ops.janitor import sweep

    if drill_id is not None and keep_hours is not None:
        raise UsageError("--drill removes that drill's leftovers whatever their age; --keep-hours keeps young restores: "
                         "give one or the other")
    if drill_id is not None and not DRILL_ID.fullmatch(drill_id):
        raise UsageError(f"--drill {drill_id!r} is not a drill id (KIND-YYYYMMDDTHHMMSSZ-xxxxxx, as the drill printed it)")
    cfg = app().config
    env = cfg.env(env_name)
    if not dry_run:
        require_write(env, confirm, env.name)
    lines: list[str] = []
    swept = sweep(cfg, env, include_unexpired, dry_run, lines.append, drill=drill_id, keep_hours=keep_hours)
    # Named by nothing the sweep read (a running drill's "kept" lines name it) nor by a report: an id of nothing here.
    named = swept.found or any(drill_id in line or "not running" in line for line in lines) if drill_id else True
    if drill_id is not None and not named and not swept.unread and not _reported(cfg.report_dir, drill_id):
        raise UsageError(f"--drill {drill_id}: no drill record, tagged resource or report in env '{env.name}' names that drill "
                         f"(a drill of another env, or cleaned up already?)")
    emit({"dry_run": dry_run, "leftovers": [f.as_dict() for f in swept.found], "failed": len(swept.failed),
          "not_deleted": swept.failed, "unread": swept.unread}, as_json, "\n".join(lines))
    # Known to be left outranks cannot tell; neither is ever "clean".
    return EXIT_FAILED if swept.failed else EXIT_INCONCLUSIVE if swept.unread else EXIT_PASS
