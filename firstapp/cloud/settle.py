"""The local cloud's background updaters: keep container listings true without `repair`.

When an object server cannot update the container's listing in time (under load, all of
the local cloud's servers share one busy process), it saves the update in its device's
``async_pending`` directory for Swift's object updater; the container updater likewise
carries each container's counts to its account. A real cluster runs both daemons all the
time. The local cloud's server starts this loop as a child process
(``python -m firstapp.cloud.settle DATA_DIR``): every few seconds it sweeps each device's
pending updates, in this process (Swift's own updater would fork a child per device), and
then the container databases. It ends when its server ends or the data directory goes.

Swift's container updater opens every container database at every sweep. Here a sweep
every 2 s would then cost more the more containers a cloud holds (a cloud with 200 used 5%
of a core doing nothing), so a database is handed to Swift's updater only when
its files changed since the updater last found it reported.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

INTERVAL = 2.0  # seconds between sweeps

#: a container database's files as a sweep saw them: (size, mtime) of the database and of
#: its ``.pending`` file (None where there is none); any write to the container changes it
FileState = tuple[tuple[int, int] | None, tuple[int, int] | None]
#: a state is only trusted once its files are this old: a write in the same tick of the
#: file system's clock as the last one, leaving the size as it was, would not change it
QUIET_NS = 1_000_000_000


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
    reported: dict[str, FileState] = {}
    objects = ObjectUpdater(readconf(str(layout.conf("object")), "object-updater"))
    containers = ContainerUpdater(readconf(str(layout.conf("container")), "container-updater"))
    while os.getppid() == server and layout.etc.is_dir():
        began = time.monotonic()
        try:
            for device in layout.device_names():
                objects.object_sweep(str(layout.devices / device))
            sweep_containers(containers, reported)
        except Exception as exc:  # a device taken away mid-sweep, say: try again next time
            print(f"settle: sweep failed: {exc!r}", file=sys.stderr, flush=True)
        time.sleep(max(0.0, interval - (time.monotonic() - began)))


def file_state(db_file: str) -> FileState:
    """The size and mtime of a container database and of its pending updates."""
    state = []
    for path in (db_file, db_file + ".pending"):
        try:
            info = os.stat(path)
        except FileNotFoundError:
            state.append(None)
        else:
            state.append((info.st_size, info.st_mtime_ns))
    return state[0], state[1]


def sweep_containers(updater: Any, reported: dict[str, FileState]) -> None:
    """One sweep of Swift's container updater (``swift.container.updater.ContainerUpdater``)
    over the databases written since it last found them reported.

    ``reported`` maps each database to its :func:`file_state` as it was before the updater
    last found it reported (or sent its report); the sweep updates it. A database whose
    report failed, or that the updater passed over (say, its account is suppressed after a
    failure), is tried again at the next sweep, as Swift's own sweep would. Reporting writes
    to the database, so a database is looked at once more after its report, and is then
    left alone until something changes it (and while its files are younger than
    ``QUIET_NS``, it is looked at every time).
    """
    from eventlet import Timeout

    seen: dict[str, FileState] = {}
    for path in updater.get_paths():
        for root, _dirs, files in os.walk(path):
            for name in files:
                if not name.endswith(".db"):
                    continue
                db_file = os.path.join(root, name)
                quiet_since = time.time_ns() - QUIET_NS
                state = file_state(db_file)
                if reported.get(db_file) == state:
                    seen[db_file] = state
                    continue
                done = updater.successes + updater.no_changes
                try:
                    updater.process_container(db_file)
                except (Exception, Timeout) as exc:  # as Swift's sweep: log it, go on
                    updater.logger.exception("Error processing container %s: %s", db_file,
                                             exc)
                if updater.successes + updater.no_changes > done and all(
                        part is None or part[1] < quiet_since for part in state):
                    seen[db_file] = state
                updater.rate_limiter.wait()
    reported.clear()
    reported.update(seen)


def main(argv: list[str]) -> None:
    from firstapp.cloud.layout import Layout

    run(Layout(Path(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
