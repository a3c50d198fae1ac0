"""``firstapp fractals ...`` run as a user would, in a subprocess."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from firstapp.net import free_port

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
    environment = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "firstapp", "fractals", *args],
                          capture_output=True, text=True, env=environment, timeout=timeout,
                          check=False)


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A private data directory, for this process and the commands it runs."""
    monkeypatch.setenv("FIRSTAPP_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def background(tmp_path):
    """Start ``serve --background`` on a temp database; always stopped afterwards."""
    db = tmp_path / "bg" / "fractals.db"
    started = []

    def start(*extra: str):
        port = free_port()
        result = run("serve", "--background", "--db", str(db), "--port", str(port), *extra)
        started.append(db)
        return result, port, db

    yield start
    for path in started:
        run("stop", "--db", str(path))


def test_create_then_list(fractals_app_factory):
    app = fractals_app_factory(0)
    created = run("create", "-n", "3", "--seed", "2", "--width", "48", "--height", "40",
                  "--iterations", "60", "--endpoint", app.endpoint)
    assert created.returncode == 0, created.stderr
    rows = re.findall(rf"^({UUID})\s+(\d+)\s+([0-9a-f]{{64}})\s+48x40$", created.stdout, re.M)
    assert len(rows) == 3
    for uuid, size, checksum in rows:
        record = requests.get(f"{app.endpoint}/v1/fractal/{uuid}", timeout=10).json()
        assert (record["status"], record["size"], record["checksum"]) == (
            "ready", int(size), checksum)
    assert "rendering" in created.stderr  # the progress bar

    listed = run("list", env={"FRACTALS_ENDPOINT": app.endpoint})
    assert listed.returncode == 0, listed.stderr
    assert sorted(re.findall(rf"^({UUID}) ", listed.stdout, re.M)) == sorted(r[0] for r in rows)
    assert listed.stdout.rstrip().endswith("3 fractals")


def test_list_pages_through_everything(fractals_app):
    listed = run("list", "--endpoint", fractals_app.endpoint)
    assert listed.returncode == 0, listed.stderr
    for record in fractals_app.fractals:
        assert f"{record['uuid']}  {record['size']:>8}  {record['checksum']}" in listed.stdout
    assert "27 fractals" in listed.stdout


def test_create_without_wait_shows_pending(fractals_app_factory):
    app = fractals_app_factory(0, workers=0)
    created = run("create", "--no-wait", "--width", "32", "--height", "32",
                  "--endpoint", app.endpoint)
    assert created.returncode == 0, created.stderr
    assert re.search(rf"^{UUID}\s+-\s+\(pending\)\s+32x32$", created.stdout, re.M)


def test_client_commands_explain_a_missing_app():
    endpoint = f"http://127.0.0.1:{free_port()}"
    for command in (["list"], ["create", "-n", "1"]):
        result = run(*command, "--endpoint", endpoint)
        assert result.returncode == 1
        assert result.stderr.startswith(f"error: the Fractals app is not running at {endpoint}")
        assert "firstapp fractals serve" in result.stderr


def test_create_rejects_bad_parameters(fractals_app):
    result = run("create", "--width", "0", "--endpoint", fractals_app.endpoint)
    assert result.returncode == 1
    assert result.stderr.startswith("error: --width: width must be between 1 and 4096")


def test_serve_in_the_background_then_stop(background, data_dir):
    result, port, db = background()
    assert result.returncode == 0, result.stderr
    endpoint = f"http://127.0.0.1:{port}"
    assert endpoint in result.stdout
    pidfile = db.with_name("fractals.db.pid")
    assert pidfile.exists()
    assert requests.get(f"{endpoint}/v1/fractal", timeout=10).json()["num_results"] == 0

    created = run("create", "--width", "40", "--height", "40", "--endpoint", endpoint)
    assert created.returncode == 0, created.stderr

    again = run("serve", "--background", "--db", str(db), "--port", str(free_port()))
    assert again.returncode == 1
    assert "already running" in again.stderr

    stopped = run("stop", "--db", str(db))
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped" in stopped.stdout
    assert not pidfile.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{endpoint}/v1/fractal", timeout=5)
    assert "not running" in run("stop", "--db", str(db)).stdout

    # The fractal survived in the database: serve it again and find it.
    result, port, _ = background()
    assert result.returncode == 0, result.stderr
    listed = run("list", "--endpoint", f"http://127.0.0.1:{port}")
    assert "1 fractal" in listed.stdout


def test_serve_refuses_a_port_in_use(tmp_path, data_dir):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        for extra in (["--background"], []):
            result = run("serve", *extra, "--db", str(tmp_path / "f.db"), "--port", str(port))
            assert result.returncode == 1
            assert result.stderr.startswith(f"error: port {port} on 127.0.0.1 is already in use")
    assert not (tmp_path / "f.db.pid").exists()


def test_serve_recognises_a_fractals_app_on_the_port(fractals_app, tmp_path, data_dir):
    port = fractals_app.endpoint.rsplit(":", 1)[1]
    result = run("serve", "--background", "--db", str(tmp_path / "f.db"), "--port", port)
    assert result.returncode == 1
    assert f"the Fractals app is already running at {fractals_app.endpoint}" in result.stderr


def test_default_database_lives_in_the_data_dir(data_dir):
    port = free_port()
    result = run("serve", "--background", "--port", str(port))
    try:
        assert result.returncode == 0, result.stderr
        assert (data_dir / "fractals" / "fractals.db").exists()
        assert (data_dir / "fractals" / "fractals.db.pid").exists()
    finally:
        assert run("stop").returncode == 0
    assert not (data_dir / "fractals" / "fractals.db.pid").exists()


def boom(args):
    raise RuntimeError("something broke \x1b[31m")


def test_an_unexpected_error_is_one_line_without_debug(capsys, monkeypatch):
    import argparse

    from firstapp.cli import run as run_parsed

    monkeypatch.delenv("FIRSTAPP_DEBUG", raising=False)
    assert run_parsed(argparse.Namespace(func=boom, debug=False)) == 1
    err = capsys.readouterr().err
    assert err == ("error: RuntimeError: something broke \\x1b[31m (run with --debug or "
                   "FIRSTAPP_DEBUG=1 for the traceback)\n")

    assert run_parsed(argparse.Namespace(func=boom, debug=True)) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert 'raise RuntimeError("something broke' in err
    assert err.splitlines()[-1].startswith("error: RuntimeError: something broke")

    monkeypatch.setenv("FIRSTAPP_DEBUG", "1")
    assert run_parsed(argparse.Namespace(func=boom, debug=False)) == 1
    assert capsys.readouterr().err.startswith("Traceback")


def test_debug_is_a_global_flag_and_python_m_firstapp_fractals_works(fractals_app):
    for command in ([sys.executable, "-m", "firstapp", "--debug", "fractals", "list"],
                    [sys.executable, "-m", "firstapp.fractals", "list"]):
        result = subprocess.run([*command, "--endpoint", fractals_app.endpoint],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        assert "27 fractals" in result.stdout


def test_nothing_below_the_command_line_imports_it():
    import ast

    import firstapp

    package = Path(firstapp.__file__).parent
    importers = []
    for path in package.rglob("*.py"):
        if path.name == "__main__.py" or path == package / "cli.py":
            continue  # entry points may call it
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module] if isinstance(node, ast.ImportFrom) else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if "firstapp.cli" in names:
                importers.append(str(path.relative_to(package)))
    assert importers == []


def test_list_escapes_what_a_hostile_app_sends():
    from tests.backup.hostile import AppHandler, Behaviour, record_for, serve

    behaviour = Behaviour(records=[record_for("\x1b]0;owned\x07\x1b[2J", b"x")])
    with serve(AppHandler, behaviour) as app:
        result = run("list", "--endpoint", app)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert "\\x1b]0;owned\\x07\\x1b[2J" in result.stdout
