"""Damaged state files and lost devices: repaired, or reported in one line saying what to do."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import psutil
import pytest

from firstapp.cloud import config, control
from firstapp.cloud.client import connection
from firstapp.cloud.placement import account_of, replicas
from firstapp.net import free_port
from tests.cloud.support import device_listing


def firstapp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firstapp", *args],
                          capture_output=True, text=True, timeout=300)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def cloud(tmp_path):
    started, _ = control.start(tmp_path / "cloud", port=free_port())
    yield started
    control.stop(tmp_path / "cloud")
    for proc in psutil.process_iter(["cmdline"]):  # whatever a failed test left running
        if str(started.layout.root) in (proc.info["cmdline"] or []):
            proc.kill()


def data_dir(cloud) -> tuple[str, str]:
    return "--data-dir", str(cloud.layout.root)


@pytest.mark.parametrize("damage", ["garbage\n", "", "99999999", "1"])
def test_a_damaged_pid_file_does_not_orphan_the_server(cloud, damage):
    server = psutil.Process(cloud.pid)
    cloud.layout.pid_file.write_text(damage)
    status = firstapp("cloud", "status", *data_dir(cloud))
    assert status.returncode == 0 and "running:     yes" in status.stdout
    assert cloud.layout.pid_file.read_text() == str(cloud.pid)  # repaired

    cloud.layout.pid_file.write_text(damage)
    stopped = firstapp("cloud", "stop", *data_dir(cloud))
    assert stopped.returncode == 0 and stopped.stdout == "local cloud stopped\n"
    assert not server.is_running() or server.status() == psutil.STATUS_ZOMBIE
    started = firstapp("cloud", "start", *data_dir(cloud))
    assert started.returncode == 0 and "local cloud started" in started.stdout, started.stderr


def test_the_server_is_found_with_neither_pid_file_nor_its_own_record(cloud):
    cloud.layout.pid_file.unlink()
    cloud.layout.ports_file.write_text("{damaged")
    again = firstapp("cloud", "start", *data_dir(cloud))
    assert again.returncode == 0
    assert "already running (nothing started)" in again.stdout
    assert f"pid {cloud.pid}" in again.stdout
    assert control.stop(cloud.layout.root)
    assert not psutil.pid_exists(cloud.pid) or (
        psutil.Process(cloud.pid).status() == psutil.STATUS_ZOMBIE)


@pytest.mark.parametrize("damage", ["{not json", "[]", '{"port": "x"}', ""])
def test_damaged_settings_are_rebuilt_from_the_rings(cloud, damage):
    control.stop(cloud.layout.root)
    cloud.layout.settings_file.write_text(damage)
    started = firstapp("cloud", "start", *data_dir(cloud))
    assert started.returncode == 0, started.stderr
    assert started.stderr.startswith(f"note: {cloud.layout.settings_file} was damaged")
    assert "rebuilt it from the rings" in started.stderr
    assert config.load_settings(cloud.layout) == cloud.settings
    assert control.info(cloud.layout.root).port == cloud.port


def test_deleted_settings_are_rebuilt_and_the_data_kept(cloud):
    conn = connection(cloud.auth_url, cloud.username, cloud.password)
    conn.put_container("kept")
    conn.put_object("kept", "note", b"still here")
    control.stop(cloud.layout.root)
    cloud.layout.settings_file.unlink()
    assert firstapp("cloud", "start", *data_dir(cloud)).returncode == 0
    again = control.info(cloud.layout.root)
    assert again.password == cloud.password and again.port == cloud.port
    conn = connection(again.auth_url, again.username, again.password)
    assert conn.get_object("kept", "note")[1] == b"still here"


def test_deleted_credentials_are_recovered_while_it_runs(cloud):
    cloud.layout.credentials_file.unlink()
    env = firstapp("cloud", "env", *data_dir(cloud))
    assert env.returncode == 0
    assert f"export OS_PASSWORD={cloud.password}" in env.stdout
    assert "recovered them from the proxy's configuration" in env.stderr
    assert json.loads(cloud.layout.credentials_file.read_text())["password"] == cloud.password


def test_credentials_lost_everywhere_say_what_to_do_and_a_restart_makes_new_ones(cloud):
    conn = connection(cloud.auth_url, cloud.username, cloud.password)
    conn.put_container("kept")
    conn.put_object("kept", "note", b"still here")
    cloud.layout.credentials_file.unlink()
    cloud.layout.conf("proxy").unlink()
    line = one_line_error(firstapp("cloud", "env", *data_dir(cloud)))
    assert line == (f"error: {cloud.layout.credentials_file} is missing and cannot be "
                    "recovered: run `firstapp cloud stop` then `firstapp cloud start` (with the "
                    "same --data-dir) to make new credentials; your objects are kept")

    assert firstapp("cloud", "stop", *data_dir(cloud)).returncode == 0
    started = firstapp("cloud", "start", *data_dir(cloud))
    assert started.returncode == 0 and "made new ones (a new password)" in started.stderr
    renewed = control.info(cloud.layout.root)
    assert renewed.password != cloud.password
    conn = connection(renewed.auth_url, renewed.username, renewed.password)
    assert conn.get_object("kept", "note")[1] == b"still here"


def test_repair_says_so_when_a_device_is_gone_and_repairs_once_it_is_back(cloud):
    conn = connection(cloud.auth_url, cloud.username, cloud.password)
    conn.put_container("kept")
    data = b"three copies, please" * 100
    etag = conn.put_object("kept", "precious", data)
    lost = cloud.layout.devices / "d2"
    shutil.rmtree(lost)

    result = firstapp("cloud", "repair", *data_dir(cloud))
    line = one_line_error(result)
    assert line.startswith("error: not everything could be repaired: device d2 is missing "
                           f"({lost} is gone): create it empty (mkdir {lost}) and run "
                           "`firstapp cloud repair` again")
    assert result.stdout.startswith("audited ")
    assert conn.get_object("kept", "precious")[1] == data  # two copies still serve it

    lost.mkdir()
    result = firstapp("cloud", "repair", *data_dir(cloud))
    assert result.returncode == 0, result.stderr
    assert "(0 failures)" in result.stdout
    copies = replicas(cloud.layout, account_of(cloud.storage_url), "kept", "precious")
    assert all(c.present and hashlib.md5(c.data_file.read_bytes()).hexdigest() == etag
               for c in copies)
    # and the account and container databases d2 held are back, with their rows
    assert list(lost.glob("accounts/*/*/*/*.db")) and list(lost.glob("containers/*/*/*/*.db"))
    assert device_listing(cloud, "d2", "kept") == {"precious"}
