"""What every command gets: the config (loaded on first use) and output helpers."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ops import config as config_mod


@dataclass
class AppContext:
    config_path: Path | None = None
    debug: bool = False
    _config: config_mod.Config | None = field(default=None, repr=False)

    @property
    def config(self) -> config_mod.Config:
        if self._config is None:
            self._config = config_mod.load(self.config_path)
        return self._config


def app(ctx: click.Context | None = None) -> AppContext:
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, AppContext):
        root.obj = AppContext()
    return root.obj


def emit(data: Any, as_json: bool, human: str) -> None:
    """--json: data on stdout, human text on stderr. Otherwise human text on stdout."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        if human:
            click.echo(human, err=True)
    else:
        click.echo(human)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
