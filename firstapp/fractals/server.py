"""Serving the Fractals app with waitress: in the foreground or in a thread."""

from __future__ import annotations

import signal
import sys
import threading

from waitress import create_server, wasyncore

from firstapp.fractals.api import close_app, create_app
from firstapp.fractals.db import shown_url
from firstapp.fractals.defaults import DEFAULT_WORKERS
from firstapp.fractals.process import check_port_free, endpoint_url
from firstapp.net import LOOPBACK

#: Request threads of the web server.
HTTP_THREADS = 8
STOP_TIMEOUT = 10.0


class ThreadedServer:
    """The app served by waitress in a background thread of this process."""

    def __init__(self, db_url: str, host: str = LOOPBACK, port: int = 0,
                 workers: int = DEFAULT_WORKERS) -> None:
        if port:
            check_port_free(host, port)
        self.app = create_app(db_url, workers=workers)
        self._server = create_server(
            self.app, host=host, port=port, threads=HTTP_THREADS, ident="fractals"
        )
        self.endpoint = endpoint_url(host, self._server.effective_port)
        self._thread = threading.Thread(target=self._server.run, name="fractals-http",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, then stop the render threads and close the database."""
        # Closing every socket from inside the server's own loop lets run() return.
        self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._server._map))
        self._thread.join(timeout=STOP_TIMEOUT)
        self._server.task_dispatcher.shutdown()
        close_app(self.app)


def serve_forever(db_url: str, host: str, port: int, workers: int) -> None:
    """Serve in the foreground until interrupted or sent SIGTERM."""
    check_port_free(host, port)
    app = create_app(db_url, workers=workers)
    server = create_server(app, host=host, port=port, threads=HTTP_THREADS, ident="fractals")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Fractals app: {endpoint_url(host, port)} (database {shown_url(db_url)}, "
          f"{workers} render worker{'s' if workers != 1 else ''})", flush=True)
    try:
        server.run()
    finally:
        close_app(app)


