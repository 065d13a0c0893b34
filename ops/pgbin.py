"""Where PostgreSQL's binaries are: DBOPS_PG_BIN, else Debian's versioned directories, else the PATH.

The core needs them too (pgbench for the latency drill); the lab runs its servers from the same place.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ops.errors import LabError

CANDIDATE_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


def bindir() -> Path:
    configured = os.environ.get("DBOPS_PG_BIN")
    if configured:
        if not (Path(configured) / "pg_ctl").exists():
            raise LabError(f"DBOPS_PG_BIN={configured} has no pg_ctl: point it at PostgreSQL's server binaries "
                           "(e.g. /usr/lib/postgresql/15/bin) or unset it")
        return Path(configured)
    for d in CANDIDATE_DIRS:
        if d and (Path(d) / "pg_ctl").exists():
            return Path(d)
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise LabError("PostgreSQL server binaries not found (install postgresql-15 or set DBOPS_PG_BIN)")


def available() -> bool:
    try:
        bindir()
        return True
    except LabError:
        return False
