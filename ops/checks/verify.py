"""`dbops backup verify`: collect each target's backup state, run the registered checks.

Every finding is an objective: a backup check that could not determine its answer makes
the run inconclusive, never a pass, and so does an estate with no target to verify.
Targets are read concurrently (bounded), so a large estate, or a hung endpoint, does not
multiply the wait.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ops.checks import backups  # noqa: F401 — registers the checks
from ops.checks import collect, waivers
from ops.checks.registry import run_checks
from ops.config import Config, EnvConfig
from ops.errors import ConfigError, EndpointUnreachable, UsageError
from ops.plugins import target_kind
from ops.report import Journal, Report, headline
from ops.targets import TargetRef, parse_target

if TYPE_CHECKING:
    from ops.estate import Fleet


def default_targets(cfg: Config, env: EnvConfig, concurrency: int | None = None) -> Fleet:
    """Every target of the env, in every account and region it reads, and the scopes that could not be read."""
    from ops.estate import fleet_targets

    return fleet_targets(cfg, env, concurrency)


def _aws_refs(refs: list[TargetRef]) -> list[TargetRef]:
    return [r for r in refs if r.kind in ("aurora", "dynamodb")]


def require_exists(cfg: Config, env: EnvConfig, targets: list[str], concurrency: int | None = None) -> None:
    """Targets named on the command line must exist: a typo is a usage error, not a failed backup."""
    refs = [parse_target(t) for t in targets]
    if _aws_refs(refs):
        from ops.aws import bounded_map
        from ops.scopes import aws_for, scope_of

        def exists(ref: TargetRef) -> str | None:
            aws = aws_for(cfg, env, scope_of(env, ref.account, ref.region))
            where = f"{ref.account}/{aws.region}" if ref.region else aws.region
            if ref.kind == "dynamodb":
                ddb = aws.client("dynamodb")
                try:
                    ddb.describe_table(TableName=ref.name)
                except ddb.exceptions.ResourceNotFoundException:
                    return f"no DynamoDB table '{ref.name}' in {where}"
            elif ref.kind == "aurora":
                rds = aws.client("rds")
                try:
                    rds.describe_db_clusters(DBClusterIdentifier=ref.name)
                except rds.exceptions.DBClusterNotFoundFault:
                    return f"no Aurora cluster '{ref.name}' in {where}"
            return None

        missing = [m for m in bounded_map(exists, _aws_refs(refs), concurrency) if m]
        if missing:
            raise UsageError("; ".join(missing))
    for ref in refs:
        plugged = target_kind(ref.kind)
        if plugged is not None:
            plugged.open_cluster(cfg, env, ref)  # refuses, in one line, a cluster that is not there


class _ScopeReader:
    """A scope's clients (one per service, made before the reads run in parallel), its backup selections and,
    for many tables, its DynamoDB backups listed once."""

    def __init__(self, client_for: Callable[[str], Any], tables: int, aws: Any = None) -> None:
        self.aws, self.client_for = aws, client_for
        for service in ("backup", "rds", "dynamodb"):
            client_for(service)
        self.selections = collect.backup_selections(client_for)
        self.pace = collect.list_backups_pace((aws.endpoint_url, aws.region, aws.role_arn) if aws is not None else None)
        self.listed = collect.account_backups(client_for, self.pace) if tables >= collect.ACCOUNT_LISTING_MIN_TABLES else None


def verify(cfg: Config, env: EnvConfig, targets: list[str], journal: Journal,
           client_for: Callable[[str], Any] | None = None, then: Callable[[], None] | None = None,
           concurrency: int | None = None, refused: Sequence[tuple[str, str]] = (),
           progress: Callable[[str], None] | None = None) -> Report:
    """Read and judge every target's backups, `concurrency` targets at a time (default: READ_CONCURRENCY); the
    findings are in the targets' order whatever order the reads end in. `refused` are the scopes (accounts,
    regions) that could not be read: each an error finding, so a fleet run never passes on what it did not read.
    `then` runs after they are judged and before the report is finished (the restores of --restore-latest:
    their own backup jobs must not count as the plans' jobs)."""
    from ops.aws import bounded_map

    refs = [parse_target(t) for t in targets]
    readers: dict[Any, _ScopeReader] = {}
    refused = list(refused)
    if _aws_refs(refs):
        if client_for is not None:
            readers[None] = _ScopeReader(client_for, sum(r.kind == "dynamodb" for r in refs))
        else:
            from ops.scopes import aws_for, scope_of

            in_scope = [(scope_of(env, r.account, r.region), r) for r in _aws_refs(refs)]

            def reader(scope: Any) -> _ScopeReader | str:
                try:
                    aws = aws_for(cfg, env, scope)
                except ConfigError as exc:
                    return str(exc)
                tables = sum(s == scope and r.kind == "dynamodb" for s, r in in_scope)
                return _ScopeReader(lru_cache(maxsize=None)(aws.client), tables, aws)

            in_order = list(dict.fromkeys(s for s, _ in in_scope))
            for scope, made in zip(in_order, bounded_map(reader, in_order, concurrency)):  # each scope's setup at once
                if isinstance(made, str):
                    refused.append((scope.label, made))
                else:
                    readers[scope] = made
    journal.event("collect", f"reading the backup state of {len(refs)} target(s)")
    for label, why in refused:
        journal.event("collect", f"{label} not read: {why}")

    def reader_of(ref: TargetRef) -> _ScopeReader | None:
        if client_for is not None:
            return readers.get(None)
        from ops.scopes import scope_of

        return readers.get(scope_of(env, ref.account, ref.region))

    def collect_one(ref: TargetRef) -> dict[str, Any] | None:
        reader = reader_of(ref)
        if ref.kind in ("aurora", "dynamodb") and reader is None:
            return None  # its scope was refused: said once for the scope, below
        return _collect(cfg, env, ref, reader)

    states = bounded_map(collect_one, refs, concurrency, progress)
    dead = next((r.aws.dead_reason() for r in readers.values() if r.aws is not None and r.aws.dead_reason()), None)
    if dead is not None:
        raise EndpointUnreachable(f"AWS endpoint does not answer ({dead})")
    today = datetime.now(timezone.utc).date()
    for label, why in refused:
        journal.check(f"SCOPE[{label}]", "error", why, objective=True)
    for ref, state in zip(refs, states):
        if state is None:
            continue
        for f in run_checks(ref.kind, state, cfg.policy, env):
            f = waivers.apply(f, str(ref), env.waivers, today)
            journal.check(f"{f.check_id}[{ref}]", f.status, f.detail, objective=True)
    if then is not None:
        then()
    failed = sum(c.status == "fail" for c in journal.checks)
    journal.measure("targets", len(refs))
    journal.measure("findings", len(journal.checks))
    journal.measure("failed_backup_findings", failed)
    if not refs and not refused:
        report = journal.finish("inconclusive")
        return replace(report, summary=f"INCONCLUSIVE: no target to verify in env {env.name} "
                                       "(nothing in the Terraform outputs or the lab: apply the env, or name targets)")
    report = journal.finish()
    counts = {s: sum(c.status == s for c in report.checks) for s in ("pass", "warn", "fail", "unknown", "error")}
    text = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    scopes = f" in {len({(r.account, r.region) for r in refs})} account-region(s)" if env.is_fleet else ""
    return replace(report, summary=headline(report, f"{len(refs)} target(s){scopes}, {text}"))


def _collect(cfg: Config, env: EnvConfig, ref: TargetRef, reader: _ScopeReader | None) -> dict[str, Any]:
    plugged = target_kind(ref.kind)
    if plugged is not None or reader is None:
        return plugged.backup_state(cfg, env, ref)  # type: ignore[union-attr]
    if ref.kind == "aurora":
        return collect.aurora(reader.client_for, ref.name, reader.selections)
    return collect.dynamodb(reader.client_for, ref.name, reader.selections, reader.listed, reader.pace)


# --- --restore-latest: a point-in-time restore drill and an AWS Backup round trip per target ----

STATUS_OF = {"pass": "pass", "fail": "fail", "error": "error", "aborted": "error", "inconclusive": "unknown"}


def price_restores(cfg: Config, env: EnvConfig, targets: list[str], catalog: dict[str, Any],
                   with_indexes: bool = False) -> list[tuple[str, Any]]:
    """The cost bound of every restore --restore-latest would make, by the finding it makes, before any starts."""
    from ops.drills.common import expiry_hours
    from ops.drills.recovery_point_restore import point_restore_waits_s
    from ops.drills.restore import RestoreOptions, restore_hours
    from ops.targets import recovery_point
    from ops.targets.registry import open_restorable

    out = []
    for target in targets:
        restorable = open_restorable(cfg, env, target, with_indexes=with_indexes)
        out.append((f"BKP-RESTORE-LATEST[{target}]", restorable.restore_cost(restore_hours(restorable, RestoreOptions(latest=True)), catalog)))
        if parse_target(target).kind in ("aurora", "dynamodb"):
            side = recovery_point.from_restorable(restorable)
            # the restored resource is deleted after the job, making it usable and the deletion wait, but lives
            # until its expiry tag (the one run_point_restore sets) if its cleanup fails: priced to then
            hours = expiry_hours(point_restore_waits_s(side.default_timeout_s))
            out.append((f"BKP-RECOVERY-POINT-RESTORE[{target}]", side.restore_cost(hours, catalog)))
    return out


def refuse_costly_restores(costs: list[tuple[str, Any]], max_cost_usd: float, explicit: bool = False) -> None:
    """One line, exit 2, before anything is created; a restore whose size is not measured is no bound, refused
    unless --max-cost was given explicitly."""
    from ops.cost.restore import usd

    unmeasured = [(what, c) for what, c in costs if getattr(c, "not_measured", None)]
    if unmeasured and not explicit:
        raise UsageError(f"the restores of --restore-latest cannot be bounded: {unmeasured[0][0]}: {unmeasured[0][1].not_measured}; "
                         "nothing was created; give --max-cost explicitly to accept a restore of a size not measured")
    total = sum(c.usd for _, c in costs)
    if total > max_cost_usd:
        each = "; ".join(f"{what} {usd(c.usd)} USD ({c.basis})" for what, c in costs)
        raise UsageError(f"the restores of --restore-latest would cost up to {usd(total)} USD, above --max-cost {max_cost_usd:g} USD: "
                         f"nothing was created; raise --max-cost (policy max_drill_cost_usd) or name fewer targets. {each}")


def restore_latest(cfg: Config, env: EnvConfig, targets: list[str], journal: Journal,
                   costs: list[tuple[str, Any]] = (), with_indexes: bool = False) -> None:  # type: ignore[assignment]
    """Both kinds of restore an SRE relies on, each an objective finding per target:

    BKP-RESTORE-LATEST: a restore drill to the latest restorable time (point-in-time recovery);
    BKP-RECOVERY-POINT-RESTORE (Aurora, DynamoDB): markers, an on-demand AWS Backup job with the
    vault and role of the plan that covers the target, markers, a restore of the newest recovery
    point through AWS Backup, its rows checked against the point's creation and completion times.
    """
    from ops.lease import ledger_for

    from ops.cost.restore import usd

    ledger = ledger_for(cfg, env)
    priced = dict(costs)
    if costs:
        journal.measure("restore_cost_estimate_usd", sum(c.usd for _, c in costs))
    for what, cost in costs:
        journal.event("cost", f"{what}: at most {usd(cost.usd)} USD: {cost.basis}")
    for target in targets:
        _pitr_drill(cfg, env, target, journal, ledger, priced.get(f"BKP-RESTORE-LATEST[{target}]"), with_indexes)
        if parse_target(target).kind in ("aurora", "dynamodb"):
            _recovery_point_drill(cfg, env, target, journal, ledger)


def _pitr_drill(cfg: Config, env: EnvConfig, target: str, journal: Journal, ledger: Any, cost: Any = None,
                with_indexes: bool = False) -> None:
    """A restore drill to the latest restorable time; its verdict becomes an objective finding."""
    from ops.drills.common import guarded, new_drill_id
    from ops.drills.restore import RestoreOptions, run_restore
    from ops.errors import Busy
    from ops.progress import journal_wait
    from ops.targets.registry import open_restorable

    restorable = open_restorable(cfg, env, target, with_indexes=with_indexes)
    guard = _guard(cfg, env, journal, f"BKP-RESTORE-LATEST[{target}]")
    if guard is None:
        return
    drill_id = new_drill_id("restore")
    sub_journal = Journal("restore", target, env.name, echo=None)
    journal.event("restore", f"restore drill {drill_id} of {target} to its latest restorable time")
    opts = RestoreOptions(latest=True, rpo_s=cfg.policy.rpo_seconds, max_cost_usd=cfg.policy.max_drill_cost_usd, cost=cost)
    try:
        with ledger.acquire(target, drill_id, hours=(restorable.default_timeout_s + 3600) / 3600) as lease:
            with journal_wait(journal, f"restore drill of {target}", restorable.default_timeout_s):
                sub = guarded(sub_journal, lambda: run_restore(restorable, opts, sub_journal, drill_id, ledger, guard=guard),
                              guard=guard)
            sub = lease.judge(sub)
    except Busy as exc:
        journal.check(f"BKP-RESTORE-LATEST[{target}]", "error", str(exc), objective=True)
        return
    journal.check(f"BKP-RESTORE-LATEST[{target}]", STATUS_OF[sub.status], sub.summary, objective=True)
    if sub.status == "aborted":
        raise KeyboardInterrupt


def _recovery_point_drill(cfg: Config, env: EnvConfig, target: str, journal: Journal, ledger: Any) -> None:
    from ops.drills.common import guarded, new_drill_id
    from ops.drills.recovery_point_restore import point_restore_waits_s, run_point_restore
    from ops.errors import Busy
    from ops.progress import journal_wait
    from ops.targets import recovery_point
    from ops.targets.registry import open_restorable

    restorable = open_restorable(cfg, env, target)
    guard = _guard(cfg, env, journal, f"BKP-RECOVERY-POINT-RESTORE[{target}]")
    if guard is None:
        return
    side = recovery_point.from_restorable(restorable)
    aws = restorable.aws if hasattr(restorable, "aws") else restorable.target.aws
    points = recovery_point.RecoveryPoints(aws.client("backup"), side.arn)
    drill_id = new_drill_id("restore")
    sub_journal = Journal("restore", target, env.name, echo=None)
    journal.event("restore", f"AWS Backup restore {drill_id} of {target}: markers, an on-demand backup job, markers, "
                             "a restore of the newest recovery point")
    progress = lambda m: journal.event("restore", m)  # noqa: E731
    hours = point_restore_waits_s(side.default_timeout_s) / 3600 + 1  # the lease outlives the longest the drill may wait
    try:
        with ledger.acquire(target, drill_id, hours=hours) as lease:
            with journal_wait(journal, f"AWS Backup restore drill of {target}", point_restore_waits_s(side.default_timeout_s)):
                sub = guarded(sub_journal, lambda: run_point_restore(side, points, sub_journal, drill_id, ledger, progress, guard=guard),
                              guard=guard)
            sub = lease.judge(sub)
    except Busy as exc:
        journal.check(f"BKP-RECOVERY-POINT-RESTORE[{target}]", "error", str(exc), objective=True)
        return
    journal.check(f"BKP-RECOVERY-POINT-RESTORE[{target}]", STATUS_OF[sub.status], sub.summary, objective=True)
    if sub.status == "aborted":
        raise KeyboardInterrupt


def _guard(cfg: Config, env: EnvConfig, journal: Journal, check_id: str) -> Any:
    """The policy's stop conditions for one restore, checked before it (an alarm gone off since the last one:
    this restore is not started, an error finding); None when they refuse it."""
    from ops.drills.guard import guard_for, stop_conditions
    from ops.errors import CannotRun

    guard = guard_for(cfg, env, stop_conditions(cfg.policy, (), None, measures_downtime=False, drill="restore"))
    try:
        guard.check_before()
    except CannotRun as exc:
        journal.check(check_id, "error", f"not run: {exc}", objective=True)
        return None
    return guard
