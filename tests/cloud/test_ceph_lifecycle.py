"""The Ceph backend through the real command line: start, status, env, stop, its data
directory, and what a missing installation says."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from firstapp.cloud import backends, ceph
from firstapp.cloud.client import authenticate, connection
from firstapp.cloud.layout import Layout
from firstapp.net import free_port


def firstapp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firstapp", *args], capture_output=True,
                          text=True, timeout=180, env={**os.environ, **(env or {})})


def ceph_processes(data_dir: Path) -> list[int]:
    """Processes started with this data directory's ceph.conf."""
    conf = str(data_dir / "ceph.conf").encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            args = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{name}/stat").read_text().split(") ")[-1][0]
        except OSError:
            continue
        if conf in args and state != "Z":
            found.append(int(name))
    return found


@pytest.fixture
def cloud_dir(tmp_path):
    yield tmp_path / "cloud"
    backends.stop(tmp_path / "cloud")


def test_start_status_env_stop(cloud_dir):
    port = free_port()
    started = firstapp("cloud", "start", "--backend", "ceph", "--data-dir", str(cloud_dir),
                       "--port", str(port))
    assert started.returncode == 0, started.stderr
    assert f"local cloud started: http://127.0.0.1:{port}/auth/v1.0" in started.stdout
    assert len(ceph_processes(cloud_dir)) == 5  # monitor, three OSDs, gateway
    # what the running gateway was told (its admin socket): TCP_NODELAY (else a small GET
    # waits 40 ms for an ACK), and no S3 lifecycle thread (it held every stop for 5-10 s)
    layout = Layout.at(cloud_dir)
    frontends = ceph.admin(layout, "client.rgw", {"prefix": "config get",
                                                  "var": "rgw_frontends"})
    assert frontends["rgw_frontends"] == f"beast endpoint=127.0.0.1:{port} tcp_nodelay=1"
    assert ceph.admin(layout, "client.rgw", {"prefix": "config get",
                                             "var": "rgw_enable_lc_threads"}) == {
        "rgw_enable_lc_threads": "false"}

    again = firstapp("cloud", "start", "--data-dir", str(cloud_dir))
    assert again.returncode == 0 and "already running (nothing started)" in again.stdout

    status = firstapp("cloud", "status", "--data-dir", str(cloud_dir))
    assert status.returncode == 0, status.stderr
    assert "backend:     ceph" in status.stdout
    assert "running:     yes" in status.stdout
    assert "devices:     3 (osd.0 (up), osd.1 (up), osd.2 (up))" in status.stdout
    assert "replicas:    3" in status.stdout
    assert "bytes used," in status.stdout and "warning" not in status.stdout

    env = firstapp("cloud", "env", "--data-dir", str(cloud_dir))
    exports = dict(line.removeprefix("export ").split("=", 1) for line in env.stdout.splitlines())
    assert exports["OS_AUTH_URL"] == f"http://127.0.0.1:{port}/auth/v1.0"
    assert exports["OS_AUTH_TYPE"] == "v1password"
    assert exports["OS_STORAGE_URL"] == f"http://127.0.0.1:{port}/v1/AUTH_tutorial"
    assert exports["OS_CLOUD"] == "local"
    assert exports["OS_CLIENT_CONFIG_FILE"] == str(cloud_dir / "clouds.yaml")
    assert exports["ST_AUTH"] == exports["OS_AUTH_URL"]
    storage_url, _ = authenticate(exports["OS_AUTH_URL"], exports["OS_USERNAME"],
                                  exports["OS_PASSWORD"].strip("'"))
    assert storage_url == exports["OS_STORAGE_URL"]
    # the key is Ceph's random one, kept private
    assert len(exports["OS_PASSWORD"].strip("'")) >= 32
    for private in ("credentials.json", "clouds.yaml", "keyring"):
        assert (cloud_dir / private).stat().st_mode & 0o077 == 0

    # every file of the cloud is in its data directory: pid files and admin sockets in run/
    assert sorted(p.name for p in (cloud_dir / "run").iterdir() if p.suffix == ".pid") == [
        "client.rgw.pid", "mon.a.pid", "osd.0.pid", "osd.1.pid", "osd.2.pid"]
    assert {p.name for p in cloud_dir.iterdir()} <= ceph.CEPH_FILES
    assert (cloud_dir / "log" / "client.rgw.log").exists()

    stopped = firstapp("cloud", "stop", "--data-dir", str(cloud_dir))
    assert stopped.returncode == 0 and "local cloud stopped" in stopped.stdout
    assert ceph_processes(cloud_dir) == []
    down = firstapp("cloud", "status", "--data-dir", str(cloud_dir))
    assert down.returncode == 3
    assert "running:     no" in down.stdout and "osd.1 (down)" in down.stdout
    assert "was not running" in firstapp("cloud", "stop", "--data-dir", str(cloud_dir)).stdout


def test_objects_survive_a_restart(cloud_dir):
    cloud, _ = backends.start(cloud_dir, port=free_port(), backend="ceph")
    data = os.urandom(3 << 20)
    conn = connection(cloud.auth_url, cloud.username, cloud.password)
    conn.put_container("kept")
    etag = conn.put_object("kept", "blob", data)
    assert backends.stop(cloud_dir)
    cloud, started = backends.start(cloud_dir)  # the data directory says: ceph
    assert started and cloud.backend == "ceph"
    conn = connection(cloud.auth_url, cloud.username, cloud.password)
    headers, body = conn.get_object("kept", "blob")
    assert body == data and headers["etag"] == etag == hashlib.md5(data).hexdigest()


def test_environment_variable_picks_ceph_and_the_directory_keeps_it(cloud_dir):
    started = firstapp("cloud", "start", "--data-dir", str(cloud_dir), "--port",
                       str(free_port()), env={"FIRSTAPP_BACKEND": "ceph"})
    assert started.returncode == 0, started.stderr
    assert backends.of(cloud_dir) == "ceph"
    wrong = firstapp("cloud", "start", "--data-dir", str(cloud_dir), "--backend", "swift")
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines() == [
        f"error: {cloud_dir} holds a ceph cloud: use --backend ceph, or another --data-dir "
        "for swift"]
    status = firstapp("cloud", "status", "--data-dir", str(cloud_dir),
                      env={"FIRSTAPP_BACKEND": "swift"})
    assert "backend:     ceph" in status.stdout


def test_bad_backend_variable_is_one_line(tmp_path):
    result = firstapp("cloud", "start", "--data-dir", str(tmp_path / "c"),
                      env={"FIRSTAPP_BACKEND": "cepth"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: FIRSTAPP_BACKEND='cepth' is not a backend: use swift or ceph"]
    assert not (tmp_path / "c").exists()


def test_refuses_a_directory_with_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = firstapp("cloud", "start", "--backend", "ceph", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "holds other files (notes.txt)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_devices_and_replicas_are_fixed_on_ceph(tmp_path):
    result = firstapp("cloud", "start", "--backend", "ceph", "--data-dir", str(tmp_path / "c"),
                      "--replicas", "2")
    assert result.returncode == 1
    assert "the Ceph backend runs 3 OSDs keeping 3 copies" in result.stderr
    assert not (tmp_path / "c").exists()


def test_without_ceph_installed_one_line_names_make_ceph(tmp_path):
    result = firstapp("cloud", "start", "--backend", "ceph", "--data-dir", str(tmp_path / "c"),
                      env={"PATH": str(tmp_path / "empty-bin")})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("error: Ceph is not installed (ceph-mon, ")
    assert "run `make ceph`" in lines[0]
    assert not (tmp_path / "c").exists()


def test_an_interrupted_first_start_is_created_again(cloud_dir):
    cloud, _ = backends.start(cloud_dir, port=free_port(), backend="ceph")
    backends.stop(cloud_dir)
    # as if the first start had stopped before the gateway's user was made
    (cloud_dir / "settings.json").unlink()
    (cloud_dir / "credentials.json").unlink()
    again, started = backends.start(cloud_dir, port=cloud.port)
    assert started and again.backend == "ceph"
    conn = connection(again.auth_url, again.username, again.password)
    conn.put_container("fresh")
    assert conn.get_account()[1][0]["name"] == "fresh"


def test_missing_settings_never_wipe_a_cloud_with_a_user(cloud_dir):
    backends.start(cloud_dir, port=free_port(), backend="ceph")
    backends.stop(cloud_dir)
    (cloud_dir / "settings.json").unlink()
    result = firstapp("cloud", "start", "--data-dir", str(cloud_dir))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {cloud_dir / 'settings.json'} is missing, so the Ceph cloud in {cloud_dir} "
        "cannot start: restore that file, or delete the directory to start over"]
    assert (cloud_dir / "credentials.json").exists() and (cloud_dir / "osd" / "0").is_dir()
