"""Starting, stopping and inspecting a local cloud through the real command line."""

from __future__ import annotations

import socket
import subprocess
import sys

import psutil
import pytest

from firstapp.cloud import control
from firstapp.cloud.client import authenticate
from firstapp.errors import FirstappError
from firstapp.net import LOOPBACK, free_port


def firstapp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firstapp", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def cloud_dir(tmp_path):
    yield tmp_path / "cloud"
    control.stop(tmp_path / "cloud")


def test_start_status_stop(cloud_dir):
    port = str(free_port())
    started = firstapp("cloud", "start", "--data-dir", str(cloud_dir), "--port", port)
    assert started.returncode == 0, started.stderr
    assert "local cloud started" in started.stdout
    pid = control.info(cloud_dir).pid
    assert psutil.Process(pid).is_running()

    again = firstapp("cloud", "start", "--data-dir", str(cloud_dir), "--port", port)
    assert again.returncode == 0
    assert "already running (nothing started)" in again.stdout
    assert control.info(cloud_dir).pid == pid

    status = firstapp("cloud", "status", "--data-dir", str(cloud_dir))
    assert status.returncode == 0
    assert "running:     yes" in status.stdout
    assert f"http://127.0.0.1:{port}/auth/v1.0" in status.stdout
    assert "devices:     3 (d1, d2, d3)" in status.stdout
    assert "replicas:    3" in status.stdout
    assert "objects:     0" in status.stdout

    stopped = firstapp("cloud", "stop", "--data-dir", str(cloud_dir))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    status = firstapp("cloud", "status", "--data-dir", str(cloud_dir))
    assert status.returncode == 3 and "running:     no" in status.stdout
    assert "was not running" in firstapp("cloud", "stop", "--data-dir", str(cloud_dir)).stdout


def test_restart_keeps_data_and_credentials(cloud_dir):
    cloud, _ = control.start(cloud_dir, port=free_port())
    conn_args = (cloud.auth_url, cloud.username, cloud.password)
    from firstapp.cloud.client import connection

    connection(*conn_args).put_container("kept")
    connection(*conn_args).put_object("kept", "note", b"still here")
    control.stop(cloud_dir)
    again, started = control.start(cloud_dir)
    assert started and again.password == cloud.password
    assert connection(*conn_args).get_object("kept", "note")[1] == b"still here"


def test_port_taken_names_the_port(cloud_dir):
    with socket.socket() as holder:
        holder.bind((LOOPBACK, 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = firstapp("cloud", "start", "--data-dir", str(cloud_dir), "--port", str(port))
    assert result.returncode != 0
    assert f"port {port}" in result.stderr and "already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert control.info(cloud_dir).pid is None


def test_devices_must_hold_the_replicas(cloud_dir):
    result = firstapp("cloud", "start", "--data-dir", str(cloud_dir), "--devices", "2",
                      "--replicas", "3", "--port", str(free_port()))
    assert result.returncode == 1
    assert "3 replicas need at least 3 devices" in result.stderr


def test_stopped_cloud_says_how_to_start(cloud_dir):
    cloud, _ = control.start(cloud_dir, port=free_port())
    control.stop(cloud_dir)
    with pytest.raises(FirstappError, match=r"not running.*`firstapp cloud start`"):
        authenticate(cloud.auth_url, cloud.username, cloud.password)
    env = firstapp("cloud", "env", "--data-dir", str(cloud_dir))
    assert env.returncode == 1
    assert "not running; start it with `firstapp cloud start`" in env.stderr


def test_listens_on_loopback_only(local_cloud):
    listening = [c for c in psutil.Process(local_cloud.pid).net_connections("inet")
                 if c.status == psutil.CONN_LISTEN]
    assert len(listening) == 4  # proxy, account, container, object
    assert {c.laddr.ip for c in listening} == {LOOPBACK}
    assert local_cloud.port in {c.laddr.port for c in listening}


def test_secrets_are_private(local_cloud):
    layout = local_cloud.layout
    for path in (layout.credentials_file, layout.clouds_yaml, layout.conf("proxy"),
                 layout.etc / "swift.conf"):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert layout.root.stat().st_mode & 0o077 == 0
