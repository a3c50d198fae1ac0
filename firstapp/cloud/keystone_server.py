"""The local cloud's Keystone: set up its database and keys, and serve it.

Runs with the Python of Keystone's own virtualenv (see :mod:`firstapp.cloud.keystone_venv`),
where firstapp is not installed, so it imports nothing but the standard library, Keystone
and waitress. ``firstapp cloud start --auth keystone`` runs it by path as::

    PYTHON keystone_server.py setup KEYSTONE_DIR   # keys, database, bootstrap (once)
    PYTHON keystone_server.py serve KEYSTONE_DIR PORT

``KEYSTONE_DIR`` holds ``keystone.conf``. ``setup`` takes the admin password from the
environment (``OS_BOOTSTRAP_PASSWORD``, as ``keystone-manage bootstrap`` does), never from
its command line.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import signal
import sys
import threading
import time
from pathlib import Path

PORT_TAKEN = 98  # exit status when the port is already in use (errno EADDRINUSE)
REGION = "RegionOne"
LOOPBACK = "127.0.0.1"


def _manage(conf: Path, *args: str) -> None:
    """One ``keystone-manage`` command, in this process."""
    from keystone.cmd import cli
    from keystone.conf import CONF

    # one process for all of setup's commands (each costs ~1.5 s to start): between two,
    # forget the parsed arguments and the command option keystone-manage registers
    cli.main(argv=["keystone-manage", "--config-file", str(conf), *args])
    CONF.clear()
    CONF.unregister_opt(cli.command_opt)


def setup(directory: Path, public_url: str) -> None:
    """Fernet keys, receipt and credential keys, the SQLite schema, then the bootstrap:
    the admin user, project and roles, region RegionOne, and the identity endpoint."""
    conf = directory / "keystone.conf"
    owner = ["--keystone-user", pwd.getpwuid(os.getuid()).pw_name,
             "--keystone-group", grp.getgrgid(os.getgid()).gr_name]
    _manage(conf, "fernet_setup", *owner)
    _manage(conf, "receipt_setup", *owner)
    _manage(conf, "credential_setup", *owner)
    _manage(conf, "db_sync")
    if not os.environ.get("OS_BOOTSTRAP_PASSWORD"):
        raise SystemExit("OS_BOOTSTRAP_PASSWORD is not set")
    _manage(conf, "bootstrap", "--bootstrap-region-id", REGION,
            "--bootstrap-public-url", public_url, "--bootstrap-internal-url", public_url,
            "--bootstrap-admin-url", public_url)


def serve(directory: Path, port: int) -> None:
    """Keystone's WSGI application under waitress, on 127.0.0.1:PORT, until SIGTERM or until
    ``directory`` is deleted."""
    import socket

    os.environ["OS_KEYSTONE_CONFIG_FILES"] = str(directory / "keystone.conf")
    try:  # the port first: a taken port is reported before the slow import
        sock = socket.socket()
        # as waitress does: connections of a server that just stopped (TIME_WAIT) do not
        # block the port; a listening server still does
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen(128)
    except OSError as exc:
        print(f"cannot listen on {LOOPBACK}:{port}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(PORT_TAKEN if exc.errno == errno.EADDRINUSE else 1) from exc
    # Keystone's option parser reads the process's own command line and would refuse ours
    sys.argv = sys.argv[:1]
    from keystone.wsgi.api import application
    from waitress import serve as waitress_serve

    # end at once, every thread with it (a lingering worker thread would keep the port)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Thread(target=_exit_when_removed, args=(directory,), daemon=True).start()
    # one process: Keystone's in-memory token cache is shared by all of its threads
    waitress_serve(application, sockets=[sock], threads=4, ident="keystone",
                   channel_timeout=60, _quiet=True)


def _exit_when_removed(directory: Path, interval: float = 1.0) -> None:
    """Exit once the data directory is gone: nothing could stop this server otherwise."""
    while (directory / "keystone.conf").is_file():
        time.sleep(interval)
    print(f"keystone stopped: {directory} was deleted", file=sys.stderr, flush=True)
    os._exit(0)


def main(argv: list[str]) -> None:
    os.umask(0o077)  # the database, keys and logs: readable by their owner only
    command, directory, *rest = argv
    if command == "setup":
        setup(Path(directory), rest[0])
    elif command == "serve":
        serve(Path(directory), int(rest[0]))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    # run by path, so this file's directory comes first on sys.path, where firstapp's own
    # keystone.py would hide Keystone's package
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]
    main(sys.argv[1:])
