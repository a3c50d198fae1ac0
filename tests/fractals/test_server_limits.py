"""Slow, silent and half-open clients cannot stop the Fractals app from answering."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest
import requests

from firstapp.fractals import server
from firstapp.fractals.db import resolve_db_url
from firstapp.fractals.process import PidFile, endpoint_url
from firstapp.net import LOOPBACK, free_port, wait_until

HALF_OPEN = 200
COMMAND = [sys.executable, "-m", "firstapp", "fractals"]


def firstapp(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def background_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """``firstapp fractals serve --background`` on a new database: (endpoint, pid)."""
    db_url = resolve_db_url(tmp_path_factory.mktemp("limits") / "fractals.db")
    port = free_port()
    started = firstapp("serve", "--background", "--db", db_url, "--port", str(port))
    assert started.returncode == 0, started.stderr
    info = PidFile.for_db(db_url).read()
    try:
        yield endpoint_url(LOOPBACK, port), info["pid"]
    finally:
        stopped = firstapp("stop", "--db", db_url)
        assert stopped.returncode == 0, stopped.stderr


def held_connections(pid: int, port: int) -> int:
    """Connections to ``port`` that the server process has accepted (not those still
    waiting in the kernel's backlog, which belong to no process yet)."""
    return sum(1 for c in psutil.Process(pid).net_connections(kind="tcp")
               if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED)


def open_half_open(port: int, count: int) -> list[socket.socket]:
    """``count`` connections: half say nothing, half start a request line and stop."""
    sockets: list[socket.socket] = []
    try:
        for i in range(count):
            sock = socket.create_connection((LOOPBACK, port), timeout=10)
            sockets.append(sock)
            if i % 2:
                sock.sendall(b"GET /v1/fract")
    except BaseException:
        close_all(sockets)
        raise
    return sockets


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def test_answers_while_200_half_open_connections_are_held(background_app):
    endpoint, pid = background_app
    port = int(endpoint.rsplit(":", 1)[1])
    sockets = open_half_open(port, HALF_OPEN)
    try:
        # the server has accepted every one of them (waitress' default limit stops at 100)
        assert wait_until(lambda: held_connections(pid, port) >= HALF_OPEN, 30, interval=0.2), (
            f"the server holds {held_connections(pid, port)} of {HALF_OPEN} connections"
        )
        response = requests.get(f"{endpoint}/v1/fractal", timeout=10)
        assert response.status_code == 200
        assert response.json()["num_results"] == 0
        # and keeps answering: a second, fresh connection too
        response = requests.post(f"{endpoint}/v1/fractal", timeout=10, json={
            "width": 8, "height": 8, "iterations": 10, "xa": -2, "xb": 2, "ya": -1, "yb": 1})
        assert response.status_code == 201
    finally:
        close_all(sockets)


def test_the_limit_follows_the_open_files_limit():
    """With ``ulimit -n 256`` a server holds (256 - 64) / 2 = 96 connections; a foreground
    server raises its own limit first (to 4096, here below the hard limit), then holds 1000."""
    script = (
        "import resource\n"
        "from firstapp.fractals import server\n"
        "_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "print(server.connection_limit())\n"
        "server.raise_open_files_limit()\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], server.connection_limit())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out[0] == "96"
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard >= server.WANTED_OPEN_FILES:
        assert out[1:] == [str(server.WANTED_OPEN_FILES), str(server.MAX_CONNECTIONS)]
    else:
        assert out[1] == str(hard)


def test_a_silent_connection_is_closed_after_the_channel_timeout(
    monkeypatch: pytest.MonkeyPatch, fractals_app_factory
):
    monkeypatch.setattr(server, "CHANNEL_TIMEOUT", 1)
    monkeypatch.setattr(server, "CLEANUP_INTERVAL", 1)
    app = fractals_app_factory()
    port = int(app.endpoint.rsplit(":", 1)[1])
    sockets = open_half_open(port, 2)
    try:
        for sock in sockets:
            sock.settimeout(60)  # bounded: a server that never closes fails the test
            assert sock.recv(1024) == b""  # the server closed it, answering nothing
        assert requests.get(f"{app.endpoint}/v1/fractal", timeout=10).status_code == 200
    finally:
        close_all(sockets)


def test_a_large_request_is_refused_before_the_app(fractals_app):
    body = b"{" + b" " * (server.server_options()["max_request_body_size"] + 1) + b"}"
    response = requests.post(f"{fractals_app.endpoint}/v1/fractal", data=body, timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "exceeds max_body" in response.text  # waitress' answer: the app never saw it


def test_server_options_are_waitress_adjustments():
    from waitress.adjustments import Adjustments

    adjustments = Adjustments(**server.server_options())
    assert adjustments.connection_limit >= HALF_OPEN
    assert adjustments.channel_timeout == server.CHANNEL_TIMEOUT
    assert adjustments.asyncore_use_poll is True
