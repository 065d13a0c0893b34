"""On-call runbooks: Jinja2 templates in runbooks/, rendered with live values of a target.

A value the template asks for that the estate cannot give is an error naming it — a
runbook never shows blank text where a number should be.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2

from ops import live
from ops.config import Config, EnvConfig
from ops.errors import UsageError
from ops.targets import parse_target

RUNBOOK_DIR = Path(__file__).resolve().parents[1] / "runbooks"
_KINDS = re.compile(r"\{#-?\s*kinds:\s*([^#]*?)\s*-?#\}")


def directory(cfg: Config) -> Path:
    own = cfg.root / "runbooks"
    return own if own.is_dir() else RUNBOOK_DIR


def available(cfg: Config) -> dict[str, list[str]]:
    """Runbook name -> the target kinds it is written for ('any' for the estate)."""
    out = {}
    for path in sorted(directory(cfg).glob("*.md.j2")):
        m = _KINDS.search(path.read_text())
        out[path.name.removesuffix(".md.j2")] = m.group(1).split() if m else ["any"]
    return out


def context(cfg: Config, env: EnvConfig, target: str | None) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "now": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "env": {"name": env.name, "protected": env.protected, "region": env.region, "account_id": env.account_id},
        "policy": vars(cfg.policy),
        "drills": live.drills(cfg, target, env),
        "budget": live.budget(cfg, env=env),
        "alarms": {
            "connections": f"dbops-{env.name}-<cluster>-connections", "backup_failed": f"dbops-{env.name}-backup-jobs-failed",
            "replica_lag": f"dbops-{env.name}-<reader>-replica-lag", "free_local_storage": f"dbops-{env.name}-<cluster>-free-local-storage",
            "weekly_drill": f"dbops-{env.name}-weekly-drill",
        },
    }
    if target:
        ref = parse_target(target)
        ctx["target"] = {"id": str(ref), "kind": ref.kind, "name": ref.name}
        confirm = f" --confirm {env.name}:{ref}" if env.protected else ""
        if ref.kind in ("aurora", "localpg"):
            values = live.cluster_values(cfg, env, ref)
            ctx["backup"] = values.pop("backup")
            ctx["cluster"] = values
            ctx["commands"] = {
                "failover": f"dbops drill failover {ref} --env {env.name}{confirm}",
                "failover_now": f"dbops failover {ref} --env {env.name}{confirm}",
                "describe": (f"aws rds describe-db-clusters --db-cluster-identifier {ref.name}" if ref.kind == "aurora"
                             else "dbops lab status"),
            }
            ctx["alarms"]["connections"] = f"dbops-{env.name}-{ref.name}-connections"
            ctx["pooling"] = live.pooling(cfg, str(ref), env)
            ctx["alarms"]["free_local_storage"] = f"dbops-{env.name}-{ref.name}-free-local-storage"
        else:
            values = live.table_values(cfg, env, ref)
            ctx["backup"] = values.pop("backup")
            ctx["table"] = values
    return ctx


def render(cfg: Config, env: EnvConfig, name: str, target: str | None) -> str:
    books = available(cfg)
    if name not in books:
        raise UsageError(f"no runbook '{name}' (runbooks: {', '.join(books)})")
    kinds = books[name]
    if target is None and kinds != ["any"]:
        target = default_target(cfg, env, kinds)
    if target is not None and kinds != ["any"] and parse_target(target).kind not in kinds:
        raise UsageError(f"runbook '{name}' is for {', '.join(kinds)} targets, not {target}")
    loader = jinja2.FileSystemLoader(str(directory(cfg)))
    jenv = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    try:
        return jenv.get_template(f"{name}.md.j2").render(**context(cfg, env, target))
    except jinja2.UndefinedError as exc:
        raise UsageError(f"runbook '{name}' asks for a value the estate does not have: {exc.message}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise UsageError(f"runbook '{name}' has a template error at line {exc.lineno}: {exc.message}") from None


def default_target(cfg: Config, env: EnvConfig, kinds: list[str]) -> str:
    from ops.estate import inventory

    for t in inventory(cfg, env):
        if t["kind"] in kinds:
            return t["id"]
    raise UsageError(f"no {' or '.join(kinds)} target in env '{env.name}': give --target KIND:NAME")


def to_text(markdown: str) -> str:
    """Plain text for a terminal: no Markdown table bars or emphasis."""
    lines = []
    for line in markdown.splitlines():
        if re.fullmatch(r"\|?[-| ]+\|?", line) and "-" in line:
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            line = "  " + "  ".join(c for c in cells if c)
        lines.append(line.replace("**", "").replace("`", ""))
    return "\n".join(lines) + "\n"
