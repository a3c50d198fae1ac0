"""`firstapp cloud start --workers N`: Swift served by N processes, each able to answer alone,
all on 127.0.0.1, all stopped by `stop`, the number kept across restarts."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from swiftclient import client as swift

from firstapp.cloud import backends, config, control
from firstapp.cloud.client import connection
from firstapp.errors import FirstappError
from firstapp.net import LOOPBACK, free_port, port_in_use, wait_until


def firstapp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firstapp", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def cloud_dir(tmp_path) -> Iterator[Path]:
    yield tmp_path / "cloud"
    control.stop(tmp_path / "cloud")


def cloud_processes(data_dir: Path) -> list[psutil.Process]:
    """Every live process whose command line names this cloud's data directory."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if (str(data_dir.resolve()) in (proc.info["cmdline"] or [])
                    and proc.status() != psutil.STATUS_ZOMBIE):
                found.append(proc)
        except psutil.NoSuchProcess:
            pass
    return found


def serving(data_dir: Path) -> list[psutil.Process]:
    """The server and its workers (not the updaters' helper)."""
    return [p for p in cloud_processes(data_dir)
            if {"firstapp.cloud.server", "firstapp.cloud.workers"} & set(p.cmdline())]


def gone(procs: list[psutil.Process]) -> bool:
    def dead(proc: psutil.Process) -> bool:
        try:
            return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
    return all(dead(p) for p in procs)


def round_trip(cloud, name: str) -> None:
    """PUT an object and read it back on fresh connections, checking the bytes."""
    data = os.urandom(4096)
    conn = connection(cloud.auth_url, cloud.username, cloud.password)
    conn.timeout = (5, 10)
    conn.put_container("workers")
    etag = conn.put_object("workers", name, data)
    assert etag == hashlib.md5(data).hexdigest()
    conn.close()
    again = connection(cloud.auth_url, cloud.username, cloud.password)
    _, body = again.get_object("workers", name)
    again.close()
    assert body == data


def test_n_workers_are_n_processes_each_serving_alone(cloud_dir):
    started = firstapp("cloud", "start", "--data-dir", str(cloud_dir), "--port",
                       str(free_port()), "--workers", "3")
    assert started.returncode == 0, started.stderr
    cloud = control.info(cloud_dir)
    procs = serving(cloud_dir)
    assert len(procs) == 3
    assert cloud.pid in {p.pid for p in procs}
    for proc in procs:  # every process listens on the same four ports, loopback only
        listening = [c for c in proc.net_connections("inet") if c.status == psutil.CONN_LISTEN]
        assert {c.laddr.ip for c in listening} == {LOOPBACK}
        assert cloud.port in {c.laddr.port for c in listening}
        assert len(listening) == 4

    status = firstapp("cloud", "status", "--data-dir", str(cloud_dir))
    assert status.returncode == 0
    pids = ", ".join(str(p) for p in [cloud.pid, *control.worker_pids(cloud.layout)])
    assert f"workers:     3 (serving: pid {pids})\n" in status.stdout
    assert sorted(map(int, pids.split(", "))) == sorted(p.pid for p in procs)

    # pause all processes but one: the one left answers every request on its own
    for alone in procs:
        others = [p for p in procs if p.pid != alone.pid]
        for other in others:
            other.suspend()
        try:
            round_trip(cloud, f"from-{alone.pid}")
        finally:
            for other in others:
                other.resume()


def test_stop_leaves_no_process_behind(cloud_dir):
    control.start(cloud_dir, port=free_port(), workers=2)
    procs = cloud_processes(cloud_dir)
    assert len(serving(cloud_dir)) == 2
    stopped = firstapp("cloud", "stop", "--data-dir", str(cloud_dir))
    assert stopped.returncode == 0 and stopped.stdout == "local cloud stopped\n"
    assert gone(procs)
    assert cloud_processes(cloud_dir) == []


def test_a_killed_server_takes_its_workers_with_it(cloud_dir):
    cloud, _ = control.start(cloud_dir, port=free_port(), workers=2)
    procs = cloud_processes(cloud_dir)
    os.kill(cloud.pid, signal.SIGKILL)
    assert wait_until(lambda: gone(procs), 10), [p.cmdline() for p in procs if not gone([p])]
    assert not port_in_use(cloud.port)
    assert not control.info(cloud_dir).running


def test_a_worker_that_dies_stops_the_cloud_saying_why(cloud_dir):
    cloud, _ = control.start(cloud_dir, port=free_port(), workers=2)
    procs = cloud_processes(cloud_dir)
    [worker] = control.worker_pids(cloud.layout)
    os.kill(worker, signal.SIGKILL)
    assert wait_until(lambda: gone(procs), 10)
    assert f"its worker process {worker} exited with status -9" in \
        cloud.layout.log_file.read_text()
    assert not control.info(cloud_dir).running


def test_workers_are_kept_across_restarts_and_data_survives_a_change(cloud_dir):
    cloud, _ = control.start(cloud_dir, port=free_port(), workers=2)
    data = os.urandom(20000)
    conn = cloud.connection()
    conn.put_container("kept")
    conn.put_object("kept", "blob", data)
    control.stop(cloud_dir)

    again = firstapp("cloud", "start", "--data-dir", str(cloud_dir))  # no --workers
    assert again.returncode == 0, again.stderr
    assert len(serving(cloud_dir)) == 2
    assert config.load_settings(control.info(cloud_dir).layout).workers == 2
    note = firstapp("cloud", "start", "--data-dir", str(cloud_dir), "--workers", "1")
    assert "already running (nothing started)" in note.stdout
    assert "note: it keeps its 2 worker(s); for 1, `firstapp cloud stop" in note.stdout
    control.stop(cloud_dir)

    one, started = control.start(cloud_dir, workers=1)
    assert started and one.settings.workers == 1
    assert [p.pid for p in serving(cloud_dir)] == [one.pid]
    status = firstapp("cloud", "status", "--data-dir", str(cloud_dir))
    assert f"workers:     1 (serving: pid {one.pid})\n" in status.stdout
    _, body = one.connection().get_object("kept", "blob")
    assert body == data
    control.stop(cloud_dir)
    assert config.load_settings(one.layout).workers == 1  # kept for the next start


@pytest.mark.parametrize("value", ["0", "17", "-1", "many", "2.5", ""])
def test_bad_worker_counts_are_refused_in_one_line(cloud_dir, value):
    result = firstapp("cloud", "start", "--data-dir", str(cloud_dir), "--port",
                      str(free_port()), "--workers", value)
    assert result.returncode == 1
    assert result.stderr == (f"error: --workers must be a whole number from 1 to "
                             f"{config.MAX_WORKERS}, not {value!r}\n")
    assert not cloud_dir.exists()


def test_bad_worker_counts_are_refused_by_the_python_api_and_settings(cloud_dir):
    for workers in (0, 17, True):
        with pytest.raises(FirstappError, match="workers must be"):
            control.start(cloud_dir, port=free_port(), workers=workers)
    assert not cloud_dir.exists()
    with pytest.raises(FirstappError, match="workers must be from 1 to 16, not 99"):
        config.Settings(8080, 3, 3, workers=99)


def test_ceph_takes_no_workers(tmp_path):
    with pytest.raises(FirstappError, match="--workers works with --backend swift only"):
        backends.start(tmp_path / "c", backend="ceph", workers=2)
    assert not (tmp_path / "c").exists()


def test_swiftclient_sees_one_store_whatever_process_answers(cloud_dir):
    """Listings are the same from every process: the container databases are shared."""
    cloud, _ = control.start(cloud_dir, port=free_port(), workers=2)
    conn = cloud.connection()
    conn.put_container("many")
    for i in range(20):
        conn.put_object("many", f"o{i:02d}", b"x" * i)
    for _ in range(4):
        fresh = cloud.connection()
        _, listing = fresh.get_container("many")
        assert [o["name"] for o in listing] == [f"o{i:02d}" for i in range(20)]
        with pytest.raises(swift.ClientException) as missing:
            fresh.get_object("many", "nope")
        assert missing.value.http_status == 404


def test_sockets_are_set_up_as_swift_sets_its_own():
    """Loopback, the port alone (no SO_REUSEPORT), keepalive, and TCP_NODELAY on every
    connection accepted: without it a small response body waited 40 ms for an ACK."""
    import socket

    from firstapp.cloud.server import listen

    with listen(0) as server:
        assert server.getsockname()[0] == LOOPBACK
        assert server.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            accepted, _ = server.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
                assert accepted.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                client.sendall(b"ping")
                assert accepted.recv(4) == b"ping"
