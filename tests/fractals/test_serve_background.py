"""``firstapp fractals serve``: no database URL on a command line, one-line errors for a
database that cannot work, in the foreground and in the background."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from firstapp.fractals.db import resolve_db_url
from firstapp.fractals.defaults import DB_ENV
from firstapp.fractals.process import PidFile
from firstapp.net import free_port

COMMAND = [sys.executable, "-m", "firstapp", "fractals"]


def firstapp(*args: str, env: dict[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


def test_background_server_gets_its_database_through_the_environment(tmp_path: Path):
    db = tmp_path / "marker-7f3a9c" / "fractals.db"
    db_url = resolve_db_url(db)
    port = free_port()
    started = firstapp("serve", "--background", "--db", db_url, "--port", str(port))
    assert started.returncode == 0, started.stderr
    pidfile = PidFile.for_db(db_url)
    try:
        process = psutil.Process(pidfile.read()["pid"])
        cmdline = " ".join(process.cmdline())
        assert "serve" in cmdline
        for secret in ("marker-7f3a9c", "sqlite", "://", str(db)):
            assert secret not in cmdline, cmdline
        # it reached the server another way: its environment, readable by its owner only
        assert process.environ()[DB_ENV] == db_url
        assert requests.get(f"http://127.0.0.1:{port}/v1/fractal", timeout=10).ok
        assert db.exists()
        for path in (pidfile.path, pidfile.log_path):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        stopped = firstapp("stop", "--db", db_url)
    assert stopped.returncode == 0, stopped.stderr
    assert not pidfile.path.exists()


def test_fractals_db_in_the_environment_is_the_default_database(tmp_path: Path):
    db = tmp_path / "from-env.db"
    port = free_port()
    env = {DB_ENV: resolve_db_url(db)}
    started = firstapp("serve", "--background", "--port", str(port), env=env)
    assert started.returncode == 0, started.stderr
    try:
        assert db.exists() and PidFile.for_db(resolve_db_url(db)).read() is not None
    finally:
        stopped = firstapp("stop", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped


@pytest.mark.parametrize("background", [False, True], ids=["foreground", "background"])
def test_a_password_is_never_shown(tmp_path: Path, background: bool):
    """A server database that cannot be reached: the error hides its password, and nothing
    written (pid file, log) holds it."""
    password = "hunter2-e9c41d"
    db_url = f"postgresql://fractals:{password}@127.0.0.1:{free_port()}/fractals"
    data = tmp_path / "data"
    args = ["serve", "--db", db_url, "--port", str(free_port())]
    result = firstapp(*args, *(["--background"] if background else []),
                      env={"FIRSTAPP_DATA_DIR": str(data)})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot open the database"), lines
    assert "fractals:***@127.0.0.1" in lines[0]
    assert password not in result.stdout + result.stderr
    written = [p for p in data.rglob("*") if p.is_file()] if data.exists() else []
    assert all(password not in p.read_text(errors="replace") for p in written)


def test_a_password_in_the_query_string_is_hidden_too(tmp_path):
    """libpq and other drivers take the password as ``?password=``: hidden as well."""
    password = "hunter2-query-7f1a"
    db_url = (f"postgresql://fractals@127.0.0.1:{free_port()}/fractals?sslmode=disable"
              f"&password={password}")
    result = firstapp("serve", "--db", db_url, "--port", str(free_port()),
                      env={"FIRSTAPP_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot open the database"), lines
    assert "password=***" in lines[0] and "sslmode=disable" in lines[0], lines[0]
    assert password not in result.stdout + result.stderr


@pytest.fixture
def regular_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a directory\n")
    return path


@pytest.mark.parametrize("background", [False, True], ids=["foreground", "background"])
@pytest.mark.parametrize("case", ["below-a-file", "a-directory", "not-a-database"])
def test_an_unusable_database_is_one_line_and_exit_1(tmp_path: Path, regular_file: Path,
                                                     case: str, background: bool):
    db = {
        "below-a-file": regular_file / "fractals.db",
        "a-directory": tmp_path,
        "not-a-database": regular_file,
    }[case]
    before = sorted(tmp_path.rglob("*"))
    args = ["serve", "--db", str(db), "--port", str(free_port())]
    result = firstapp(*args, *(["--background"] if background else []))
    assert result.returncode == 1, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert str(db if case != "below-a-file" else regular_file) in lines[0]
    assert "Traceback" not in result.stderr
    assert sorted(tmp_path.rglob("*")) == before  # no pid file, no log, nothing created
    assert regular_file.read_text() == "not a directory\n"
