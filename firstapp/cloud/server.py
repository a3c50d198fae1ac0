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
import signal
import subprocess
import sys
from pathlib import Path

PORT_TAKEN = 98  # exit status when the proxy port is already in use (errno EADDRINUSE)
SETTLE_DELAY = 3.0  # s after start before the updaters begin: leave the CPU to the first requests


class _LogFileHandler(logging.StreamHandler):
    """Stands in for Swift's syslog handler: a laptop has no syslog daemon to receive it,
    so log records go to stderr, which ``firstapp cloud start`` sends to ``cloud.log``."""

    def __init__(self, *args, **kwargs):
        super().__init__(sys.stderr)


def _quiet_missing_cache(record: logging.LogRecord) -> bool:
    """Tempauth issues Fernet tokens without memcached, yet logs a missing cache per request."""
    return "swift.cache could not be found in env" not in record.getMessage()


def _quiet_shared_options(record: logging.LogRecord) -> bool:
    """authtoken names each [DEFAULT] option of Swift's config (every filter gets them)."""
    return "is not known to keystonemiddleware" not in record.getMessage()


def serve(layout, port: int) -> None:
    from swift.common import utils

    utils.monkey_patch()
    utils.set_swift_dir(str(layout.etc))

    import eventlet
    import eventlet.wsgi
    from swift.common.utils import logs
    from swift.common.wsgi import SwiftHttpProtocol, loadapp

    from firstapp.cloud import config
    from firstapp.cloud.layout import SERVICES, write_private
    from firstapp.net import LOOPBACK

    settings = config.load_settings(layout)
    # Swift's own servers set this global from fallocate_reserve in run_wsgi, which the
    # in-process cluster does not use; fallocate() checks it before every object write.
    utils.FALLOCATE_RESERVE, utils.FALLOCATE_IS_PERCENT = utils.config_fallocate_value(
        config.backend_reserve(settings.fallocate_reserve))
    logs.ThreadSafeSysLogHandler = _LogFileHandler
    logging.getLogger().addFilter(_quiet_missing_cache)
    logging.getLogger("keystonemiddleware._common.config").addFilter(_quiet_shared_options)
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
    config.write_server_configs(layout, ports, settings.fallocate_reserve,
                                settings.replicas, settings.keystone_port
                                if settings.auth == "keystone" else None)
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
    # the server's own record of itself: `stop` finds it by this even if cloud.pid is damaged
    write_private(layout.ports_file, json.dumps({**ports, "pid": os.getpid()}))
    children: list[subprocess.Popen] = []
    signal.signal(signal.SIGTERM, lambda *_: _exit(children, "stopped"))
    eventlet.spawn_after(SETTLE_DELAY, _start_settler, layout, children)
    eventlet.spawn(_exit_when_removed, layout, children)
    for thread in threads:
        thread.wait()


def _start_settler(layout, children: list[subprocess.Popen]) -> None:
    """The background updaters (:mod:`firstapp.cloud.settle`) in a child process."""
    children.append(subprocess.Popen(
        [sys.executable, "-m", "firstapp.cloud.settle", str(layout.root)],
        stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr,
    ))


def _exit(children: list[subprocess.Popen], why: str) -> None:
    for child in children:
        child.terminate()
    print(f"local cloud {why}", file=sys.stderr, flush=True)
    os._exit(0)


def _exit_when_removed(layout, children: list[subprocess.Popen], interval: float = 1.0) -> None:
    """End the server once its data directory is deleted: with the pid file gone nothing
    could stop it, and it would hold its port (and answer with missing disks) forever."""
    import eventlet

    while layout.etc.is_dir():
        eventlet.sleep(interval)
    _exit(children, f"stopped: {layout.root} was deleted")


def main(argv: list[str]) -> None:
    from firstapp.cloud.layout import Layout

    data_dir, port = argv
    serve(Layout(Path(data_dir)), int(port))


if __name__ == "__main__":
    main(sys.argv[1:])
