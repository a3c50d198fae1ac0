"""An extra worker process of the local cloud's server (:mod:`firstapp.cloud.server`).

Started by the server as ``python -m firstapp.cloud.workers DATA_DIR NAME=FD ...``: it
serves the named Swift servers on the listening sockets it inherited (file descriptors
FD), so it shares their ports with the server and the other workers. It stops on
SIGTERM, when the server that started it ends, or when the data directory is deleted.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

CHECK_INTERVAL = 1.0  # s between checks that the server still runs


def run(layout, fds: dict[str, int]) -> None:
    from firstapp.cloud.server import WORKER_READY, prepare, serve_apps

    prepare(layout)

    import eventlet
    from eventlet.green import socket

    server = os.getppid()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    sockets = {name: socket.socket(fileno=fd) for name, fd in fds.items()}
    serve_apps(layout, sockets)
    os.write(1, WORKER_READY)  # the server waits for this line, then stops reading
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    while os.getppid() == server and layout.etc.is_dir():
        eventlet.sleep(CHECK_INTERVAL)
    os._exit(0)


def main(argv: list[str]) -> None:
    from firstapp.cloud.layout import Layout

    data_dir, *pairs = argv
    fds = {name: int(fd) for name, fd in (pair.split("=", 1) for pair in pairs)}
    run(Layout(Path(data_dir)), fds)


if __name__ == "__main__":
    main(sys.argv[1:])
