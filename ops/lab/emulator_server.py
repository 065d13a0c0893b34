"""The lab's AWS emulator process: moto's server with the lab's API additions."""

from __future__ import annotations

import sys

from ops.lab import emulator_ext


def main(argv: list[str] | None = None) -> None:
    emulator_ext.install()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
