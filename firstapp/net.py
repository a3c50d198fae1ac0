"""Loopback networking helpers shared by the local servers."""

from __future__ import annotations

import argparse
import errno
import os
import random
import socket
import time
from collections.abc import Callable

from firstapp.errors import FirstappError

LOOPBACK = "127.0.0.1"


#: Where :func:`free_port` looks: above the registered services most machines run, below
#: the kernel's ephemeral range (Linux: 32768 and up). ``FIRSTAPP_FREE_PORTS=LOW-HIGH``
#: narrows it (the test suite gives each of its parallel workers a range of its own).
FREE_PORTS = range(20000, 32768)
FREE_PORTS_VARIABLE = "FIRSTAPP_FREE_PORTS"


def free_ports() -> range:
    """The ports :func:`free_port` picks from: ``FIRSTAPP_FREE_PORTS`` (``LOW-HIGH``,
    inclusive) when set, else :data:`FREE_PORTS`."""
    text = os.environ.get(FREE_PORTS_VARIABLE, "").strip()
    if not text:
        return FREE_PORTS
    low, _, high = text.partition("-")
    try:
        ports = range(int(low), int(high) + 1)
    except ValueError:
        ports = range(0)
    if not ports or ports.start < 1024 or ports.stop > 65536:
        raise FirstappError(f"{FREE_PORTS_VARIABLE}={text} is not a range of ports LOW-HIGH "
                            "between 1024 and 65535 (e.g. 20000-32767); unset it for the default")
    return ports


def ephemeral_ports() -> range:
    """The ports the kernel gives outgoing connections (Linux's setting, else its default)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as settings:
            low, high = map(int, settings.read().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing uses right now, outside the ephemeral range.

    A server keeps its port across restarts; a port in the ephemeral range could be taken
    meanwhile by any outgoing connection on the machine (the port is then "in use"), one
    outside it only by another server.
    """
    ephemeral = ephemeral_ports()
    candidates = [p for p in free_ports() if p not in ephemeral]
    for port in random.sample(candidates, min(len(candidates), 200)):
        with socket.socket() as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # everything tried is taken: let the kernel choose
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """True when another process listens on ``host:port``.

    Binds with SO_REUSEADDR, as the servers do, so connections lingering in
    TIME_WAIT from a server that just stopped do not count. When the bind fails for
    another reason (a privileged port, an address not on this machine), a FirstappError
    says which.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise FirstappError(f"cannot listen on {host}:{port}: {exc.strerror}; "
                                "choose another port with --port") from None
        return False


def port_holder(port: int, host: str = LOOPBACK) -> str | None:
    """Which process listens on ``host:port``, as ``pid N (name)``, when the system says
    (another user's processes may stay hidden); None otherwise."""
    import psutil

    try:
        for conn in psutil.net_connections(kind="tcp"):
            if (conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
                    and conn.laddr.ip in (host, "0.0.0.0", "::")):
                if conn.pid is None:
                    return None
                try:
                    return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                except psutil.Error:
                    return f"pid {conn.pid}"
    except (psutil.Error, OSError):
        return None
    return None


def port_number(text: str) -> int:
    """An argparse type: a TCP port from 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1 to 65535)")
    return port


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``check`` until it returns true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()
