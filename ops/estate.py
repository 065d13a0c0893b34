"""The estate inventory: the env's Terraform output `dbops_targets` plus what plugins run (the lab's lab-pg)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from ops.aws_errors import describe_aws_error
from ops.config import Config, EnvConfig
from ops.errors import DbopsError, TerraformError
from ops.plugins import seams
from ops.targets import KINDS, TargetRef, parse_target

if TYPE_CHECKING:
    from ops.scopes import Scope


def inventory(cfg: Config, env: EnvConfig) -> list[dict[str, Any]]:
    """One entry per target: id, kind, name, source, and what the outputs say of it."""
    from ops.terraform.envs import env_outputs

    targets: list[dict[str, Any]] = []
    outputs = env_outputs(cfg, env)
    details = outputs.get("dbops_target_details") or {}
    for ident in outputs.get("dbops_targets") or []:
        ref = parse_target(ident)
        if not isinstance(details, dict):
            raise TerraformError("output dbops_target_details must be a map")
        known = {k: v for k, v in (details.get(ident) or {}).items() if v not in ("", None)}
        targets.append({"id": str(ref), "kind": ref.kind, "name": ref.name, "source": "terraform", **known})
    for source in seams().estate_sources:
        targets += source(cfg, env)
    return targets


@dataclass(frozen=True)
class Fleet:
    """The targets a fleet read covers, sorted, and the scopes it could not read, each said in one line."""

    targets: list[str]
    refused: list[tuple[str, str]]  # (scope label, why)


def fleet_targets(cfg: Config, env: EnvConfig, concurrency: int | None = None) -> Fleet:
    """An env's targets in every scope it reads. Its own region is its Terraform outputs and plugins' targets, as
    for any env; every other region and account has no Terraform state here, so its Aurora clusters and
    DynamoDB tables are listed. In a fleet env every AWS target carries its account and region."""
    home = [t["id"] for t in inventory(cfg, env)]
    if not env.is_fleet:
        return Fleet(home, [])
    from ops.aws import bounded_map
    from ops.scopes import aws_for, is_home, scopes

    def listed(scope: Scope) -> tuple[list[str], str | None]:
        try:
            aws = aws_for(cfg, env, scope)
            account = scope.account or aws.account()
            if is_home(env, scope):
                names = [parse_target(t) for t in home]
                return [str(TargetRef(r.kind, r.name, account, scope.region)) if r.kind in KINDS else str(r) for r in names], None
            return [str(TargetRef(kind, name, account, scope.region)) for kind, name in _listed(aws)], None
        except DbopsError as exc:
            return [], str(exc)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            return [], f"{scope.label}: listing failed: {describe_aws_error(exc) or exc}"

    found = bounded_map(listed, scopes(env), concurrency)
    targets = [t for ts, _ in found for t in ts]
    refused = [(s.label, why) for s, (_, why) in zip(scopes(env), found) if why]
    return Fleet(targets, refused)


def _listed(aws: Any) -> list[tuple[str, str]]:
    from ops.aws import paged

    clusters = paged(aws.client("rds"), "describe_db_clusters", "DBClusters")
    tables = paged(aws.client("dynamodb"), "list_tables", "TableNames")
    return sorted([("aurora", c["DBClusterIdentifier"]) for c in clusters if str(c.get("Engine", "")).startswith("aurora")]
                  + [("dynamodb", t) for t in tables])
