"""A pipeline's runs, read back from its reports: success rate, rows, duration, the last data-quality results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ops.report import list_reports


def summarize(report_dir: Path, pipeline: str, env: str) -> dict[str, Any]:
    runs = [r for r in list_reports(report_dir, "etl") if r.get("target") == f"pipeline:{pipeline}" and r.get("env") == env]
    if not runs:
        return {"pipeline": pipeline, "runs": 0, "success_rate": None, "line": f"{pipeline}: never run in env {env}"}
    passed = sum(1 for r in runs if r["status"] == "pass")
    last = runs[-1]
    m = last.get("measurements", {})
    rows = sum(v for k, v in m.items() if k.startswith("rows.") and isinstance(v, int))
    failing = [q for q in last.get("details", {}).get("quality", []) if q.get("failing")]
    line = (f"{pipeline}: {len(runs)} run(s), {passed / len(runs):.1%} passed; last {last['status'].upper()} at "
            f"{last['started_at']}: {rows} rows in {m.get('duration_s', 'not measured')} s"
            + (f"; {len(failing)} rule(s) with failing rows" if failing else ""))
    return {"pipeline": pipeline, "runs": len(runs), "passed": passed, "success_rate": passed / len(runs),
            "last": {"id": last["id"], "status": last["status"], "started_at": last["started_at"], "rows": rows,
                     "duration_s": m.get("duration_s"), "quality": last.get("details", {}).get("quality", [])},
            "line": line}
