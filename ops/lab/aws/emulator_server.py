"""The lab's AWS emulator process: moto's server with the lab's API additions."""

from __future__ import annotations

import signal
import sys

from ops.lab.aws import emulator_ext


def main(argv: list[str] | None = None) -> None:
    emulator_ext.install()
    from moto.server import main as moto_main

    def stop(signum, frame):  # type: ignore[no-untyped-def]
        # The servers behind the lab's Aurora clusters stop with the emulator.
        from ops.lab.aws import aurora_servers

        lab_dir = aurora_servers.lab_dir()
        if lab_dir is not None:
            aurora_servers.stop_all(lab_dir)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
