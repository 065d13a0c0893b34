"""What the embedded lab adds to the core, registered in its seams (ops.plugins).

The `localpg` target kind (the lab's local PostgreSQL cluster), the embedded env's endpoint (the
running emulator), the credentials the emulator takes, the janitor's lab sources (local restores,
stale drill rows and workload roles in lab-pg) and the estate's (lab-pg). Each function imports its
lab module when it is called: registering loads nothing.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ops.config import Config, EnvConfig
from ops.errors import UsageError
from ops.plugins import Seams, TargetKind
from ops.targets import TargetRef

# The emulator accepts any credentials; these never reach AWS.
EMULATOR_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


def register(seams: Seams) -> None:
    seams.kinds["localpg"] = TargetKind("localpg", open_cluster, open_restorable, backup_state, delete_restore, live_values)
    seams.embedded_endpoint = embedded_endpoint
    seams.credentials.append(emulator_credentials)
    seams.janitor_sources += [("lab-pg restores", _leftovers("local_restores")), ("lab-pg drill rows", _leftovers("drill_rows")),
                              ("lab-pg workload roles", _leftovers("workload_roles"))]
    seams.estate_sources.append(estate)


def _leftovers(name: str) -> Any:
    """A janitor source of ops.lab.pg.leftovers, imported when the janitor runs."""

    def source(cfg: Config, env: EnvConfig, include_unexpired: bool, now: datetime, recorded: set[str]) -> list[Any]:
        from ops.lab.pg import leftovers

        return getattr(leftovers, name)(cfg, env, include_unexpired, now, recorded)

    return source


def embedded_endpoint(lab_dir: Path) -> str | None:
    from ops.lab.aws import emulator

    return emulator.endpoint(lab_dir)


def emulator_credentials(url: str | None) -> dict[str, str] | None:
    """An endpoint on loopback is the lab's emulator (or one like it): it takes the emulator's credentials."""
    if url is not None and urlparse(url).hostname in LOOPBACK_HOSTS:
        return dict(EMULATOR_CREDENTIALS)
    return None


def open_cluster(cfg: Config, env: EnvConfig, ref: TargetRef) -> Any:
    if not env.is_embedded:
        raise UsageError(f"localpg targets live in the embedded lab; env '{env.name}' is not the lab")
    from ops.lab.pg.localpg import LocalPgTarget

    return LocalPgTarget(ref, cfg.lab_dir)


def open_restorable(cluster: Any) -> Any:
    from ops.lab.pg.localpg import LocalPgRestore

    return LocalPgRestore(cluster)


def backup_state(cfg: Config, env: EnvConfig, ref: TargetRef) -> dict[str, Any]:
    from ops.lab.pg import pgcluster, pgcollect

    cluster = pgcluster.get(cfg.lab_dir)
    if not env.is_embedded or cluster is None or ref.name != pgcluster.NAME:
        raise UsageError(f"no local PostgreSQL cluster '{ref.name}' (run `dbops lab up`)")
    return pgcollect.collect(cluster)


def delete_restore(cfg: Config, source: str, name: str, drill_id: str) -> bool:
    from ops.lab.pg import pgcluster, pgrestore

    cluster = pgcluster.get(cfg.lab_dir)
    if cluster is None:
        return True
    path = pgrestore.restores_dir(cluster) / drill_id
    pgrestore.delete(path)
    return not path.exists()


def live_values(target: Any) -> dict[str, Any]:
    from ops.lab.pg.localpg import live_values as values

    return values(target)


def estate(cfg: Config, env: EnvConfig) -> list[dict[str, Any]]:
    if not env.is_embedded:
        return []
    from ops.lab.pg import pgcluster

    cluster = pgcluster.get(cfg.lab_dir)
    if cluster is None:
        return []
    return [{
        "id": f"localpg:{pgcluster.NAME}", "kind": "localpg", "name": pgcluster.NAME, "source": "lab",
        "state": pgcluster.status(cfg.lab_dir)["state"],
        "writer": cluster.entry["writer"], "members": [m.name for m in cluster.members],
        "writer_port": cluster.writer_port(),
    }]
