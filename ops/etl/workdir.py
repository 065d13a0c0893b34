"""A run's local work directory (its spool, the previous batch read back, DuckDB's spill): where it lives and who
owns it, so that `dbops janitor` can tell the directory of a killed run from a running one's.

Each directory is `TMPDIR/dbops-etl-XXXXXXXX/` and holds `owner.json`, the owner id (host:pid:start, ops.proc)
of the run that made it, written before anything else goes in. A directory whose owner process is gone from this
host is a dead run's; one without owner.json, or owned on another host, is never taken for one.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ops.proc import owner_alive, owner_id

PREFIX = "dbops-etl-run-"
OWNER_FILE = "owner.json"


def make(root: Path | None = None) -> Path:
    path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
    (path / OWNER_FILE).write_text(json.dumps({"owner": owner_id()}))
    return path


@dataclass(frozen=True)
class DeadDir:
    path: Path
    owner: str


def dead(root: Path | None = None) -> list[DeadDir]:
    """The work directories under root (the temporary directory) whose owner process is gone from this host."""
    base = root or Path(tempfile.gettempdir())
    out = []
    for path in sorted(base.glob(f"{PREFIX}*")):
        try:
            owner = json.loads((path / OWNER_FILE).read_text()).get("owner")
        except (OSError, ValueError, AttributeError):
            continue  # being made, or not a run's: it cannot be told dead
        if isinstance(owner, str) and owner_alive(owner) is False:
            out.append(DeadDir(path, owner))
    return out


def remove(path: Path) -> bool:
    shutil.rmtree(path, ignore_errors=True)
    return not path.exists()
