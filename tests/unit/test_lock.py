"""The venv `make install` built holds exactly requirements.lock: every locked version, nothing else."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"
# dbops itself is installed editable from the work tree, not from the lock.
NOT_LOCKED = {"dbops"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line)
        if match:
            pins[canonical(match[1])] = match[2]
    return pins


def differences(locked: dict[str, str], installed: dict[str, str]) -> list[str]:
    found = []
    for name in sorted(set(locked) | set(installed)):
        if name in NOT_LOCKED:
            continue
        want, have = locked.get(name), installed.get(name)
        if want != have:
            found.append(f"{name}: locked {want or 'nothing'}, installed {have or 'nothing'}")
    return found


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
