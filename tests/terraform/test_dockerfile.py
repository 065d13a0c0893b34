"""The runner image's Dockerfile: checkov's dockerfile checks pass (as `make lint` runs them), and what the
drill-runner module relies on holds. The image is never built here: no registry, no network."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import hcl2
from dockerfile_parse import DockerfileParser

from ops.terraform import lint
from tests.conftest import REPO
from tests.terraform.conftest import TF

DOCKERFILE = REPO / "Dockerfile"


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    parser = DockerfileParser(path=str(path))
    return [(i["instruction"], i["value"]) for i in parser.structure]


def test_checkov_dockerfile_checks_pass_and_every_skip_has_a_reason() -> None:
    result = lint.checkov(DOCKERFILE, "dockerfile")
    assert result.failed == [], [f["check_id"] for f in result.failed]
    assert result.skips_without_reason == []
    assert {"CKV_DOCKER_3", "CKV_DOCKER_7", "CKV_DOCKER_8"} <= result.passed_ids  # a USER, no :latest base, not root


def test_checkov_fails_a_root_image_on_a_moving_tag(tmp_path: Path) -> None:
    """Negative control: the same gate fails what the Dockerfile must not be."""
    bad = tmp_path / "Dockerfile"
    bad.write_text('FROM python:latest\nRUN pip install dbops\nUSER root\nENTRYPOINT ["dbops"]\n')
    failed = {f["check_id"] for f in lint.checkov(bad, "dockerfile").failed}
    assert {"CKV_DOCKER_7", "CKV_DOCKER_8"} <= failed  # the latest tag, the root user
    assert lint.main([str(bad)]) == 1


def test_base_is_pinned_by_digest() -> None:
    bases = [value for name, value in instructions() if name == "FROM"]
    assert len(bases) == 1
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", bases[0]), bases[0]


def test_runs_as_a_non_root_user_the_module_names() -> None:
    users = [value for name, value in instructions() if name == "USER"]
    assert users, "no USER: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000
    with (TF / "modules" / "drill-runner" / "main.tf").open() as f:
        module_user = hcl2.load(f)["locals"][0]["image_user"]
    assert module_user in (users[-1], [users[-1]])  # the task definition runs as the same user


def test_no_build_time_secret() -> None:
    found = instructions()
    assert [value for name, value in found if name == "ARG"] == []  # nothing passed in at build time
    assert not any("--mount=type=secret" in value for name, value in found if name == "RUN")
    env_names = [part.split("=", 1)[0] for name, value in found if name == "ENV" for part in value.split()]
    assert not [n for n in env_names if re.search(r"SECRET|PASSWORD|TOKEN|KEY|CREDENTIAL", n, re.I)]
    copied = [value.split()[0] for name, value in found if name in ("COPY", "ADD")]
    assert not [c for c in copied if c.startswith(".") or c.endswith((".pem", ".tfstate", "secrets.json"))]
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert {".lab", ".venv", "**/*.tfstate", "**/.terraform"} <= set(ignored)  # the lab's secrets and state stay out


def test_installs_exactly_the_lock_by_hash() -> None:
    runs = " ".join(value for name, value in instructions() if name == "RUN")
    assert "--require-hashes --no-deps --no-build-isolation -r requirements.lock" in runs
    assert "pip check" in runs
    assert "requirements.lock" in " ".join(value for name, value in instructions() if name == "COPY")
    assert "LOCK := requirements.lock" in (REPO / "Makefile").read_text()  # the lock the Makefile uses


def test_entrypoint_is_the_weekly_drill() -> None:
    (entrypoint,) = [json.loads(value) for name, value in instructions() if name == "ENTRYPOINT"]
    assert entrypoint == ["/app/scripts/drill-weekly"]
    script = REPO / "scripts" / "drill-weekly"
    assert script.stat().st_mode & stat.S_IXUSR
    workdir = [value for name, value in instructions() if name == "WORKDIR"][-1]
    assert workdir == "/app"  # drill-weekly finds .venv/bin/dbops from its own directory's parent


def test_make_lint_scans_the_dockerfile() -> None:
    lint_target = (REPO / "Makefile").read_text().split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ops.terraform.lint terraform Dockerfile" in lint_target
