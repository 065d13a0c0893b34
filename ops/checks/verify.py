"""`dbops backup verify`: collect each target's backup state, run the registered checks."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

from ops.checks import backups  # noqa: F401 — registers the checks
from ops.checks import collect
from ops.checks.registry import run_checks
from ops.config import Config, EnvConfig
from ops.report import Journal, Report
from ops.targets import TargetRef, parse_target


def default_targets(cfg: Config, env: EnvConfig) -> list[str]:
    from ops.estate import inventory

    return [t["id"] for t in inventory(cfg, env)]


def verify(cfg: Config, env: EnvConfig, targets: list[str], journal: Journal,
           client_for: Callable[[str], Any] | None = None) -> Report:
    refs = [parse_target(t) for t in targets]
    aws_refs = [r for r in refs if r.kind in ("aurora", "dynamodb")]
    emulated = False
    if aws_refs and client_for is None:
        from ops.aws import Aws

        aws = Aws.for_env(cfg, env)
        emulated = aws.emulated
        client_for = lru_cache(maxsize=None)(aws.client)
    selections = collect.backup_selections(client_for, emulated) if aws_refs and client_for else None
    for ref in refs:
        journal.event("collect", f"reading backup state of {ref}")
        state = _collect(cfg, ref, client_for, selections, emulated)
        for f in run_checks(ref.kind, state, cfg.policy, env):
            journal.check(f"{f.check_id}[{ref}]", f.status, f.detail)
    failed = sum(c.status == "fail" for c in journal.checks)
    journal.measure("targets", len(refs))
    journal.measure("findings", len(journal.checks))
    journal.measure("failed_backup_findings", failed)
    report = journal.finish()
    from dataclasses import replace

    counts = {s: sum(c.status == s for c in report.checks) for s in ("pass", "warn", "fail", "unknown", "error")}
    text = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return replace(report, summary=f"{report.status.upper()}: {len(refs)} target(s), {text}")


def _collect(cfg: Config, ref: TargetRef, client_for: Any, selections: Any, emulated: bool) -> dict[str, Any]:
    if ref.kind == "localpg":
        from ops.lab import pgcluster, pgverify
        from ops.errors import UsageError

        cluster = pgcluster.get(cfg.lab_dir)
        if cluster is None or ref.name != pgcluster.NAME:
            raise UsageError(f"no local PostgreSQL cluster '{ref.name}' (run `dbops lab up`)")
        return pgverify.collect(cluster)
    if ref.kind == "aurora":
        return collect.aurora(client_for, ref.name, selections, emulated)
    return collect.dynamodb(client_for, ref.name, selections, emulated)
