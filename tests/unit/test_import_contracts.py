"""The import contracts `make lint` checks (.importlinter): they hold for ops, and they fail on a copy of ops
with one import that breaks them. The copies live in a temp dir; the work tree is never changed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"

# Strongly connected groups of ops' import graph (every import, a function's own included): a group of
# more than one module is a cycle.
CYCLES = """
import json, sys
import grimp

graph = grimp.build_graph("ops", cache_dir=None)
index, low, stack, on, groups = {}, {}, [], set(), []
sys.setrecursionlimit(10_000)

def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v); on.add(v)
    for w in graph.find_modules_directly_imported_by(v):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        group = []
        while True:
            w = stack.pop(); on.discard(w); group.append(w)
            if w == v:
                break
        if len(group) > 1:
            groups.append(sorted(group))

for m in sorted(graph.modules):
    if m not in index:
        visit(m)
print(json.dumps({"modules": len(graph.modules), "cycles": groups}))
"""


def copy_of_ops(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "ops", tmp_path / "ops", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def add_import(root: Path, module: str, line: str) -> None:
    path = root / (module.replace(".", "/") + ".py")
    before = path.read_text() if path.exists() else '"""A module the contracts have never seen."""\n'
    path.write_text(before + f"\n\ndef _added():\n    {line}\n")


def lint(root: Path) -> subprocess.CompletedProcess:
    # ops is looked up on PYTHONPATH first: the copy, not the editable install of the work tree.
    return subprocess.run([str(LINT), "--no-logo", "--no-cache", ".importlinter"], cwd=root, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(root)})


def cycles(root: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CYCLES], cwd=root, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_import_contracts_hold_for_ops() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_the_copy_is_what_lint_reads(tmp_path: Path) -> None:
    """The negative tests below prove something only if the linted package is the copy: an unchanged copy passes."""
    result = lint(copy_of_ops(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module", ["ops.estate", "ops.drills.failover", "ops.targets.registry", "ops.brand_new"])
def test_an_import_of_the_lab_outside_it_fails_the_lint(tmp_path: Path, module: str) -> None:
    root = copy_of_ops(tmp_path)
    add_import(root, module, "from ops.lab.pg import pgcluster  # noqa: F401")
    result = lint(root)
    assert result.returncode == 1, result.stdout
    assert "The lab is a plugin" in result.stdout and "BROKEN" in result.stdout
    assert f"{module} -> ops.lab.pg.pgcluster" in result.stdout


def test_an_import_up_the_layers_fails_the_lint(tmp_path: Path) -> None:
    root = copy_of_ops(tmp_path)
    add_import(root, "ops.aws", "from ops.drills import common  # noqa: F401")
    result = lint(root)
    assert result.returncode == 1, result.stdout
    assert "Layers: a module imports only from the layers below its own BROKEN" in result.stdout
    assert "ops.aws -> ops.drills.common" in result.stdout


def test_an_import_of_the_labs_aws_side_from_its_postgresql_side_fails_the_lint(tmp_path: Path) -> None:
    root = copy_of_ops(tmp_path)
    add_import(root, "ops.lab.pg.pooler", "from ops.lab.aws import settings  # noqa: F401")
    result = lint(root)
    assert result.returncode == 1, result.stdout
    assert "The lab's PostgreSQL side builds nothing on its AWS side" in result.stdout and "BROKEN" in result.stdout
    assert "ops.lab.pg.pooler -> ops.lab.aws.settings" in result.stdout


def test_ops_has_no_import_cycle() -> None:
    found = cycles(ROOT)
    assert found["modules"] > 100  # the whole package was read
    assert found["cycles"] == []


def test_a_cycle_is_found_and_fails_the_lint(tmp_path: Path) -> None:
    root = copy_of_ops(tmp_path)
    add_import(root, "ops.lab.aws.ddb_pitr", "from ops.lab.aws import ddb_heartbeat  # noqa: F401")
    assert cycles(root)["cycles"] == [["ops.lab.aws.ddb_heartbeat", "ops.lab.aws.ddb_pitr"]]
    result = lint(root)
    assert result.returncode == 1, result.stdout
    assert "No import cycles" in result.stdout and "BROKEN" in result.stdout
