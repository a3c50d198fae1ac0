"""Mistakes a learner makes: one clear ``error:`` line, exit status 1, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from swiftclient.exceptions import ClientException

from firstapp.net import free_port
from tests.backup.conftest import run_cli


def assert_clear_error(result, *expected: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


@pytest.fixture
def in_process(capsys, monkeypatch):
    """``firstapp fractals ARGS`` run in this process through ``firstapp.cli.main``, as the
    command line runs it, with no OS_* or ST_* variables set: for the checks made before
    anything is connected, which need no process of their own (the other tests here run
    the real command line)."""
    from firstapp.cli import main

    for name in list(os.environ):
        if name.startswith(("OS_", "ST_")):
            monkeypatch.delenv(name)

    def run(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        status = main(["fractals", *args])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["firstapp", "fractals", *args], status, out, err)

    return run


def command(kind: str, app60, tmp_path) -> list[str]:
    if kind == "backup":
        return ["backup", "--container", "errors", "--endpoint", app60.endpoint]
    return ["restore", "--container", "errors", "--db", str(tmp_path / "r.db")]


@pytest.mark.parametrize("kind", ["backup", "restore"])
def test_wrong_password(kind, app60, cloud_env, tmp_path):
    # without OS_CLOUD, whose clouds.yaml entry would win over OS_PASSWORD
    env = {k: v for k, v in cloud_env.items() if k != "OS_CLOUD"} | {"OS_PASSWORD": "nope"}
    result = run_cli(*command(kind, app60, tmp_path), env=env)
    assert_clear_error(result, "authentication failed (401 Unauthorized)")


def test_cloud_not_running(app60, cloud_env, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/auth/v1.0"
    env = {k: v for k, v in cloud_env.items() if k != "OS_CLOUD"} | {"OS_AUTH_URL": url}
    result = run_cli(*command("backup", app60, tmp_path), env=env)
    assert_clear_error(result, f"nothing answers at {url}")


def test_missing_credentials_say_how_to_set_them(app60, tmp_path):
    result = run_cli(*command("restore", app60, tmp_path), env={})
    assert_clear_error(result, "OS_AUTH_URL, OS_USERNAME, OS_PASSWORD are not set",
                       'eval "$(firstapp cloud env)"')


def test_restore_from_a_missing_container(cloud_env, tmp_path):
    db = tmp_path / "r.db"
    result = run_cli("restore", "--container", "no-such-backup", "--db", str(db), env=cloud_env)
    assert_clear_error(result, "there is no container 'no-such-backup'")
    assert not db.exists()  # nothing was created


def test_backup_when_the_app_is_not_running(cloud_env, swift_conn):
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = run_cli("backup", "--container", "never-made", "--endpoint", endpoint,
                     env=cloud_env)
    assert_clear_error(result, "the Fractals app is not running")
    with pytest.raises(ClientException) as missing:  # no container was created either
        swift_conn.head_container("never-made")
    assert missing.value.http_status == 404


def test_restore_into_a_database_of_another_shape(backed_up, cloud_env, tmp_path):
    import sqlite3

    db = tmp_path / "other.db"
    with sqlite3.connect(db) as other:  # someone else's table called "fractal"
        other.execute("CREATE TABLE fractal (uuid TEXT PRIMARY KEY, colour TEXT)")
        other.execute("INSERT INTO fractal VALUES ('x', 'blue')")
    other.close()
    result = run_cli("restore", "--container", backed_up[0], "--db", str(db), env=cloud_env)
    assert_clear_error(result, f"cannot read the fractals in sqlite:///{db}",
                       "is it a Fractals app database?")
    with sqlite3.connect(db) as other:  # left as it was
        assert other.execute("SELECT * FROM fractal").fetchall() == [("x", "blue")]
    other.close()


def test_restore_into_a_database_without_its_driver(backed_up, cloud_env):
    result = run_cli("restore", "--container", backed_up[0], "--db",
                     "mssql+pymssql://user:pw@127.0.0.1/fractals", env=cloud_env)
    assert_clear_error(result, "cannot open the database mssql+pymssql://user:***@", "pymssql")
    assert ":pw@" not in result.stderr


def run_cli_bytes(*args: str | bytes, env: dict[str, str]) -> subprocess.CompletedProcess:
    """run_cli with raw bytes allowed in argv (what a terminal in another encoding sends)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ST_"))}
    return subprocess.run([sys.executable, "-m", "firstapp", "fractals", *args],
                          env={**base, **env}, capture_output=True, timeout=60, check=False)


@pytest.mark.parametrize(("args", "expected"), [
    (["--workers", "0"], "--workers must be at least 1 (got 0)"),
    (["--timeout", "0"], "--timeout must be a number of seconds above 0"),
    (["--timeout", "nan"], "--timeout must be a number of seconds above 0"),
    (["--container", ""], "the container name is empty"),
    (["--container", "a/b"], "contains '/', which Swift does not allow"),
    (["--container", "é" * 128], "the container name is 256 bytes of UTF-8; use 3 to 255 "
                                 "(Ceph's RADOS Gateway refuses shorter names, Swift and Ceph "
                                 "longer ones)"),
    (["--container", "cb"], "the container name is 2 bytes of UTF-8; use 3 to 255"),
])
@pytest.mark.parametrize("kind", ["backup", "restore"])
def test_bad_input_is_refused_before_anything_is_done(kind, args, expected, tmp_path,
                                                      in_process):
    base = command(kind, None, tmp_path) if kind == "restore" else [
        "backup", "--container", "errors", "--endpoint", "http://127.0.0.1:9"]
    result = in_process(*base, *args)  # no credentials: checked before them
    assert_clear_error(result, expected)
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "r.db").exists()


@pytest.mark.parametrize("kind", ["backup", "restore"])
def test_a_container_name_that_is_not_utf8(kind, tmp_path):
    extra = ["--endpoint", "http://127.0.0.1:9"] if kind == "backup" else [
        "--db", str(tmp_path / "r.db")]
    result = run_cli_bytes(kind, "--container", b"caf\xe9", *extra, env={})
    assert result.returncode == 1
    assert result.stderr == (b"error: the container name 'caf\\udce9' is not valid UTF-8 "
                             b"(it came from undecodable bytes); use a name in your "
                             b"terminal's UTF-8 encoding\n")


def test_restore_db_is_checked_up_front(tmp_path, in_process):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    cases = [
        ("sqlite://", "--db: sqlite:// is an in-memory database: nothing written to it would "
                      "be kept"),
        ("sqlite:///:memory:", "is an in-memory database"),
        (str(a_file / "sub" / "r.db"), f"--db: {a_file}/sub/r.db is below {a_file}, which is "
                                       "a file, not a directory"),
        (str(tmp_path), f"--db: {tmp_path} is a directory, not a database file"),
        ("postgresql://user:secret@host:port/db", "--db: postgresql://user:***@host:port/db is "
                                                  "not a database path or SQLAlchemy URL"),
    ]
    for db, expected in cases:
        result = in_process("restore", "--container", "ccc", "--db", db)
        assert_clear_error(result, expected)
        assert "secret" not in result.stderr
    assert a_file.read_text() == "not a directory"
