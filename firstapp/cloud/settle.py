"""The local cloud's background updaters: keep container listings true without `repair`.

When an object server cannot update the container's listing in time (under load, all of
the local cloud's servers share one busy process), it saves the update in its device's
``async_pending`` directory for Swift's object updater; the container updater likewise
carries each container's counts to its account. A real cluster runs both daemons all the
time. The local cloud's server starts this loop as a child process
(``python -m firstapp.cloud.settle DATA_DIR``): every few seconds it sweeps each device's
pending updates, in this process (Swift's own updater would fork a child per device), and
then the container databases. It ends when its server ends or the data directory goes.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

INTERVAL = 2.0  # seconds between sweeps


def run(layout, interval: float = INTERVAL) -> None:
    from swift.common import utils

    utils.monkey_patch()
    utils.set_swift_dir(str(layout.etc))

    import logging

    from swift.common.utils import logs, readconf
    from swift.container.updater import ContainerUpdater
    from swift.obj.updater import ObjectUpdater

    from firstapp.cloud.server import _LogFileHandler, _quiet_missing_cache

    logs.ThreadSafeSysLogHandler = _LogFileHandler
    logging.getLogger().addFilter(_quiet_missing_cache)

    server = os.getppid()
    objects = ObjectUpdater(readconf(str(layout.conf("object")), "object-updater"))
    containers = ContainerUpdater(readconf(str(layout.conf("container")), "container-updater"))
    while os.getppid() == server and layout.etc.is_dir():
        began = time.monotonic()
        try:
            for device in layout.device_names():
                objects.object_sweep(str(layout.devices / device))
            containers.run_once()
        except Exception as exc:  # a device taken away mid-sweep, say: try again next time
            print(f"settle: sweep failed: {exc!r}", file=sys.stderr, flush=True)
        time.sleep(max(0.0, interval - (time.monotonic() - began)))


def main(argv: list[str]) -> None:
    from firstapp.cloud.layout import Layout

    run(Layout(Path(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
