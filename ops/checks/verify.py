"""`dbops backup verify`: collect each target's backup state, run the registered checks.

Every finding is an objective: a backup check that could not determine its answer makes
the run inconclusive, never a pass, and so does an estate with no target to verify.
Targets are read concurrently (bounded), so a large estate, or a hung endpoint, does not
multiply the wait.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any, Callable

from ops.checks import backups  # noqa: F401 — registers the checks
from ops.checks import collect
from ops.checks.registry import run_checks
from ops.config import Config, EnvConfig
from ops.errors import EndpointUnreachable, UsageError
from ops.report import Journal, Report
from ops.targets import TargetRef, parse_target


def default_targets(cfg: Config, env: EnvConfig) -> list[str]:
    from ops.estate import inventory

    return [t["id"] for t in inventory(cfg, env)]


def require_exists(cfg: Config, env: EnvConfig, targets: list[str]) -> None:
    """Targets named on the command line must exist: a typo is a usage error, not a failed backup."""
    refs = [parse_target(t) for t in targets]
    if any(r.kind in ("aurora", "dynamodb") for r in refs):
        from ops.aws import Aws

        aws = Aws.for_env(cfg, env)

        def exists(ref: TargetRef) -> str | None:
            if ref.kind == "dynamodb":
                ddb = aws.client("dynamodb")
                try:
                    ddb.describe_table(TableName=ref.name)
                except ddb.exceptions.ResourceNotFoundException:
                    return f"no DynamoDB table '{ref.name}' in {aws.region}"
            elif ref.kind == "aurora":
                rds = aws.client("rds")
                try:
                    rds.describe_db_clusters(DBClusterIdentifier=ref.name)
                except rds.exceptions.DBClusterNotFoundFault:
                    return f"no Aurora cluster '{ref.name}' in {aws.region}"
            return None

        missing = [m for m in aws.map(exists, [r for r in refs if r.kind != "localpg"]) if m]
        if missing:
            raise UsageError("; ".join(missing))
    for ref in refs:
        if ref.kind == "localpg":
            from ops.lab import pgcluster

            if not env.is_embedded or ref.name != pgcluster.NAME or pgcluster.get(cfg.lab_dir) is None:
                raise UsageError(f"no local PostgreSQL cluster '{ref.name}' (run `dbops lab up`)")


def verify(cfg: Config, env: EnvConfig, targets: list[str], journal: Journal,
           client_for: Callable[[str], Any] | None = None) -> Report:
    refs = [parse_target(t) for t in targets]
    aws_refs = [r for r in refs if r.kind in ("aurora", "dynamodb")]
    emulated = False
    aws = None
    if aws_refs and client_for is None:
        from ops.aws import Aws

        aws = Aws.for_env(cfg, env)
        emulated = aws.emulated
        client_for = lru_cache(maxsize=None)(aws.client)
    if aws_refs and client_for is not None:
        for service in ("backup", "rds", "dynamodb"):
            client_for(service)  # made once, before the reads run in parallel
    selections = collect.backup_selections(client_for) if aws_refs and client_for else None
    journal.event("collect", f"reading the backup state of {len(refs)} target(s)")
    collect_one = lambda ref: _collect(cfg, ref, client_for, selections, emulated)  # noqa: E731
    states = aws.map(collect_one, refs) if aws is not None else [collect_one(r) for r in refs]
    if aws is not None and aws.dead is not None:
        raise EndpointUnreachable(f"AWS endpoint {aws.endpoint_url or aws.region} does not answer ({aws.dead})")
    for ref, state in zip(refs, states):
        for f in run_checks(ref.kind, state, cfg.policy, env):
            journal.check(f"{f.check_id}[{ref}]", f.status, f.detail, objective=True)
    failed = sum(c.status == "fail" for c in journal.checks)
    journal.measure("targets", len(refs))
    journal.measure("findings", len(journal.checks))
    journal.measure("failed_backup_findings", failed)
    if not refs:
        report = journal.finish("inconclusive")
        return replace(report, summary=f"INCONCLUSIVE: no target to verify in env {env.name} "
                                       "(nothing in the Terraform outputs or the lab: apply the env, or name targets)")
    report = journal.finish()
    counts = {s: sum(c.status == s for c in report.checks) for s in ("pass", "warn", "fail", "unknown", "error")}
    text = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return replace(report, summary=f"{report.status.upper()}: {len(refs)} target(s), {text}")


def _collect(cfg: Config, ref: TargetRef, client_for: Any, selections: Any, emulated: bool) -> dict[str, Any]:
    if ref.kind == "localpg":
        from ops.lab import pgcluster, pgverify

        cluster = pgcluster.get(cfg.lab_dir)
        if cluster is None or ref.name != pgcluster.NAME:
            raise UsageError(f"no local PostgreSQL cluster '{ref.name}' (run `dbops lab up`)")
        return pgverify.collect(cluster)
    if ref.kind == "aurora":
        return collect.aurora(client_for, ref.name, selections, emulated)
    return collect.dynamodb(client_for, ref.name, selections, emulated)
