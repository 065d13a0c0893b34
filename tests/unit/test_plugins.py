"""The core's seams: a plugin registers a target kind and the embedded endpoint; an absent plugin is skipped,
a broken one is not hidden."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

from ops import plugins
from ops.config import load
from ops.errors import LabError, UsageError
from ops.targets import parse_target

PLUGIN = '''
from ops.plugins import TargetKind

def register(seams):
    seams.kinds["toypg"] = TargetKind("toypg", lambda cfg, env, ref: ("opened", ref.name), lambda c: ("restorable", c),
                                      None, None, None)
    seams.embedded_endpoint = lambda lab_dir: None  # installed, not running
'''


@pytest.fixture
def plugin_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """PLUGINS replaced for one test, the seams loaded again from it and once more after it."""
    (tmp_path / "dbops_toy_plugin.py").write_text(PLUGIN)
    (tmp_path / "dbops_broken_plugin.py").write_text("import dbops_no_such_dependency  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    names: list[str] = []
    monkeypatch.setattr(plugins, "PLUGINS", names)
    monkeypatch.setattr(plugins, "_seams", None)
    yield names
    for name in ("dbops_toy_plugin", "dbops_broken_plugin"):
        sys.modules.pop(name, None)
    plugins._seams = None


def config(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "dbops.toml"
    path.write_text('[envs.lab]\nregion = "us-east-1"\nendpoint = "embedded"\nprotected = false\n')
    return load(path)


def test_a_registered_kind_is_parsed_and_opened_through_the_registry(plugin_list: list[str], tmp_path: Path) -> None:
    from ops.targets.registry import open_cluster, open_restorable

    plugin_list.append("dbops_toy_plugin")
    cfg = config(tmp_path)
    env = cfg.env("lab")
    assert parse_target("toypg:one").kind == "toypg"
    assert open_cluster(cfg, env, "toypg:one") == ("opened", "one")
    assert open_restorable(cfg, env, "toypg:one") == ("restorable", ("opened", "one"))


def test_without_the_plugin_the_kind_is_unknown(plugin_list: list[str]) -> None:
    with pytest.raises(UsageError, match="unknown target kind 'toypg'"):
        parse_target("toypg:one")
    with pytest.raises(UsageError, match="unknown target kind 'localpg'"):
        parse_target("localpg:lab-pg")  # the lab's plugin is not in this list either


def test_an_absent_plugin_package_is_skipped(plugin_list: list[str]) -> None:
    plugin_list += ["dbops_not_installed.plugin", "dbops_toy_plugin"]
    assert sorted(plugins.seams().kinds) == ["toypg"]


def test_a_plugin_whose_own_import_fails_is_not_hidden(plugin_list: list[str]) -> None:
    plugin_list.append("dbops_broken_plugin")
    with pytest.raises(ModuleNotFoundError, match="dbops_no_such_dependency"):
        plugins.seams()


def test_the_embedded_endpoint_says_whether_the_lab_is_missing_or_stopped(plugin_list: list[str], tmp_path: Path) -> None:
    cfg = config(tmp_path)
    with pytest.raises(LabError, match="which this installation does not have"):
        plugins.embedded_endpoint(cfg, cfg.env("lab"))
    plugins._seams = None
    plugin_list.append("dbops_toy_plugin")
    with pytest.raises(LabError, match="not running: run `dbops lab up`"):
        plugins.embedded_endpoint(cfg, cfg.env("lab"))
