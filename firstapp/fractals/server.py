"""Serving the Fractals app with waitress: in the foreground or in a thread.

Both ways use the same waitress settings (:func:`server_options`), so slow, silent or
half-open clients cannot take the app down: each connection is closed after
:data:`CHANNEL_TIMEOUT` seconds without activity, the server holds up to
:func:`connection_limit` connections at once (waitress' default is 100, which a hundred
idle sockets used up), and requests are small.
"""

from __future__ import annotations

import contextlib
import resource
import signal
import sys
import threading
from typing import Any

from waitress import create_server, wasyncore

from firstapp.fractals.api import MAX_REQUEST_BODY, close_app, create_app
from firstapp.fractals.db import shown_url
from firstapp.fractals.defaults import DEFAULT_WORKERS
from firstapp.fractals.imagestore import DATABASE, DEFAULT_STORE_TIMEOUT
from firstapp.fractals.process import check_port_free, endpoint_url
from firstapp.net import LOOPBACK

#: Request threads of the web server.
HTTP_THREADS = 8
STOP_TIMEOUT = 10.0
#: Seconds a connection may stay silent (no request, or a request never finished) before
#: the server closes it.
CHANNEL_TIMEOUT = 30
#: How often, in seconds, the server looks for such connections.
CLEANUP_INTERVAL = 5
#: Most connections held at once, when the open-files limit allows it.
MAX_CONNECTIONS = 1000
#: Open files kept for everything but connections (database, logs, render threads).
RESERVED_FILES = 64
#: File descriptors one connection may use: its socket, and a spill file for a large image.
FILES_PER_CONNECTION = 2
#: Largest request head (request line and headers).
MAX_REQUEST_HEADERS = 64 * 1024
#: The open-files limit a foreground server raises its own soft limit to, when allowed.
WANTED_OPEN_FILES = 4096


def connection_limit() -> int:
    """How many connections the server holds at once: :data:`MAX_CONNECTIONS`, or fewer
    when this process's open-files limit (``ulimit -n``) could not serve that many."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, (soft - RESERVED_FILES) // FILES_PER_CONNECTION))


def raise_open_files_limit() -> None:
    """Raise this process's soft open-files limit towards :data:`WANTED_OPEN_FILES`
    (never above the hard limit), so the server can hold :data:`MAX_CONNECTIONS`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= WANTED_OPEN_FILES:
        return
    wanted = WANTED_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, WANTED_OPEN_FILES)
    # When refused, the limit stays as it is and connection_limit() follows it.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def server_options() -> dict[str, Any]:
    """waitress' settings for the app (its public adjustments)."""
    return {
        "threads": HTTP_THREADS,
        "ident": "fractals",
        "connection_limit": connection_limit(),
        "channel_timeout": CHANNEL_TIMEOUT,
        "cleanup_interval": CLEANUP_INTERVAL,
        # select() cannot watch descriptors numbered 1024 or more; poll() can.
        "asyncore_use_poll": True,
        "max_request_header_size": MAX_REQUEST_HEADERS,
        "max_request_body_size": MAX_REQUEST_BODY,
    }


class ThreadedServer:
    """The app served by waitress in a background thread of this process."""

    def __init__(self, db_url: str, host: str = LOOPBACK, port: int = 0,
                 workers: int = DEFAULT_WORKERS, *, image_store: str = DATABASE,
                 store_timeout: float = DEFAULT_STORE_TIMEOUT,
                 conn_factory: Any = None) -> None:
        if port:
            check_port_free(host, port)
        self.app = create_app(db_url, workers=workers, image_store=image_store,
                              store_timeout=store_timeout, conn_factory=conn_factory)
        self._server = create_server(self.app, host=host, port=port, **server_options())
        self.endpoint = endpoint_url(host, self._server.effective_port)
        self._thread = threading.Thread(target=self._server.run, name="fractals-http",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, then stop the render threads and close the database."""
        # Closing every socket from inside the server's own loop lets run() return.
        try:
            self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._server._map))
        except OSError:  # the loop's wake-up pipe is closed already: close them from here
            wasyncore.close_all(self._server._map)
        self._thread.join(timeout=STOP_TIMEOUT)
        self._server.task_dispatcher.shutdown()
        close_app(self.app)


def serve_forever(db_url: str, host: str, port: int, workers: int, *,
                  image_store: str = DATABASE,
                  store_timeout: float = DEFAULT_STORE_TIMEOUT) -> None:
    """Serve in the foreground until interrupted or sent SIGTERM."""
    check_port_free(host, port)
    app = create_app(db_url, workers=workers, image_store=image_store,
                     store_timeout=store_timeout)
    raise_open_files_limit()
    options = server_options()
    server = create_server(app, host=host, port=port, **options)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    where = "" if image_store == DATABASE else f", images in {image_store}"
    print(f"Fractals app: {endpoint_url(host, port)} (database {shown_url(db_url)}{where}, "
          f"{workers} render worker{'s' if workers != 1 else ''}, at most "
          f"{options['connection_limit']} connections)", flush=True)
    try:
        server.run()
    finally:
        close_app(app)
