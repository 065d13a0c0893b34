"""The IAM permissions dbops needs, declared next to the code that makes each AWS call.

A module that calls AWS declares what its calls need, as cloud-custodian's filters and actions
declare `permissions`: `declare(name, need(...), ...)` at module level, next to the functions that
make the calls. A `Need` names the API call as botocore makes it ("rds:RestoreDBClusterToPointInTime")
and one IAM action that call needs, which is usually the call's own name but not always (DescribeBudgets
is authorized as `budgets:ViewBudget`; a restore that tags its cluster needs `rds:AddTagsToResource`
too; a secret under a customer key needs `kms:Decrypt`). The CLI keys the declarations to the
commands that reach them (`ops/cli/permissions.py`), and `policy()` turns a set of them into an IAM
policy document scoped to an account, its regions (each in its partition) and an env.

This module imports nothing of ops: every layer may declare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DRILL_TAG = "dbops:drill-id"
ENV_TAG = "dbops:env"

# Resource kinds: the ARNs an action is granted on. "*" only where the action has no resource-level
# permission (the Service Authorization Reference lists no resource type for it).
RESOURCES: dict[str, tuple[str, ...]] = {
    "rds-cluster": ("arn:{partition}:rds:{region}:{account}:cluster:*",),
    "rds-db": ("arn:{partition}:rds:{region}:{account}:db:*",),
    "rds-cluster-snapshot": ("arn:{partition}:rds:{region}:{account}:cluster-snapshot:*",),
    "rds-proxy": ("arn:{partition}:rds:{region}:{account}:db-proxy:*", "arn:{partition}:rds:{region}:{account}:db-proxy-endpoint:*",
                  "arn:{partition}:rds:{region}:{account}:target-group:*"),
    "rds-cluster-parameter-group": ("arn:{partition}:rds:{region}:{account}:cluster-pg:*",),
    "rds-subnet-group": ("arn:{partition}:rds:{region}:{account}:subgrp:*",),
    "dynamodb-table": ("arn:{partition}:dynamodb:{region}:{account}:table/*",),
    # What a restore drill creates is named <source>-restore-<time>-<hex> (the drill id): only those.
    "restored-table": ("arn:{partition}:dynamodb:{region}:{account}:table/*-restore-*",),
    "restored-cluster": ("arn:{partition}:rds:{region}:{account}:cluster:*-restore-*",),
    "restored-db": ("arn:{partition}:rds:{region}:{account}:db:*-restore-*",),
    "dynamodb-global-table": ("arn:{partition}:dynamodb::{account}:global-table/*",),
    "lease-table": ("arn:{partition}:dynamodb:{region}:{account}:table/{lease_table}",),
    "backup-vault": ("arn:{partition}:backup:{region}:{account}:backup-vault:*",),
    "backup-plan": ("arn:{partition}:backup:{region}:{account}:backup-plan:*",),
    # A recovery point's ARN is AWS Backup's, or (Aurora, DynamoDB without advanced backup) the service's own.
    "recovery-point": ("arn:{partition}:backup:{region}:{account}:recovery-point:*",
                       "arn:{partition}:rds:{region}:{account}:cluster-snapshot:awsbackup:*",
                       "arn:{partition}:dynamodb:{region}:{account}:table/*/backup/*"),
    "secret": ("arn:{partition}:secretsmanager:{region}:{account}:secret:*",),
    "kms-key": ("arn:{partition}:kms:{region}:{account}:key/*",),
    "alarm": ("arn:{partition}:cloudwatch:{region}:{account}:alarm:*",),
    # DescribeAlarms answers composite alarms only to a permission on "*" (its API reference): a stop condition
    # may name one, so the guard's read is granted there, not on the alarm ARNs.
    "any-alarm": ("*",),
    "budget": ("arn:{partition}:budgets::{account}:budget/*",),
    # The backup plan's role, as the estate names it (terraform/modules/backup: <plan name>-backup, the plan
    # dbops-<env>): what StartBackupJob and StartRestoreJob pass to AWS Backup.
    "backup-role": ("arn:{partition}:iam::{account}:role/dbops-{env}-backup",),
    # The roles an env's [[accounts]] name, in their own accounts (a fleet's reads): filled from the env.
    "fleet-role": (),
    # The analytics lake (terraform/modules/analytics-lake): its bucket and its Glue database, named after the env.
    "lake-bucket": ("arn:{partition}:s3:::dbops-{env}-lake*",),
    "lake-object": ("arn:{partition}:s3:::dbops-{env}-lake*/*",),
    "glue-table": ("arn:{partition}:glue:{region}:{account}:catalog", "arn:{partition}:glue:{region}:{account}:database/dbops_*",
                   "arn:{partition}:glue:{region}:{account}:table/dbops_*/*"),
    "athena-workgroup": ("arn:{partition}:athena:{region}:{account}:workgroup/*",),
    "*": ("*",),
}

# Conditions a need may carry, by name: what IAM can check of the request or the resource.
CONDITIONS: dict[str, dict[str, dict[str, str]]] = {
    # Writes on the estate's own resources (stop, start, fail over, restore from): only the env's, by the tag its
    # Terraform modules put on every resource they make (terraform/modules/estate).
    "estate-env": {"StringEquals": {f"aws:ResourceTag/{ENV_TAG}": "{env}"}},
    # Deletes and stops: only what a drill created (every drill resource carries its drill id tag).
    "drill-tagged": {"Null": {f"aws:ResourceTag/{DRILL_TAG}": "false"}},
    # Creates and tag writes: the request tags what it makes with a drill id.
    "drill-tagging": {"Null": {f"aws:RequestTag/{DRILL_TAG}": "false"}},
    # Metrics go to dbops' own namespace only.
    "dbops-namespace": {"StringEquals": {"cloudwatch:namespace": "dbops"}},
    # A key is used only through Secrets Manager, to read a secret under it.
    "via-secretsmanager": {"StringEquals": {"kms:ViaService": "secretsmanager.{region}.amazonaws.com"}},
    # A key is used only through RDS or DynamoDB, by a restore that encrypts under it.
    "via-rds-dynamodb": {"StringEquals": {"kms:ViaService": ["rds.{region}.amazonaws.com", "dynamodb.{region}.amazonaws.com"]}},  # type: ignore[dict-item]
    # A grant on a key, only for RDS or DynamoDB to use it for the resource they restore (never a grant to a principal).
    "via-rds-dynamodb-for-aws-resource": {
        "StringEquals": {"kms:ViaService": ["rds.{region}.amazonaws.com", "dynamodb.{region}.amazonaws.com"]},  # type: ignore[dict-item]
        "Bool": {"kms:GrantIsForAWSResource": "true"}},
    # A role is passed only to AWS Backup (the plan's role, for its backup and restore jobs).
    "to-backup": {"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}},
}


@dataclass(frozen=True)
class Need:
    """One IAM action an AWS call needs, on what, under which condition."""

    call: str  # the API call as made, "<iam prefix>:<OperationName>"
    action: str  # the IAM action
    resource: str  # a key of RESOURCES
    condition: str | None = None  # a key of CONDITIONS
    why: str = ""  # where action and call differ, why the action is needed

    def __post_init__(self) -> None:
        if self.resource not in RESOURCES:
            raise ValueError(f"{self.call}: unknown resource kind {self.resource!r}")
        if self.condition is not None and self.condition not in CONDITIONS:
            raise ValueError(f"{self.call}: unknown condition {self.condition!r}")


@dataclass(frozen=True)
class Calls:
    """What one module's (or function's) AWS calls need."""

    name: str
    needs: tuple[Need, ...]

    @property
    def calls(self) -> frozenset[str]:
        return frozenset(n.call for n in self.needs)


REGISTRY: dict[str, Calls] = {}


def need(call: str, on: str, action: str | None = None, when: str | None = None, why: str = "") -> Need:
    """The call's own action (or `action`) on resources of kind `on`, under condition `when`."""
    return Need(call, action or call, on, when, why)


def declare(name: str, *needs: Need) -> Calls:
    """Register what a module's calls need under a name (a module declares once)."""
    calls = Calls(name, tuple(needs))
    REGISTRY[name] = calls
    return calls


def partition(region: str) -> str:
    """The AWS partition a region belongs to: its ARNs start arn:<partition>:."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _fill(value: object, where: dict[str, str]) -> object:
    if isinstance(value, str):
        return value.format(**where)
    if isinstance(value, list):
        return [_fill(v, where) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, where) for k, v in value.items()}
    return value


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _fill_regions(condition: dict, wheres: list[dict[str, str]]) -> dict:
    """A condition filled for every region: a value that differs by region becomes the list of each region's."""
    out: dict = {}
    for operator, keys in condition.items():
        out[operator] = {}
        for key, value in keys.items():
            filled = _unique([v for w in wheres for v in (_fill(value, w) if isinstance(value, list) else [_fill(value, w)])])
            out[operator][key] = filled if isinstance(value, list) or len(filled) > 1 else filled[0]
    return out


def _sid(resource: str, condition: str | None) -> str:
    """Unique per statement: the resource kind and condition, or that the actions allow no narrower resource."""
    name = "NoResourceLevelPermissions" if resource == "*" else resource
    words = re.split(r"[^a-zA-Z0-9]+", f"{name} {condition or ''}")
    return "".join(w[:1].upper() + w[1:] for w in words if w)


def policy(needs: list[Need] | tuple[Need, ...], regions: str | tuple[str, ...], account: str | None, lease_table: str,
           fleet_roles: tuple[str, ...] = (), env: str = "") -> dict:
    """An IAM policy document: one statement per resource kind and condition, actions sorted.

    Regional ARNs are named in each of `regions` (a fleet env reads several), each in its region's partition.
    An account not known (an env without account_id) is `*` in every ARN. What is granted on the fleet's
    roles is left out of an env that names none. `env` is the value of the dbops:env tag writes on the estate's
    own resources are held to."""
    regions = (regions,) if isinstance(regions, str) else tuple(regions)
    if not regions:
        raise ValueError("a policy needs at least one region")
    wheres = [{"region": r, "partition": partition(r), "account": account or "*", "lease_table": lease_table, "env": env}
              for r in regions]
    grouped: dict[tuple[str, str | None], set[str]] = {}
    for n in needs:
        if (n.condition == "estate-env" or n.resource == "backup-role") and not env:
            raise ValueError(f"{n.call}: scoped by the env's name (its tag, its backup role), but no env named")
        grouped.setdefault((n.resource, n.condition), set()).add(n.action)
    statements = []
    for (resource, condition), actions in sorted(grouped.items(), key=lambda kv: (kv[0][0] == "*", kv[0][0], kv[0][1] or "")):
        arns = sorted(fleet_roles) if resource == "fleet-role" else \
            _unique([str(_fill(a, w)) for a in RESOURCES[resource] for w in wheres])
        if not arns:
            continue
        statement: dict = {"Sid": _sid(resource, condition), "Effect": "Allow", "Action": sorted(actions),
                           "Resource": arns[0] if len(arns) == 1 else arns}
        if condition:
            statement["Condition"] = _fill_regions(CONDITIONS[condition], wheres)
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}
