"""A hostile app and a failing store: per-item refusals, escaped output, bounded waits,
a run that stops at the first store-wide failure, one ``error:`` line each."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import tarfile
import uuid as uuidlib

import pytest
from swiftclient.exceptions import ClientException

from firstapp.cloud import control
from firstapp.fractals.backup import backup
from firstapp.fractals.db import resolve_db_url
from firstapp.fractals.restore import restore
from firstapp.fractals.transfer import (
    MANIFEST_NAME,
    StoreUnavailable,
    SwiftCredentials,
    connector,
)
from tests.backup.conftest import object_names, read_manifest_json, run_cli
from tests.backup.hostile import AppHandler, Behaviour, StoreHandler, record_for, serve

ESC = "\x1b"


def hostile_env(store: str) -> dict[str, str]:
    return {"OS_AUTH_URL": f"{store}/auth/v1.0", "OS_USERNAME": "u", "OS_PASSWORD": "p"}


def assert_one_error_line(result, *expected: str) -> str:
    """The last stderr line is the one ``error:`` line; no traceback, no raw escape."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert ESC not in result.stderr + result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), result.stderr
    for text in expected:
        assert text in last, last
    return last


def test_backup_refuses_names_that_are_not_canonical_uuids(swift_conn, container, cloud_env):
    good = str(uuidlib.uuid4())
    upper = str(uuidlib.uuid4()).upper()
    images = {good: b"good image", "../victim/pwned": b"pwned", upper: b"upper",
              f"{ESC}[2J{ESC}]0;owned{chr(7)}": b"escape"}
    behaviour = Behaviour(records=[record_for(name, image) for name, image in images.items()],
                          images=images)
    with serve(AppHandler, behaviour) as app:
        result = run_cli("backup", "--container", container, "--endpoint", app,
                         env=cloud_env)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert ESC not in result.stderr + result.stdout  # escape sequences never reach the terminal
    assert "refused: ../victim/pwned: the app gave this as a fractal's uuid, but it is not a " \
        "uuid in canonical form" in result.stderr
    assert "refused: \\x1b[2J\\x1b]0;owned\\x07: " in result.stderr
    assert f"refused: {upper}: " in result.stderr
    assert "1 uploaded, 0 skipped (already stored), 0 pending (not rendered), 3 refused" \
        in result.stdout
    assert object_names(swift_conn, container) == [good]
    assert list(read_manifest_json(swift_conn, container)["objects"]) == [good]
    with pytest.raises(ClientException) as nothing:  # nothing written outside the container
        swift_conn.head_container("victim")
    assert nothing.value.http_status == 404
    # the app was only ever asked for the good image
    assert [path for method, path in behaviour.requests if path.startswith("/fractal/")] == [
        f"/fractal/{good}"]


def tar_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize("batch", ["a name not asked for", "a damaged image", "too many bytes",
                                   "cut short", "no such route"])
def test_images_a_batch_gets_wrong_are_read_one_by_one(batch, conn_factory, swift_conn,
                                                       container):
    """Whatever GET /v1/fractal-images answers, each image stored is the one its record
    describes: a batch that breaks the rules is dropped, an image that does not match is
    read again on its own."""
    images = {str(uuidlib.uuid4()): f"image {n}".encode() for n in range(3)}
    _, second, third = images
    members = {f"{uuid}.png": data for uuid, data in images.items()}
    answer, alone = {
        "a name not asked for": (tar_of({**members, "../victim.png": b"x"}), images),
        "a damaged image": (tar_of({**members, f"{second}.png": b"image X"}), [second]),
        "too many bytes": (tar_of({**members, f"{third}.png": b"image 2, and more"}), images),
        "cut short": (tar_of(members)[:700], images),
        "no such route": (None, images),
    }[batch]
    behaviour = Behaviour(records=[record_for(u, d) for u, d in images.items()],
                          images=images, images_tar=answer)
    with serve(AppHandler, behaviour) as app:
        report = backup(app, conn_factory, container)
    assert (report.uploaded, report.failed, report.ok) == (3, 0, True), report.lines()
    for uuid, data in images.items():
        assert swift_conn.get_object(container, uuid)[1] == data
        assert read_manifest_json(swift_conn, container)["objects"][uuid]["sha256"] == \
            hashlib.sha256(data).hexdigest()
    asked = [path for method, path in behaviour.requests if method == "GET"]
    assert asked.count("/v1/fractal-images") == 1
    assert sorted(p for p in asked if p.startswith("/fractal/")) == sorted(
        f"/fractal/{uuid}" for uuid in alone)


def test_an_app_that_answers_something_else_than_json(cloud_env):
    behaviour = Behaviour(listing_body=b"<html>It works!</html>")
    with serve(AppHandler, behaviour) as app:
        result = run_cli("backup", "--container", "never-made", "--endpoint", app,
                         env=cloud_env)
    assert_one_error_line(result, f"the Fractals app at {app} answered the listing with "
                                  "something that is not JSON")


def test_an_app_that_answers_json_of_another_shape(cloud_env):
    behaviour = Behaviour(listing_body=b'{"objects": [{"uuid": 7}], "num_results": "x"}')
    with serve(AppHandler, behaviour) as app:
        result = run_cli("backup", "--container", "never-made", "--endpoint", app,
                         env=cloud_env)
    assert_one_error_line(result, "answered the listing with JSON that is not a Fractals "
                                  "listing")


def test_an_app_that_never_answers(cloud_env, swift_conn):
    behaviour = Behaviour(hang={"GET /v1/fractal"})
    with serve(AppHandler, behaviour) as app:
        result = run_cli("backup", "--container", "never-made", "--endpoint", app,
                         "--timeout", "1", env=cloud_env)
    assert_one_error_line(result, f"the Fractals app at {app} did not answer GET /v1/fractal "
                                  "within 1 s")
    with pytest.raises(ClientException):
        swift_conn.head_container("never-made")


def test_an_app_that_stops_answering_stops_the_backup(cloud_env, swift_conn, container):
    behaviour = five_fractals()
    behaviour.hang = {"GET /fractal"}  # the listing answers, then the app hangs
    with serve(AppHandler, behaviour) as app:
        result = run_cli("backup", "--container", container, "--endpoint", app,
                         "--timeout", "1", "--workers", "1", env=cloud_env)
    assert_one_error_line(result, f"the Fractals app at {app} did not answer GET /fractal/",
                          "within 1 s (is it overloaded, or stopped?); stopped here, nothing "
                          "was lost")
    assert len(image_requests(behaviour)) == 1  # not one timeout per fractal
    assert object_names(swift_conn, container) == []


def image_requests(behaviour: Behaviour) -> list[str]:
    return [path for _, path in behaviour.requests if path.startswith("/fractal/")]


def five_fractals() -> Behaviour:
    images = {str(uuidlib.uuid4()): f"image {n}".encode() for n in range(5)}
    return Behaviour(records=[record_for(u, i) for u, i in images.items()], images=images)


def test_a_full_store_stops_the_backup(tmp_path):
    app_behaviour, store_behaviour = five_fractals(), Behaviour(put_status=507)
    with serve(AppHandler, app_behaviour) as app, serve(StoreHandler, store_behaviour) as store:
        result = run_cli("backup", "--container", "ccc", "--endpoint", app, "--workers", "1",
                         env=hostile_env(store))
    assert_one_error_line(result, f"the store is full: the object store at {store}/v1/"
                                  "AUTH_hostile answered 507 Insufficient Storage while "
                                  "uploading fractal ", "nothing was lost")
    assert "(stopped early)" in result.stdout
    object_puts = [p for m, p in store_behaviour.requests if m == "PUT" and p.count("/") > 3]
    assert len(object_puts) == 1  # stopped at once: no retry, no other fractal tried
    assert not any(m == "DELETE" for m, _ in store_behaviour.requests)


def test_a_hung_store_stops_the_backup_within_its_timeout():
    app_behaviour, store_behaviour = five_fractals(), Behaviour(hang={"PUT"})
    with serve(AppHandler, app_behaviour) as app, serve(StoreHandler, store_behaviour) as store:
        result = run_cli("backup", "--container", "ccc", "--endpoint", app, "--workers", "1",
                         "--timeout", "1", env=hostile_env(store))
    assert_one_error_line(result, f"the object store at {store}/v1/AUTH_hostile did not "
                                  "answer within 1 s while uploading fractal ")
    object_puts = [p for m, p in store_behaviour.requests if m == "PUT" and p.count("/") > 3]
    assert len(object_puts) == 1


@pytest.fixture
def stoppable_cloud(cloud_factory):
    """A cloud of its own, resumed (SIGCONT) whatever the test did to it."""
    cloud = cloud_factory()
    yield cloud
    signal_store(cloud, signal.SIGCONT)


def signal_store(cloud, signum: int) -> None:
    """Send ``signum`` to every process that answers the store's requests: the server and,
    for Swift, its worker processes."""
    for pid in [cloud.pid, *(control.worker_pids(cloud.layout)
                             if isinstance(cloud, control.CloudInfo) else [])]:
        os.kill(pid, signum)


def test_a_stopped_store_ends_in_a_clear_error(stoppable_cloud, fractals_app_factory,
                                               tmp_path):
    app = fractals_app_factory(3, seed=2, width=24, height=24)
    connect = connector(SwiftCredentials(stoppable_cloud.auth_url, stoppable_cloud.username,
                                         stoppable_cloud.password), timeout=1)
    report = backup(app.endpoint, connect, "paused", timeout=1)
    assert report.ok and report.uploaded == 3

    signal_store(stoppable_cloud, signal.SIGSTOP)
    try:
        with pytest.raises(StoreUnavailable, match=r"the object store at http://127\.0\.0\.1:"
                           r"\d+/v1/AUTH_\w+ did not answer within 1 s while listing "
                           r"container 'paused'"):
            backup(app.endpoint, connect, "paused", timeout=1)
        with pytest.raises(StoreUnavailable, match=r"did not answer within 1 s while listing"):
            restore(connect, "paused", resolve_db_url(tmp_path / "r.db"), timeout=1)
    finally:
        signal_store(stoppable_cloud, signal.SIGCONT)

    # resumed, it answers again and the backup is whole
    again = restore(connect, "paused", resolve_db_url(tmp_path / "r.db"))
    assert (again.restored, again.ok) == (3, True)


def test_restore_escapes_hostile_object_names(swift_conn, container, cloud_env, tmp_path,
                                              fractals_app_factory, conn_factory):
    app = fractals_app_factory(1, seed=9, width=16, height=16)
    backup(app.endpoint, conn_factory, container)
    record = app.fractals[0]
    headers = swift_conn.head_object(container, record["uuid"])
    metadata = {k: v for k, v in headers.items() if k.startswith("x-object-meta-")}
    _, image = swift_conn.get_object(container, record["uuid"])
    # another program's object with a terminal escape sequence in its name
    swift_conn.put_object(container, f"{ESC}[31mred{ESC}[0m", b"not ours")
    # a copy of a backup under a name that is not a canonical uuid, and one upper-cased
    swift_conn.put_object(container, f"victim/{ESC}[2J", image, headers=metadata)
    swift_conn.put_object(container, record["uuid"].upper(), image, headers=metadata)

    result = run_cli("restore", "--container", container, "--db", str(tmp_path / "r.db"),
                     env=cloud_env)

    assert result.returncode == 1, result.stderr
    assert ESC not in result.stderr + result.stdout
    assert "warning: \\x1b[31mred\\x1b[0m: not a fractal backup; skipped" in result.stderr
    assert "refused: victim/\\x1b[2J: it carries fractal metadata but its name is not a uuid in " \
        "canonical form; not restored" in result.stderr
    assert f"refused: {record['uuid'].upper()}: named by an upper-case uuid" in result.stderr
    assert f"(copy it to {record['uuid']} to restore it)" in result.stderr
    assert "1 restored" in result.stdout and "2 refused" in result.stdout
    assert MANIFEST_NAME not in result.stderr


def test_a_full_local_cloud_stops_the_backup_and_loses_nothing(cloud_factory,
                                                              fractals_app_factory):
    from firstapp.cloud import faults
    from firstapp.fractals import client

    cloud = cloud_factory(backend="swift")  # the full-disk fault is Swift's (fallocate_reserve)
    app = fractals_app_factory(4, seed=3, width=24, height=24)
    first = run_cli("backup", "--container", "full", "--endpoint", app.endpoint,
                    env=cloud.env())
    assert first.returncode == 0, first.stderr
    newer = client.create_fractals(app.endpoint, 2, seed=4, width=24, height=24,
                                   progress=False)

    with faults.full(cloud.layout.root) as full:
        result = run_cli("backup", "--container", "full", "--endpoint", app.endpoint,
                         env=full.env())
        assert_one_error_line(result, "the store is full: the object store at ",
                              "answered 507 Insufficient Storage while uploading fractal ",
                              "nothing was lost")

    conn = swift_connection(cloud)
    assert sorted(object_names(conn, "full")) == sorted(app.uuids)  # the first backup, whole
    assert sorted(read_manifest_json(conn, "full")["objects"]) == sorted(app.uuids)
    again = run_cli("backup", "--container", "full", "--endpoint", app.endpoint,
                    env=cloud.env())
    assert again.returncode == 0, again.stderr
    assert "2 uploaded, 4 skipped" in again.stdout
    assert sorted(object_names(conn, "full")) == sorted(
        app.uuids + [r["uuid"] for r in newer])


def swift_connection(cloud):
    from firstapp.cloud.client import connection

    return connection(cloud.auth_url, cloud.username, cloud.password)
