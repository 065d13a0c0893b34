"""Does the running Python's environment hold exactly requirements.lock? Exit 0 if so, 1 naming the differences.

Used by `make install` (a venv that drifted from the lock is synced again) and by tests/unit/test_lock.py.
Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

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


def main(lock: str) -> int:
    found = differences(locked_versions(Path(lock).read_text()), installed_versions())
    for line in found:
        print(f"not as locked: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
