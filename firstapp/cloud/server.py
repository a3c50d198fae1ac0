"""The local cloud's server process: Swift's proxy, account, container and object servers,
eventlet WSGI servers as in Swift's own in-process test cluster, in one process or more.

Started by ``firstapp cloud start`` as ``python -m firstapp.cloud.server DATA_DIR PORT
WORKERS``. This process opens every listening socket (127.0.0.1 only), writes Swift's
configuration for their ports and serves all four servers. With WORKERS above 1 it then
starts WORKERS - 1 more processes (:mod:`firstapp.cloud.workers`) that inherit the
sockets and serve the same servers: the kernel hands each new connection to whichever
process accepts it first, so every core takes a share. It monkey-patches the
interpreter, so it always runs as a process of its own.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PORT_TAKEN = 98  # exit status when the proxy port is already in use (errno EADDRINUSE)
SETTLE_DELAY = 3.0  # s after start before the updaters begin: leave the CPU to the first requests
WORKER_MODULE = "firstapp.cloud.workers"
BACKLOG = 1024  # connections the kernel queues per socket (eventlet's default: 50)
WORKER_READY = b"ready\n"  # what a worker prints once it serves
WORKER_STOP_TIMEOUT = 5.0  # s a worker gets to finish after SIGTERM before it is killed


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


def prepare(layout):
    """Monkey-patch this process for Swift and set what Swift's own servers would set;
    return the cloud's settings."""
    from swift.common import utils

    utils.monkey_patch()
    utils.set_swift_dir(str(layout.etc))

    from swift.common.utils import logs

    from firstapp.cloud import config

    settings = config.load_settings(layout)
    # Swift's own servers set this global from fallocate_reserve in run_wsgi, which the
    # in-process cluster does not use; fallocate() checks it before every object write.
    utils.FALLOCATE_RESERVE, utils.FALLOCATE_IS_PERCENT = utils.config_fallocate_value(
        config.backend_reserve(settings.fallocate_reserve))
    logs.ThreadSafeSysLogHandler = _LogFileHandler
    logging.getLogger().addFilter(_quiet_missing_cache)
    logging.getLogger("keystonemiddleware._common.config").addFilter(_quiet_shared_options)
    return settings


def serve_apps(layout, sockets: dict) -> list:
    """Load each named server's WSGI app and serve it on its listening socket; return the
    green threads."""
    import eventlet
    import eventlet.wsgi
    from swift.common import utils
    from swift.common.wsgi import SwiftHttpProtocol, loadapp

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
    return threads


def listen(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (0: any free port), set up as Swift's own
    servers set theirs (``swift.common.wsgi.get_socket``)."""
    import eventlet

    from firstapp.net import LOOPBACK

    # eventlet sets SO_REUSEPORT by default, which would let a second cloud (or anything)
    # listen on the same port and take half of the requests: ask for the port alone.
    sock = eventlet.listen((LOOPBACK, port), backlog=BACKLOG, reuse_port=False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    # without it, a response body smaller than a TCP segment waits behind its headers for
    # the peer's delayed ACK: 40 ms (a GET of a 16 KiB object took 54 ms instead of 9)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def serve(layout, port: int, workers: int = 1) -> None:
    """Listen, configure Swift, serve with ``workers`` processes in all; return never."""
    settings = prepare(layout)

    import eventlet

    from firstapp.cloud import config
    from firstapp.cloud.layout import SERVICES, write_private
    from firstapp.net import LOOPBACK

    try:
        sockets = {"proxy": listen(port)}
    except OSError as exc:
        print(f"cannot listen on {LOOPBACK}:{port}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(PORT_TAKEN if exc.errno == errno.EADDRINUSE else 1) from exc
    # The backend servers take any free port; the rings are pointed at them.
    for service in SERVICES:
        sockets[service] = listen(0)
    ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
    config.write_server_configs(layout, ports, settings.fallocate_reserve,
                                settings.replicas, settings.keystone_port
                                if settings.auth == "keystone" else None)
    config.point_rings_at(layout, ports)

    children: list[subprocess.Popen] = []
    signal.signal(signal.SIGTERM, lambda *_: _exit(children, "stopped"))
    # the workers load Swift while this process does
    extra = [_start_worker(layout, sockets) for _ in range(workers - 1)]
    children.extend(extra)
    threads = serve_apps(layout, sockets)
    _wait_for_workers(extra, children)
    # the server's own record of itself: `stop` finds it by this even if cloud.pid is
    # damaged, and `start` waits for it: every process serves by now
    write_private(layout.ports_file, json.dumps(
        {**ports, "pid": os.getpid(), "worker_pids": [child.pid for child in extra]}))
    eventlet.spawn_after(SETTLE_DELAY, _start_settler, layout, children)
    eventlet.spawn(_exit_when_removed, layout, children)
    eventlet.spawn(_watch_workers, extra, children)
    for thread in threads:
        thread.wait()


def _start_worker(layout, sockets: dict) -> subprocess.Popen:
    """A worker process serving ``sockets`` (inherited: same ports, shared accepts)."""
    fds = {name: sock.fileno() for name, sock in sockets.items()}
    return subprocess.Popen(
        [sys.executable, "-m", WORKER_MODULE, str(layout.root),
         *(f"{name}={fd}" for name, fd in fds.items())],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=sys.stderr,
        pass_fds=tuple(fds.values()),
    )


def _wait_for_workers(workers: list[subprocess.Popen], children: list[subprocess.Popen],
                      timeout: float = 60.0) -> None:
    """Wait until each worker says it serves (a line on its stdout); a worker that fails
    to start stops the cloud, which ``firstapp cloud start`` then reports."""
    from eventlet import patcher

    select = patcher.original("select").select
    deadline = time.monotonic() + timeout
    for worker in workers:
        ready, _, _ = select([worker.stdout], [], [], max(0.0, deadline - time.monotonic()))
        said = os.read(worker.stdout.fileno(), 64) if ready else b""
        worker.stdout.close()
        if said != WORKER_READY:
            code = worker.poll()
            why = f"exited with status {code}" if code is not None else \
                f"did not start within {timeout:g} s"
            print(f"worker process {worker.pid} {why}", file=sys.stderr, flush=True)
            for child in children:
                child.kill()
            os._exit(1)


def _watch_workers(workers: list[subprocess.Popen], children: list[subprocess.Popen],
                   interval: float = 1.0) -> None:
    """A worker that dies takes the cloud down with it, saying so: a cloud serving with
    fewer processes than it shows would be a silent surprise."""
    import eventlet

    while True:
        for worker in workers:
            code = worker.poll()
            if code is not None:
                _exit(children, f"stopped: its worker process {worker.pid} exited with "
                                f"status {code}")
        eventlet.sleep(interval)


def _start_settler(layout, children: list[subprocess.Popen]) -> None:
    """The background updaters (:mod:`firstapp.cloud.settle`) in a child process."""
    children.append(subprocess.Popen(
        [sys.executable, "-m", "firstapp.cloud.settle", str(layout.root)],
        stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr,
    ))


def _exit(children: list[subprocess.Popen], why: str) -> None:
    """Stop the child processes (killed if they outstay WORKER_STOP_TIMEOUT), then exit.

    Runs in a signal handler too, so it waits with the unpatched ``time.sleep``."""
    from eventlet import patcher

    sleep = patcher.original("time").sleep
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + WORKER_STOP_TIMEOUT
    running = list(children)
    while running and time.monotonic() < deadline:
        sleep(0.01)
        running = [child for child in running if child.poll() is None]
    for child in running:
        child.kill()
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

    data_dir, port, *rest = argv
    serve(Layout(Path(data_dir)), int(port), int(rest[0]) if rest else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
