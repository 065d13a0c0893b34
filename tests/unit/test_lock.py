"""The venv `make install` built holds exactly requirements.lock: every locked version, nothing else."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"
sys.path.insert(0, str(REPO / "scripts"))
from lockcheck import canonical, differences, locked_versions  # noqa: E402


def installed() -> list[importlib.metadata.Distribution]:
    return list(importlib.metadata.distributions())


def test_the_lock_pins_every_package_with_hashes():
    text = LOCK.read_text()
    pins = locked_versions(text)
    assert {"moto", "boto3", "botocore", "checkov", "pytest", "pip", "setuptools", "wheel"} <= set(pins)
    entries = [e for e in re.split(r"\n(?=[A-Za-z0-9])", text) if re.match(r"[A-Za-z0-9][^\s]*==", e)]
    assert len(entries) == len(pins) > 100
    unhashed = [e.split()[0] for e in entries if "--hash=sha256:" not in e]
    assert unhashed == []


def test_the_venv_holds_exactly_the_locked_versions():
    dists = installed()
    names = [canonical(d.metadata["Name"]) for d in dists]
    assert sorted({n for n in names if names.count(n) > 1}) == [], "two copies of a package: imports may take either"
    assert differences(locked_versions(LOCK.read_text()), {canonical(d.metadata["Name"]): d.version for d in dists}) == []
    # Every installed package has what it requires (a lock that lost an entry, or lags pyproject.toml).
    check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # Only dbops itself comes from a path; every other package came from the index, by hash.
    assert [canonical(d.metadata["Name"]) for d in dists if d.read_text("direct_url.json")] == ["dbops"]


def test_a_version_or_a_package_the_lock_does_not_name_is_a_difference():
    locked = locked_versions(LOCK.read_text())
    installed = {**locked, "moto": "5.0.0", "leftover-pkg": "1.0"}
    del installed["boto3"]
    assert differences(locked, installed) == [
        f"boto3: locked {locked['boto3']}, installed nothing",
        "leftover-pkg: locked nothing, installed 1.0",
        f"moto: locked {locked['moto']}, installed 5.0.0",
    ]
