"""Open a target of the configured env by its KIND:NAME."""

from __future__ import annotations

from typing import Any

from ops.config import Config, EnvConfig
from ops.errors import UsageError
from ops.targets import parse_target


def open_cluster(cfg: Config, env: EnvConfig, text: str) -> Any:
    ref = parse_target(text)
    if ref.kind == "localpg":
        if not env.is_embedded:
            raise UsageError(f"localpg targets live in the embedded lab; env '{env.name}' is not the lab")
        from ops.targets.localpg import LocalPgTarget

        return LocalPgTarget(ref, cfg.lab_dir)
    if ref.kind == "aurora":
        from ops.aws import Aws
        from ops.targets.aurora import AuroraTarget

        return AuroraTarget(ref, Aws.for_env(cfg, env))
    raise UsageError(f"{ref} is not a cluster target (cluster kinds: aurora, localpg)")


def open_restorable(cfg: Config, env: EnvConfig, text: str) -> Any:
    """A target's restore-test operations (see ops.drills.restore.Restorable)."""
    ref = parse_target(text)
    if ref.kind == "dynamodb":
        from ops.aws import Aws
        from ops.targets.dynamodb import DynamoTarget

        return DynamoTarget(ref, Aws.for_env(cfg, env))
    cluster = open_cluster(cfg, env, text)
    if ref.kind == "localpg":
        from ops.targets.localpg import LocalPgRestore

        return LocalPgRestore(cluster)
    from ops.targets.aurora import AuroraRestore

    return AuroraRestore(cluster)
