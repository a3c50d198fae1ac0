"""Starting, stopping and inspecting a local cloud through the real command line."""

from __future__ import annotations

import errno
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from firstapp.cloud import client, control
from firstapp.cloud.client import authenticate
from firstapp.errors import FirstappError
from firstapp.net import LOOPBACK, free_port, port_in_use, wait_until


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
    assert "note:" not in again.stdout
    moved = firstapp("cloud", "start", "--data-dir", str(cloud_dir), "--port", str(free_port()))
    assert f"note: it keeps port {port}" in moved.stdout
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


def start_on_a_taken_port(cloud_dir) -> tuple[int, subprocess.CompletedProcess]:
    with socket.socket() as holder:
        holder.bind((LOOPBACK, 0))
        holder.listen()
        port = holder.getsockname()[1]
        return port, firstapp("cloud", "start", "--data-dir", str(cloud_dir), "--port",
                              str(port))


def test_port_taken_names_the_port_and_is_not_saved(cloud_dir):
    port, result = start_on_a_taken_port(cloud_dir)
    assert result.returncode == 1
    # the holder is this test's process, named when the system says who listens
    assert re.fullmatch(rf"error: port {port} on 127\.0\.0\.1 is already in use by another "
                        rf"program \(pid {os.getpid()} \([^()]+\)\); choose a free one with "
                        r"--port N\n", result.stderr), result.stderr
    assert not (cloud_dir / "settings.json").exists()  # nothing was created

    kept = free_port()
    control.start(cloud_dir, port=kept)
    control.stop(cloud_dir)
    port, result = start_on_a_taken_port(cloud_dir)
    assert result.returncode == 1 and f"port {port}" in result.stderr
    cloud = control.info(cloud_dir)
    assert cloud.pid is None and cloud.port == kept
    assert firstapp("cloud", "start", "--data-dir", str(cloud_dir)).returncode == 0
    assert control.info(cloud_dir).running


def test_devices_must_hold_the_replicas(cloud_dir):
    result = firstapp("cloud", "start", "--data-dir", str(cloud_dir), "--devices", "2",
                      "--replicas", "3", "--port", str(free_port()))
    assert result.returncode == 1
    assert "3 replicas need at least 3 devices" in result.stderr


def test_stopped_cloud_says_how_to_start(cloud_dir, monkeypatch):
    cloud, _ = control.start(cloud_dir, port=free_port())
    control.stop(cloud_dir)
    local = (f"the local cloud is not running (nothing answers at {cloud.auth_url}); "
             "start it with `firstapp cloud start`")
    with pytest.raises(FirstappError) as raised:
        authenticate(cloud.auth_url, cloud.username, cloud.password, data_dir=cloud_dir)
    assert str(raised.value) == local
    monkeypatch.setenv("FIRSTAPP_CLOUD_DIR", str(cloud_dir))  # as `firstapp cloud env` sets it
    with pytest.raises(FirstappError) as raised:
        authenticate(cloud.auth_url, cloud.username, cloud.password)
    assert str(raised.value) == local
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


def test_no_other_socket_can_share_the_port(local_cloud):
    """eventlet asks for SO_REUSEPORT by default; two clouds on one port split requests."""
    with socket.socket() as intruder:
        intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        with pytest.raises(OSError) as raised:
            intruder.bind((LOOPBACK, local_cloud.port))
    assert raised.value.errno == errno.EADDRINUSE


def test_a_port_out_of_range_is_refused_before_anything_is_written(cloud_dir):
    result = firstapp("cloud", "start", "--data-dir", str(cloud_dir), "--port", "70000")
    assert result.returncode == 2
    assert "'70000' is not a port number (1 to 65535)" in result.stderr
    with pytest.raises(FirstappError, match="70000 is not a port number"):
        control.start(cloud_dir, port=70000)
    assert not cloud_dir.exists()


def test_a_bind_that_fails_for_another_reason_is_not_called_in_use():
    port = free_port()
    with pytest.raises(FirstappError) as raised:
        port_in_use(port, host="192.0.2.1")  # TEST-NET-1: no such address here
    assert str(raised.value) == (f"cannot listen on 192.0.2.1:{port}: "
                                 f"{os.strerror(errno.EADDRNOTAVAIL)}; choose another port "
                                 "with --port")


def test_a_store_that_never_answers_gets_a_clear_error(monkeypatch):
    monkeypatch.setattr(client, "AUTH_TIMEOUT", 2.0)  # 10 s for a learner; the same path
    with socket.socket() as silent:  # accepts connections (the backlog), never replies
        silent.bind((LOOPBACK, 0))
        silent.listen()
        url = f"http://{LOOPBACK}:{silent.getsockname()[1]}/auth/v1.0"
        with pytest.raises(FirstappError, match="did not answer within 2 s"):
            authenticate(url, "tutorial:learner", "secret")


def test_two_starts_at_once_start_one_server(cloud_dir):
    port = str(free_port())
    command = [sys.executable, "-m", "firstapp", "cloud", "start", "--data-dir",
               str(cloud_dir), "--port", port]
    racers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(2)]
    outputs = [racer.communicate(timeout=120) for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], outputs
    said = sorted("started" if "local cloud started" in out else "running" for out, _ in outputs)
    assert said == ["running", "started"], outputs
    servers = [p for p in psutil.process_iter(["cmdline"])
               if "firstapp.cloud.server" in (p.info["cmdline"] or [])
               and str(cloud_dir.resolve()) in p.info["cmdline"]]
    assert [p.pid for p in servers] == [control.info(cloud_dir).pid]
    assert control.stop(cloud_dir)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in servers)


def test_a_directory_with_other_files_is_left_alone(tmp_path):
    foreign = tmp_path / "notes"
    foreign.mkdir()
    foreign.chmod(0o755)
    (foreign / "thesis.txt").write_text("years of work")
    result = firstapp("cloud", "start", "--data-dir", str(foreign), "--port", str(free_port()))
    assert result.returncode == 1
    assert "holds other files (thesis.txt) and no local cloud" in result.stderr
    assert (foreign / "thesis.txt").read_text() == "years of work"
    assert foreign.stat().st_mode & 0o777 == 0o755
    assert [p.name for p in foreign.iterdir()] == ["thesis.txt"]


def test_a_cloud_whose_data_directory_is_deleted_stops_and_frees_its_port(tmp_path):
    import shutil

    cloud, _ = control.start(tmp_path / "doomed", port=free_port())
    server = psutil.Process(cloud.pid)
    shutil.rmtree(tmp_path / "doomed")
    assert wait_until(lambda: not server.is_running()
                      or server.status() == psutil.STATUS_ZOMBIE, 10)
    assert not port_in_use(cloud.port)


@pytest.mark.parametrize(("flags", "said"), [
    (["--devices", "0"], "argument --devices: '0' is not a number from 1 to 64"),
    (["--replicas", "0"], "argument --replicas: '0' is not a number from 1 to 64"),
    (["--devices", "-2"], "argument --devices: '-2' is not a number from 1 to 64"),
    (["--devices", "many"], "argument --devices: 'many' is not a number from 1 to 64"),
    (["--port", "0"], "argument --port: '0' is not a port number (1 to 65535)"),
])
def test_impossible_numbers_are_refused_before_anything_is_written(cloud_dir, flags, said):
    result = firstapp("cloud", "start", "--data-dir", str(cloud_dir), *flags)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith(said)
    assert not cloud_dir.exists()


def test_impossible_settings_are_refused_by_the_python_api_too(cloud_dir):
    for kwargs, said in (({"devices": 0}, "devices must be from 1 to 64, not 0"),
                         ({"replicas": 0}, "replicas must be at least 1, not 0"),
                         ({"devices": 2, "replicas": 3}, "3 replicas need at least 3 devices")):
        with pytest.raises(FirstappError, match=said):
            control.start(cloud_dir, port=free_port(), **kwargs)
    assert not cloud_dir.exists()


def test_fewer_devices_than_three_keep_one_copy_per_device(cloud_dir):
    cloud, _ = control.start(cloud_dir, port=free_port(), devices=2)
    assert (cloud.settings.devices, cloud.settings.replicas) == (2, 2)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_data_dir_that_is_a_file_or_below_one_is_refused(tmp_path):
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    line = one_line_error(firstapp("cloud", "start", "--data-dir", str(afile)))
    assert line == (f"error: {afile} is a file, not a directory: give --data-dir a new or "
                    "empty directory, or one that holds a local cloud")
    below = afile / "cloud"
    line = one_line_error(firstapp("cloud", "start", "--data-dir", str(below)))
    assert line == (f"error: cannot create {below}: {afile} is a file, not a directory; give "
                    "--data-dir another place")
    assert afile.read_text() == "mine"


def test_a_data_dir_that_cannot_be_written_is_refused(tmp_path):
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    # root may write anywhere but in a read-only kernel filesystem
    targets = [Path("/sys/firstapp-cloud")] if os.geteuid() == 0 else [readonly,
                                                                      readonly / "cloud"]
    try:
        for target in targets:
            line = one_line_error(firstapp("cloud", "start", "--data-dir", str(target),
                                           "--port", str(free_port())))
            assert line.startswith(f"error: cannot write to {target}: ")
            assert line.endswith("; give --data-dir a directory you can write to")
            assert not target.exists()
    finally:
        readonly.chmod(0o755)


def test_the_store_is_named_and_a_backend_setting_that_cannot_apply_says_so(cloud_factory,
                                                                            monkeypatch):
    """FIRSTAPP_BACKEND picks the store of new clouds; an existing Swift cloud stays one,
    and what `make tutorial` and `make lab` print says so instead of keeping quiet."""
    from firstapp.cloud import backends

    local_cloud = cloud_factory(backend="swift")
    monkeypatch.delenv("FIRSTAPP_BACKEND", raising=False)
    assert backends.store_name(local_cloud.layout.root) == "OpenStack Swift"
    monkeypatch.setenv("FIRSTAPP_BACKEND", "ceph")
    said = backends.store_name(local_cloud.layout.root)
    assert said.startswith("OpenStack Swift; FIRSTAPP_BACKEND=ceph picks the store of new "
                           "clouds only, ")
    assert f"{local_cloud.layout.root} holds a swift cloud: use --data-dir DIR" in said
