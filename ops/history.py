"""What earlier drills and checks concluded, read back from the report directory."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ops.config import EnvConfig
from ops.report import list_reports


def age_text(iso: str, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    seconds = (now - datetime.fromisoformat(iso.replace("Z", "+00:00"))).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit} ago"
    return f"{seconds:.0f} s ago"


def of_env(report: dict[str, Any], env: EnvConfig | None) -> bool:
    """A report of this env (and account, when both name one): a report directory may hold several envs'."""
    if env is None:
        return True
    account = report.get("account")
    return report.get("env") == env.name and (env.account_id is None or account is None or account == env.account_id)


def last(report_dir: Path, kind: str, target: str | None = None,
         where: Callable[[dict[str, Any]], bool] | None = None, env: EnvConfig | None = None) -> dict[str, Any] | None:
    """The newest report of a kind (for a target, when given; of an env, when given; matching `where`, when given)."""
    found = [r for r in list_reports(report_dir, kind) if (target is None or r["target"] == target or target in r["target"].split(","))
             and of_env(r, env) and (where is None or where(r))]
    return found[-1] if found else None


def verdict(report_dir: Path, kind: str, target: str | None = None,
            where: Callable[[dict[str, Any]], bool] | None = None, env: EnvConfig | None = None) -> dict[str, Any]:
    """verdict/age/summary/measurements of the newest report (of the env and matching `where`, when given), or 'never run'."""
    r = last(report_dir, kind, target, where, env)
    if r is None:
        return {"verdict": "never run", "age": "-", "summary": "no report", "measurements": {}, "started_at": None}
    return {"verdict": r["status"].upper(), "age": age_text(r["started_at"]), "summary": r.get("summary", ""),
            "measurements": r.get("measurements", {}), "started_at": r["started_at"]}
