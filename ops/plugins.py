"""The seams of the core, and what plugins register in them.

The core knows AWS and nothing that emulates it. A plugin adds what it runs itself: target kinds
(the lab's `localpg`), the endpoint of the embedded env and the credentials its emulator takes,
and the sources the janitor and the estate read besides AWS. The core asks this module; it never
imports a plugin.

A plugin is a module named in PLUGINS with a `register(seams)` function, imported the first time a
seam is read. A plugin whose package is not there is skipped, so with `ops/lab` deleted the core
runs on AWS unchanged. The list is explicit, rather than entry points, so that a source checkout
needs no reinstall to find the lab, and removing the lab's folder is all it takes to remove it.
Registration imports no heavy code: a plugin registers functions that import their module on call.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ops.errors import LabError

if TYPE_CHECKING:
    from ops.config import Config, EnvConfig

PLUGINS = ("ops.lab.plugin",)


@dataclass(frozen=True)
class TargetKind:
    """A target kind a plugin adds: how to open it, and what the core's commands need of it."""

    name: str
    # The ref each takes is an ops.targets.TargetRef (typed Any: ops.targets reads this module for its kinds).
    # (cfg, env, ref) -> the cluster target; raises UsageError when it does not exist or the env cannot have it.
    open_cluster: Callable[["Config", "EnvConfig", Any], Any]
    # the opened cluster -> its restore-test operations (see ops.drills.restore.Restorable).
    open_restorable: Callable[[Any], Any]
    # (cfg, env, ref) -> the backup state its registered checks judge (see ops.checks.backups).
    backup_state: Callable[["Config", "EnvConfig", Any], dict[str, Any]]
    # (cfg, source name, restore name, drill id) -> one deletion step of a drill's restore; True once seen gone.
    delete_restore: Callable[["Config", str, str, str], bool]
    # the opened cluster -> values runbooks and `dbops status` show besides the control plane's.
    live_values: Callable[[Any], dict[str, Any]]


# (cfg, env, include_unexpired, now, recorded drill ids) -> leftovers (ops.janitor.Leftover) the plugin's things hold.
JanitorSource = Callable[["Config", "EnvConfig", bool, datetime, set[str]], list[Any]]
# (cfg, env) -> estate entries (id, kind, name, source, ...) of what the plugin runs.
EstateSource = Callable[["Config", "EnvConfig"], list[dict[str, Any]]]


@dataclass
class Seams:
    kinds: dict[str, TargetKind] = field(default_factory=dict)
    # lab dir -> the embedded env's endpoint URL, or None when it is not running.
    embedded_endpoint: Callable[[Path], str | None] | None = None
    # endpoint URL -> boto3 session credentials for it, or None for the standard credential chain.
    credentials: list[Callable[[str | None], dict[str, str] | None]] = field(default_factory=list)
    janitor_sources: list[tuple[str, JanitorSource]] = field(default_factory=list)
    estate_sources: list[EstateSource] = field(default_factory=list)


_seams: Seams | None = None
_lock = threading.Lock()


def seams() -> Seams:
    """Every plugin's registrations, loaded once."""
    global _seams
    with _lock:
        if _seams is None:
            loaded = Seams()
            for name in PLUGINS:
                module = _import_plugin(name)
                if module is not None:
                    module.register(loaded)
            _seams = loaded
        return _seams


def _import_plugin(name: str) -> Any:
    """The plugin's module, or None when its package is absent; a plugin that is there but broken raises."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise


def target_kind(name: str) -> TargetKind | None:
    return seams().kinds.get(name)


def embedded_endpoint(cfg: "Config", env: "EnvConfig") -> str:
    """The embedded env's endpoint, from the plugin that provides it; one line when none does or it is not running."""
    provider = seams().embedded_endpoint
    if provider is None:
        raise LabError(f"env '{env.name}' uses the embedded lab, which this installation does not have (no ops.lab)")
    url = provider(cfg.lab_dir)
    if url is None:
        raise LabError(f"env '{env.name}' uses the embedded lab, which is not running: run `dbops lab up`")
    return url


def embedded_running(cfg: "Config") -> bool:
    provider = seams().embedded_endpoint
    return provider is not None and provider(cfg.lab_dir) is not None


def credentials_for(url: str | None) -> dict[str, str] | None:
    """Credentials a plugin's endpoint takes (an emulator's), else None: the standard chain."""
    for provider in seams().credentials:
        found = provider(url)
        if found is not None:
            return found
    return None
