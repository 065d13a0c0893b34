"""Saved plans: `tf plan` writes one, `tf apply`/`tf destroy` apply exactly that one.

What a plan does is read from `terraform show -json PLANFILE` (resource_changes' actions),
not from Terraform's prose, and a delete or replace of a resource that holds data, or an update
that weakens what protects it (ops.terraform.weakening), is refused unless its address is named.
The plan file is read once into a private copy, checked (its age, its sha256 against the one the
reviewer read) and that copy is what Terraform applies.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ops.errors import UsageError
from ops.terraform.weakening import Weakening, weakenings

# Resources whose deletion loses data or makes it unreadable: Aurora clusters and instances (an
# RDS instance too), DynamoDB tables, KMS keys (what they encrypted), backup vaults (their recovery
# points) and S3 buckets (Terraform's own state).
STATEFUL_TYPES = frozenset({
    "aws_rds_cluster", "aws_rds_cluster_instance", "aws_db_instance", "aws_dynamodb_table",
    "aws_kms_key", "aws_backup_vault", "aws_s3_bucket",
})

# resource_changes[].change.actions as Terraform writes them
_ACTIONS = {
    ("create",): "create", ("update",): "update", ("delete",): "delete",
    ("delete", "create"): "replace", ("create", "delete"): "replace",
    ("read",): "read", ("no-op",): "no-op",
    ("forget",): "forget",  # a `removed` block with destroy = false: out of state, left in AWS
}


@dataclass(frozen=True)
class PlannedChange:
    address: str
    type: str
    action: str  # create, update, delete, replace, forget, read, no-op
    # A deposed object: the old one a create_before_destroy replace left when its delete failed. It
    # shares the address, so --allow-destroy ADDRESS allows its delete too; the plan lists it apart.
    deposed: str | None = None

    def named(self) -> str:
        return f"{self.address} ({self.action}{f' of deposed object {self.deposed}' if self.deposed else ''})"

    @property
    def removes(self) -> bool:
        """The object that exists now is deleted (a replace deletes it too, before or after its successor)."""
        return self.action in ("delete", "replace")

    @property
    def stateful(self) -> bool:
        return self.type in STATEFUL_TYPES


@dataclass(frozen=True)
class PlanSummary:
    changes: tuple[PlannedChange, ...]
    destroy_plan: bool  # made with -destroy
    weakenings: tuple[Weakening, ...] = ()

    def count(self, action: str) -> int:
        return sum(c.action == action for c in self.changes)

    @property
    def add(self) -> int:  # as Terraform counts: a replace adds one and destroys one
        return self.count("create") + self.count("replace")

    @property
    def change(self) -> int:
        return self.count("update")

    @property
    def destroy(self) -> int:
        return self.count("delete") + self.count("replace")

    @property
    def replace(self) -> int:
        return self.count("replace")

    def line(self) -> str:
        return f"Plan: {self.add} to add, {self.change} to change, {self.destroy} to destroy. {self.replace} to replace."

    def shown(self) -> list[PlannedChange]:
        """What the plan does to current objects, without reads and no-ops."""
        return [c for c in self.changes if c.action not in ("read", "no-op") and not c.deposed]

    def deposed(self) -> list[PlannedChange]:
        return [c for c in self.changes if c.deposed and c.action not in ("read", "no-op")]

    def stateful_removals(self) -> list[PlannedChange]:
        return [c for c in self.changes if c.removes and c.stateful]

    def as_dict(self) -> dict[str, Any]:
        return {"add": self.add, "change": self.change, "destroy": self.destroy, "replace": self.replace,
                "destroy_plan": self.destroy_plan,
                "changes": [{"address": c.address, "type": c.type, "action": c.action} for c in self.shown()],
                "deposed": [{"address": c.address, "type": c.type, "action": c.action, "deposed": c.deposed} for c in self.deposed()],
                "weakenings": [{"address": w.address, "attribute": w.attribute, "before": w.before, "after": w.after}
                               for w in self.weakenings]}


def summarize(plan: dict[str, Any], destroy_plan: bool = False) -> PlanSummary:
    """The changes of `terraform show -json PLANFILE`; an action this code does not know is an error, not a guess."""
    changes = []
    for rc in plan.get("resource_changes") or []:
        actions = tuple(rc["change"]["actions"])
        if actions not in _ACTIONS:
            raise UsageError(f"the saved plan has an action dbops does not know for {rc['address']}: {list(actions)}")
        changes.append(PlannedChange(rc["address"], rc["type"], _ACTIONS[actions], rc.get("deposed")))
    return PlanSummary(tuple(changes), destroy_plan, tuple(weakenings(plan)))


def changed_inputs(plan: dict[str, Any], expected: dict[str, str]) -> list[str]:
    """Inputs the plan was made with that differ from the env's now (its region, account, endpoint):
    a saved plan carries its inputs, so applying it would act where the env no longer points."""
    recorded = plan.get("variables") or {}
    return [f"{name} was {recorded[name].get('value')!r}, the env now says {value!r}"
            for name, value in expected.items() if name in recorded and recorded[name].get("value") != value]


def path_for(plan_dir: Path, destroy: bool) -> Path:
    """The env's saved plan: one for `tf apply`, one for `tf destroy`."""
    return plan_dir / ("dbops-destroy.tfplan" if destroy else "dbops-apply.tfplan")


def unallowed_removals(summary: PlanSummary, allowed: Iterable[str]) -> list[PlannedChange]:
    """Deletes and replaces of stateful resources whose address is not named by --allow-destroy."""
    named = set(allowed)
    return [c for c in summary.stateful_removals() if c.address not in named]


def refusal(removals: list[PlannedChange], verb: str) -> str:
    listed = ", ".join(c.named() for c in removals)
    return (f"the saved plan would {'delete or replace' if verb == 'apply' else 'delete'} {len(removals)} resource(s) holding data: "
            f"{listed}; name each with --allow-destroy ADDRESS to {verb} it, or change the configuration and plan again")


def weakening_refusal(found: list[Weakening]) -> str:
    listed = ", ".join(w.text() for w in found)
    return (f"the saved plan would weaken what protects {len(found)} resource(s) holding data: {listed}; "
            "name each with --allow-destroy ADDRESS to apply it, or change the configuration and plan again")


def unappliable_switches(plan: dict[str, Any]) -> list[str]:
    """Tables the plan switches from PAY_PER_REQUEST to PROVISIONED with no capacity: the module leaves
    capacity to autoscaling (ignore_changes), so the provider (3.39) takes it from state, where an
    on-demand table has 0, and stops the apply with "write capacity must be > 0"."""
    out = []
    for rc in plan.get("resource_changes") or []:
        if rc["type"] != "aws_dynamodb_table" or rc["change"]["actions"] != ["update"]:
            continue
        before, after = rc["change"].get("before") or {}, rc["change"].get("after") or {}
        if (before.get("billing_mode"), after.get("billing_mode")) == ("PAY_PER_REQUEST", "PROVISIONED") \
                and not (after.get("read_capacity") and after.get("write_capacity")):
            out.append(rc["address"])
    return out


def switch_advice(address: str) -> str:
    return (f"{address} goes from PAY_PER_REQUEST to PROVISIONED with capacity 0, which the provider refuses at apply: "
            "switch it with `aws dynamodb update-table --billing-mode PROVISIONED --provisioned-throughput ...` "
            "(terraform/modules/dynamodb-table/README.md), then plan again")


def checked(plan: dict[str, Any], env_name: str, pinned: dict[str, str], allowed: Iterable[str], destroy_plan: bool) -> PlanSummary:
    """The saved plan's summary once it may be applied: a plan that completed, made for where the env
    points now, and every delete or replace of a resource holding data, and every weakening of what
    protects one, named by --allow-destroy (and nothing else named)."""
    if plan.get("errored"):  # Terraform refuses it too, but only after its counts would have been shown
        raise UsageError(f"the saved plan of env '{env_name}' is of a plan that failed (errored, incomplete): "
                         "it cannot be applied; fix the error and plan again")
    moved = changed_inputs(plan, pinned)
    if moved:
        raise UsageError(f"the saved plan of env '{env_name}' was made for another target ({'; '.join(moved)}): plan again")
    summary = summarize(plan, destroy_plan)
    allowed = tuple(allowed)
    stray = sorted(set(allowed) - {c.address for c in summary.stateful_removals()} - {w.address for w in summary.weakenings})
    if stray:
        raise UsageError(f"--allow-destroy {stray[0]}: the saved plan does not delete or replace a resource holding data "
                         "at that address, nor weaken what protects it")
    refused = unallowed_removals(summary, allowed)
    if refused:
        raise UsageError(refusal(refused, "destroy" if destroy_plan else "apply"))
    weakened = [w for w in summary.weakenings if w.address not in set(allowed)]
    if weakened:
        raise UsageError(weakening_refusal(weakened))
    switches = unappliable_switches(plan)
    if switches:
        raise UsageError(switch_advice(switches[0]))
    return summary


SHORT_SHA = 12  # hex digits `tf plan` prints and `--plan-sha` needs at least


def short(sha256: str) -> str:
    return sha256[:SHORT_SHA]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class PrivateCopy:
    path: Path  # what Terraform applies: a file only this process wrote
    sha256: str
    age_s: float


def _expected(plan_sha: str) -> str:
    given = plan_sha.strip().lower()
    if not (SHORT_SHA <= len(given) <= 64 and all(c in "0123456789abcdef" for c in given)):
        raise UsageError(f"--plan-sha {plan_sha!r} is not a plan's sha256 (at least {SHORT_SHA} hex digits, as `tf plan` prints it)")
    return given


def private_copy(source: Path, into: Path, plan_sha: str | None, max_age_hours: float, now: float | None = None) -> PrivateCopy:
    """Read the saved plan once, without following a link, into a file of `into` (a directory only this
    user can open): its age and sha256 are those of the bytes read, and those bytes are what is shown and
    applied, whatever is written at `source` meanwhile. Refused: older than `max_age_hours` (or dated
    ahead of this clock), or a sha256 that does not start with `plan_sha`."""
    expected = _expected(plan_sha) if plan_sha is not None else None
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise UsageError(f"the saved plan {source} cannot be read ({e.strerror}): plan again") from None
    with os.fdopen(fd, "rb") as f:
        mtime = os.fstat(f.fileno()).st_mtime
        data = f.read()
    age = (time.time() if now is None else now) - mtime
    if age > max_age_hours * 3600 or age < -60:
        raise UsageError(f"the saved plan {source} was made {age / 3600:.1f} h ago, outside the {max_age_hours:g} h "
                         "a plan may wait (plan_max_age_hours): plan again and read it")
    sha = hashlib.sha256(data).hexdigest()
    if expected is not None and not sha.startswith(expected):
        raise UsageError(f"the saved plan {source} is not the plan you read: its sha256 is {short(sha)}, --plan-sha says "
                         f"{expected[:SHORT_SHA]}: someone planned since; plan again and read it")
    copy = into / source.name
    with os.fdopen(os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "wb") as out:
        out.write(data)
    return PrivateCopy(copy, sha, age)


def pending_path(saved: Path) -> Path:
    """Where `tf plan` has Terraform write, beside the saved plan: moved over it only once the plan
    succeeded, so a failed plan (Terraform writes an errored one) leaves the saved plan as it was."""
    return saved.with_name(f".{saved.name}.{os.getpid()}.pending")


def open_pending(saved: Path) -> Path:
    """An empty file only this user can read, for Terraform to write the plan into (it keeps the
    mode of a file that exists): the plan holds its input values, secrets included."""
    pending = pending_path(saved)
    pending.unlink(missing_ok=True)
    os.close(os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    return pending


def private_dir() -> Path:
    """A directory only this user can open (mkdtemp makes it 0700), for the copy of a plan being applied."""
    return Path(tempfile.mkdtemp(prefix="dbops-plan-"))


def remove_private(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
