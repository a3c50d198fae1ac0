"""The Fractals app as a background process: start it, find it, stop it.

The process gets its database through the environment (:data:`DB_ENV`), never on its
command line, which every user of the machine can read (``ps``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from firstapp.errors import FirstappError
from firstapp.fractals.db import shown_url, sqlite_path
from firstapp.fractals.defaults import DB_ENV
from firstapp.net import port_in_use, wait_until
from firstapp.paths import default_data_dir

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def endpoint_url(host: str, port: int) -> str:
    """The base URL of an app listening on ``host:port``."""
    return f"http://{host}:{port}"


def is_fractals_app(endpoint: str, timeout: float = 1.0) -> bool:
    """True when ``endpoint`` answers ``GET /v1/fractal`` like the Fractals app."""
    try:
        response = requests.get(f"{endpoint}/v1/fractal", timeout=timeout)
        return response.status_code == 200 and "num_results" in response.json()
    except (requests.RequestException, ValueError):
        return False


def check_port_free(host: str, port: int) -> None:
    """Raise a FirstappError naming the port (and what holds it) when it is taken."""
    if not port_in_use(port, host):
        return
    endpoint = endpoint_url(host, port)
    if is_fractals_app(endpoint):
        raise FirstappError(
            f"the Fractals app is already running at {endpoint}; "
            "stop it first (`firstapp fractals stop`), or use another --port"
        )
    raise FirstappError(
        f"port {port} on {host} is already in use by another program; "
        "choose a free one with --port"
    )


@dataclass
class PidFile:
    """Where a background server records its pid, and its log beside it."""

    path: Path

    @classmethod
    def for_db(cls, db_url: str) -> PidFile:
        """``<db file>.pid`` for SQLite; for other databases, one per URL in the data dir."""
        db_file = sqlite_path(db_url)
        if db_file is not None:
            return cls(db_file.with_name(db_file.name + ".pid"))
        digest = hashlib.sha256(db_url.encode()).hexdigest()[:12]
        return cls(default_data_dir() / "fractals" / f"server-{digest}.pid")

    @property
    def log_path(self) -> Path:
        return self.path.with_suffix(".log")

    def read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def write(self, info: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", opener=_private) as file:
            file.write(json.dumps(info))

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            self.path.unlink()


def _private(path: str, flags: int) -> int:
    """An ``open`` opener: the file is readable by its owner only (mode 0600)."""
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)  # also when it was there before
    return fd


def _alive(pid: int) -> bool:
    """True when ``pid`` runs and is a Fractals server (checked on Linux via /proc)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process: the pid was reused
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return False
            cmdline = proc.joinpath("cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        # `python -m firstapp fractals serve`, or `-m firstapp.fractals serve` (older starts)
        return b"serve" in cmdline and (b"fractals" in cmdline or b"firstapp.fractals" in cmdline)
    return True


def start_background(db_url: str, host: str, port: int, workers: int, *,
                     image_store: str = "db", store_timeout: float = 10.0) -> dict:
    """Start the server as a detached process; return once it answers requests.

    Checks the database first (a FirstappError says what is wrong with it), writes the pid
    file next to the database and returns what it recorded. The server reads the database
    URL from its environment, so no password shows in its command line.
    """
    from firstapp.fractals.api import open_database
    from firstapp.fractals.imagestore import DATABASE, open_image_store

    open_database(db_url).dispose()
    if image_store != DATABASE:  # sign in and find the container here, to say what is wrong
        open_image_store(image_store, None, timeout=store_timeout).close()
    pidfile = PidFile.for_db(db_url)
    info = pidfile.read()
    if info and _alive(info["pid"]):
        raise FirstappError(
            f"the Fractals app is already running (pid {info['pid']}) at {info['endpoint']}; "
            "stop it with `firstapp fractals stop`"
        )
    pidfile.remove()
    check_port_free(host, port)
    endpoint = endpoint_url(host, port)
    command = [sys.executable, "-m", "firstapp", "fractals", "serve", "--host", host,
               "--port", str(port), "--workers", str(workers), "--image-store", image_store,
               "--image-store-timeout", repr(store_timeout)]
    try:
        pidfile.path.parent.mkdir(parents=True, exist_ok=True)
        with open(pidfile.log_path, "ab", opener=_private) as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       env={**os.environ, DB_ENV: db_url})
    except OSError as exc:
        raise FirstappError(f"cannot start the Fractals app: {exc}") from None
    info = {"pid": process.pid, "endpoint": endpoint, "db": shown_url(db_url),
            "log": str(pidfile.log_path)}
    pidfile.write(info)
    answered = wait_until(lambda: process.poll() is not None or is_fractals_app(endpoint),
                          START_TIMEOUT, interval=0.1)
    if process.poll() is not None or not answered:
        if process.poll() is None:
            process.kill()
        pidfile.remove()
        tail = pidfile.log_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise FirstappError(
            f"the Fractals app did not start on {endpoint}; last lines of "
            f"{pidfile.log_path}:\n" + "\n".join(tail)
        )
    return info


def stop_background(db_url: str) -> dict | None:
    """Stop the background server started for ``db_url``; None when none was running."""
    pidfile = PidFile.for_db(db_url)
    info = pidfile.read()
    if not info or not _alive(info["pid"]):
        pidfile.remove()
        return None
    pid = info["pid"]
    os.kill(pid, signal.SIGTERM)
    if not wait_until(lambda: not _alive(pid), STOP_TIMEOUT, interval=0.05):
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not _alive(pid), STOP_TIMEOUT, interval=0.05)
    pidfile.remove()
    return info
