"""The local cloud's server process: proxy, account, container and object servers in one
eventlet process, the way Swift's own in-process test cluster runs.

Started by ``firstapp cloud start`` as ``python -m firstapp.cloud.server DATA_DIR PORT``.
It monkey-patches the interpreter, so it always runs as a process of its own.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
from pathlib import Path

PORT_TAKEN = 98  # exit status when the proxy port is already in use (errno EADDRINUSE)


class _LogFileHandler(logging.StreamHandler):
    """Stands in for Swift's syslog handler: a laptop has no syslog daemon to receive it,
    so log records go to stderr, which ``firstapp cloud start`` sends to ``cloud.log``."""

    def __init__(self, *args, **kwargs):
        super().__init__(sys.stderr)


def _quiet_missing_cache(record: logging.LogRecord) -> bool:
    """Tempauth issues Fernet tokens without memcached, yet logs a missing cache per request."""
    return "swift.cache could not be found in env" not in record.getMessage()


def serve(layout, port: int) -> None:
    from swift.common import utils

    utils.monkey_patch()
    utils.set_swift_dir(str(layout.etc))

    import eventlet
    import eventlet.wsgi
    from swift.common.utils import logs
    from swift.common.wsgi import SwiftHttpProtocol, loadapp

    from firstapp.cloud import config
    from firstapp.cloud.layout import SERVICES
    from firstapp.net import LOOPBACK

    logs.ThreadSafeSysLogHandler = _LogFileHandler
    logging.getLogger().addFilter(_quiet_missing_cache)
    # eventlet sets SO_REUSEPORT by default, which would let a second cloud (or anything)
    # listen on the same port and take half of the requests: ask for the port alone.
    try:
        sockets = {"proxy": eventlet.listen((LOOPBACK, port), reuse_port=False)}
    except OSError as exc:
        print(f"cannot listen on {LOOPBACK}:{port}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(PORT_TAKEN if exc.errno == errno.EADDRINUSE else 1) from exc
    # The backend servers take any free port; the rings are pointed at them.
    for service in SERVICES:
        sockets[service] = eventlet.listen((LOOPBACK, 0), reuse_port=False)
    ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
    config.write_server_configs(layout, ports)
    config.point_rings_at(layout, ports)

    threads = []
    for name, sock in sockets.items():
        app = loadapp(str(layout.conf(name)), global_conf={"log_name": f"{name}-server"})
        threads.append(
            eventlet.spawn(
                eventlet.wsgi.server, sock, app, utils.NullLogger(),
                protocol=SwiftHttpProtocol, capitalize_response_headers=False,
                socket_timeout=60, custom_pool=eventlet.GreenPool(1024),
            )
        )
    layout.ports_file.write_text(json.dumps(ports))
    eventlet.spawn(_exit_when_removed, layout)
    for thread in threads:
        thread.wait()


def _exit_when_removed(layout, interval: float = 1.0) -> None:
    """End the server once its data directory is deleted: with the pid file gone nothing
    could stop it, and it would hold its port (and answer with missing disks) forever."""
    import eventlet

    while layout.settings_file.exists():
        eventlet.sleep(interval)
    print(f"{layout.root} was deleted: stopping", file=sys.stderr, flush=True)
    os._exit(0)


def main(argv: list[str]) -> None:
    from firstapp.cloud.layout import Layout

    data_dir, port = argv
    serve(Layout(Path(data_dir)), int(port))


if __name__ == "__main__":
    main(sys.argv[1:])
