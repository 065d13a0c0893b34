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


def installed_versions() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}


def test_the_lock_pins_every_package_with_hashes():
    text = LOCK.read_text()
    pins = locked_versions(text)
    assert {"moto", "boto3", "botocore", "checkov", "pytest", "pip", "setuptools"} <= set(pins)
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n\n", 1)[-1])
    unhashed = [e.split()[0] for e in entries if "==" in e and "--hash=sha256:" not in e]
    assert unhashed == []


def test_the_venv_holds_exactly_the_locked_versions():
    assert differences(locked_versions(LOCK.read_text()), installed_versions()) == []


def test_a_version_or_a_package_the_lock_does_not_name_is_a_difference():
    locked = locked_versions(LOCK.read_text())
    installed = {**locked, "moto": "5.0.0", "leftover-pkg": "1.0"}
    del installed["boto3"]
    assert differences(locked, installed) == [
        f"boto3: locked {locked['boto3']}, installed nothing",
        "leftover-pkg: locked nothing, installed 1.0",
        f"moto: locked {locked['moto']}, installed 5.0.0",
    ]
