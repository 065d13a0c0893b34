"""The estate inventory: the env's Terraform output `dbops_targets` plus what plugins run (the lab's lab-pg)."""

from __future__ import annotations

from typing import Any

from ops.config import Config, EnvConfig
from ops.errors import TerraformError
from ops.plugins import seams
from ops.targets import parse_target


def inventory(cfg: Config, env: EnvConfig) -> list[dict[str, Any]]:
    """One entry per target: id, kind, name, source, and what the outputs say of it."""
    from ops.terraform.envs import engine_for_env

    targets: list[dict[str, Any]] = []
    outputs = engine_for_env(cfg, env).output()
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
