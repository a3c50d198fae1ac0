"""The app with ``--image-store swift://CONTAINER``: images as objects in the local cloud
(Swift, or Ceph with FIRSTAPP_BACKEND=ceph; Keystone sign-in too), records only in the
database; 503 JSON while the store is down, pending renders stored once it is back;
concurrent renders; and the database store, unchanged."""

from __future__ import annotations

import hashlib
import os
import signal
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select
from swiftclient import client as swift

from firstapp.cloud import backends, control, keystone
from firstapp.cloud.client import connection
from firstapp.cloud.fixtures import delete_container
from firstapp.fractals import client
from firstapp.fractals.backup import backup
from firstapp.fractals.db import make_engine, resolve_db_url
from firstapp.fractals.models import READY, Fractal
from firstapp.fractals.server import ThreadedServer
from firstapp.fractals.transfer import SwiftCredentials, connector, connector_from_env
from firstapp.net import free_port, wait_until
from tests.backup.conftest import run_cli

from .helpers import PARAMS


def creds(cloud) -> SwiftCredentials:
    return SwiftCredentials(cloud.auth_url, cloud.username, cloud.password)


def images_in_db(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(Fractal)
                               .where(Fractal.image.is_not(None)))
    finally:
        engine.dispose()


def serve(tmp_path: Path, cloud, container: str, **options) -> ThreadedServer:
    """An app on a new database keeping its images in ``cloud``'s ``container``."""
    timeout = options.pop("store_timeout", 10.0)
    return ThreadedServer(resolve_db_url(tmp_path / "fractals.db"),
                          image_store=f"swift://{container}", store_timeout=timeout,
                          conn_factory=connector(creds(cloud), timeout), **options)


def db_url_of(server: ThreadedServer) -> str:
    return str(server.app.extensions["fractals"].engine.url)


def make(endpoint: str, n: int, seed: int = 1) -> list[dict]:
    return client.create_fractals(endpoint, n, seed=seed, width=48, height=40, timeout=120,
                                  progress=False)


def check_served_from(conn: swift.Connection, endpoint: str, container: str,
                      records: list[dict]) -> None:
    """Every image the app serves is byte for byte the store's object, with the record's
    SHA-256, as content type and checksum metadata say."""
    for record in records:
        uuid = record["uuid"]
        response = requests.get(f"{endpoint}/fractal/{uuid}", timeout=30)
        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == f'"{record["checksum"]}"'
        assert response.headers["Content-Type"] == "image/png"
        headers, body = conn.get_object(container, uuid)
        assert response.content == body
        assert hashlib.sha256(body).hexdigest() == record["checksum"]
        assert headers["content-type"] == "image/png"
        assert headers["x-object-meta-checksum"] == record["checksum"]
        assert headers["etag"] == hashlib.md5(body).hexdigest()


@pytest.fixture
def store_container(swift_conn):
    name = f"images-{uuidlib.uuid4().hex[:10]}"
    yield name
    delete_container(swift_conn, name)


def test_images_live_in_the_container_not_the_database(local_cloud, swift_conn,
                                                      store_container, tmp_path):
    server = serve(tmp_path, local_cloud, store_container)
    try:
        records = make(server.endpoint, 6)
        assert all(r["status"] == READY for r in records)
        check_served_from(swift_conn, server.endpoint, store_container, records)
        _, listing = swift_conn.get_container(store_container)
        assert sorted(o["name"] for o in listing) == sorted(r["uuid"] for r in records)
        assert images_in_db(db_url_of(server)) == 0

        first = records[0]
        url = f"{server.endpoint}/fractal/{first['uuid']}"
        cached = requests.get(url, headers={"If-None-Match": f'"{first["checksum"]}"'},
                              timeout=10)
        assert cached.status_code == 304 and cached.content == b""
        assert requests.get(url, headers={"If-None-Match": '"0"'}, timeout=10).status_code \
            == 200
        head = requests.head(url, timeout=10)
        assert int(head.headers["Content-Length"]) == first["size"]

        where = requests.get(f"{server.endpoint}/v1/image-store", timeout=10).json()
        assert where == {"image_store": f"swift://{store_container}",
                         "container": store_container,
                         "storage_url": local_cloud.storage_url}
        gallery = requests.get(f"{server.endpoint}/", timeout=10)
        assert gallery.status_code == 200
        assert all(f"/fractal/{r['uuid']}" in gallery.text for r in records)

        # deleting a fractal deletes its object
        assert requests.delete(f"{server.endpoint}/v1/fractal/{first['uuid']}",
                               timeout=10).status_code == 204
        assert wait_until(lambda: first["uuid"] not in {
            o["name"] for o in swift_conn.get_container(store_container)[1]}, 20)
        # a changed fractal is rendered again, and its object replaced
        second = records[1]
        changed = requests.put(f"{server.endpoint}/v1/fractal/{second['uuid']}",
                               json={"iterations": 64}, timeout=10).json()
        assert changed["status"] == "pending"
        now = _wait_ready(server.endpoint, second["uuid"])
        assert now["checksum"] != second["checksum"]
        check_served_from(swift_conn, server.endpoint, store_container, [now])
    finally:
        server.stop()


def _wait_ready(endpoint: str, uuid: str) -> dict:
    record: dict = {}

    def ready() -> bool:
        record.update(client.get_fractal(endpoint, uuid))
        return record["status"] == READY

    assert wait_until(ready, 60)
    return record


def test_database_store_is_the_default_and_unchanged(fractals_app_factory, swift_conn):
    app = fractals_app_factory(3, workers=2)
    where = requests.get(f"{app.endpoint}/v1/image-store", timeout=10).json()
    assert where == {"image_store": "db"}
    assert images_in_db(app.db_url) == 3
    records = make(app.endpoint, 2, seed=5)
    assert images_in_db(app.db_url) == 5
    for record in records:
        body = requests.get(f"{app.endpoint}/fractal/{record['uuid']}", timeout=10).content
        assert hashlib.sha256(body).hexdigest() == record["checksum"]


def test_store_stopped_mid_run(cloud_factory, tmp_path):
    """Stopped store: images 503 with JSON, the listing works, new fractals stay pending;
    after the restart they are stored, and nothing is lost."""
    cloud = cloud_factory()
    data_dir = cloud.layout.root
    container = "fractal-images"
    server = serve(tmp_path, cloud, container, store_timeout=3.0)
    try:
        before = make(server.endpoint, 3)
        backends.stop(data_dir)

        image = requests.get(f"{server.endpoint}/fractal/{before[0]['uuid']}", timeout=60)
        assert image.status_code == 503
        assert image.headers["Content-Type"] == "application/json"
        assert f"swift://{container} is not available" in image.json()["message"]
        listing = requests.get(f"{server.endpoint}/v1/fractal", timeout=10)
        assert listing.status_code == 200 and listing.json()["num_results"] == 3
        assert requests.get(f"{server.endpoint}/", timeout=10).status_code == 200

        pending = [client.create_fractal(server.endpoint, PARAMS)["uuid"],
                   client.create_fractal(server.endpoint, {**PARAMS, "iterations": 50})["uuid"]]
        pool = server.app.extensions["fractals"].pool
        assert wait_until(lambda: pool.waiting == 2, 60)  # rendered, could not be stored
        assert {client.get_fractal(server.endpoint, u)["status"] for u in pending} == \
            {"pending"}

        backends.start(data_dir)
        after = [_wait_ready(server.endpoint, uuid) for uuid in pending]
        conn = connection(cloud.auth_url, cloud.username, cloud.password)
        check_served_from(conn, server.endpoint, container, before + after)
        assert images_in_db(db_url_of(server)) == 0
    finally:
        server.stop()


def test_hung_store_answers_503_within_the_timeout(cloud_factory, tmp_path):
    """A store that accepts connections but never answers (SIGSTOP) costs one timeout."""
    cloud = cloud_factory(backend="swift")
    server = serve(tmp_path, cloud, "hung-images", store_timeout=1.0)
    try:
        record = make(server.endpoint, 1)[0]
        paused = [cloud.pid, *control.worker_pids(cloud.layout)]  # the server and its workers
        for pid in paused:
            os.kill(pid, signal.SIGSTOP)
        try:
            # the app must answer long before this client gives up
            response = requests.get(f"{server.endpoint}/fractal/{record['uuid']}", timeout=30)
            assert response.status_code == 503
            assert "did not answer within 1 s" in response.json()["message"]
            assert requests.get(f"{server.endpoint}/v1/fractal", timeout=10).status_code == 200
        finally:
            for pid in paused:
                os.kill(pid, signal.SIGCONT)
        assert requests.get(f"{server.endpoint}/fractal/{record['uuid']}",
                            timeout=30).status_code == 200
    finally:
        server.stop()


def test_concurrent_renders(local_cloud, swift_conn, store_container, tmp_path):
    server = serve(tmp_path, local_cloud, store_container, workers=4)
    try:
        params = [{**PARAMS, "iterations": 20 + i} for i in range(24)]
        with ThreadPoolExecutor(8) as pool:
            created = list(pool.map(lambda p: client.create_fractal(server.endpoint, p),
                                    params))
        # change some while they render: only the last parameters' image may remain
        for record in created[:6]:
            requests.put(f"{server.endpoint}/v1/fractal/{record['uuid']}",
                         json={"iterations": 300}, timeout=10).raise_for_status()
        records = [_wait_ready(server.endpoint, r["uuid"]) for r in created]
        assert all(r["iterations"] == 300 for r in records[:6])
        check_served_from(swift_conn, server.endpoint, store_container, records)
        _, listing = swift_conn.get_container(store_container)
        assert sorted(o["name"] for o in listing) == sorted(r["uuid"] for r in records)
        assert images_in_db(db_url_of(server)) == 0
    finally:
        server.stop()


def test_keystone_store(keystone_cloud, monkeypatch, tmp_path):
    """Signed in through Keystone from the OS_* settings, as `serve` does."""
    for name in [n for n in os.environ if n.startswith(("OS_", "ST_"))]:
        monkeypatch.delenv(name)
    for name, value in keystone_cloud.env().items():
        monkeypatch.setenv(name, value)
    container = f"ks-images-{uuidlib.uuid4().hex[:8]}"
    server = ThreadedServer(resolve_db_url(tmp_path / "fractals.db"),
                            image_store=f"swift://{container}")
    conn = keystone.swift_connection(keystone_cloud.identity)
    target = f"ks-backup-{uuidlib.uuid4().hex[:8]}"
    try:
        records = make(server.endpoint, 3)
        check_served_from(conn, server.endpoint, container, records)
        assert images_in_db(db_url_of(server)) == 0
        # the backup finds the app's container in the account Keystone's catalog names
        report = backup(server.endpoint, connector_from_env(), target)
        assert (report.copied, report.uploaded, report.ok) == (3, 0, True), report.lines()
        for record in records:
            body = conn.get_object(target, record["uuid"])[1]
            assert hashlib.sha256(body).hexdigest() == record["checksum"]
    finally:
        server.stop()
        delete_container(conn, container)
        delete_container(conn, target)


def test_serve_in_the_background_on_a_container(local_cloud, swift_conn, store_container,
                                                tmp_path):
    db = str(tmp_path / "bg.db")
    port = str(free_port())
    started = run_cli("serve", "--background", "--db", db, "--port", port,
                      "--image-store", f"swift://{store_container}", env=local_cloud.env())
    assert started.returncode == 0, started.stderr
    assert f"images in swift://{store_container}" in started.stdout
    try:
        endpoint = f"http://127.0.0.1:{port}"
        records = make(endpoint, 2)
        check_served_from(swift_conn, endpoint, store_container, records)
        assert images_in_db(resolve_db_url(db)) == 0
    finally:
        stopped = run_cli("stop", "--db", db, env={})
        assert stopped.returncode == 0, stopped.stderr


def test_serve_mistakes_are_one_line(cloud_factory, local_cloud, tmp_path):
    stopped_cloud = cloud_factory()
    backends.stop(stopped_cloud.layout.root)
    for env, option, expected in [
        (local_cloud.env(), "s3://bucket", "error: --image-store 's3://bucket': use db"),
        (local_cloud.env(), "swift://a/b", "error: --image-store swift://a/b: the container"),
        (local_cloud.env(), "swift://", "error: --image-store swift://: the container name is "
         "empty; pass --image-store swift://CONTAINER\n"),
        ({}, "swift://fractal-images", "error: OS_AUTH_URL, OS_USERNAME, OS_PASSWORD are not"),
        (stopped_cloud.env(), "swift://fractal-images", "error: "),
    ]:
        db = str(tmp_path / f"{uuidlib.uuid4().hex}.db")
        result = run_cli("serve", "--background", "--db", db, "--port", str(free_port()),
                         "--image-store", option, env=env)
        assert result.returncode == 1, result.stdout
        assert result.stderr.startswith(expected), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not Path(db + ".pid").exists()  # nothing started


def test_images_not_moved_yet_are_served_from_the_database(local_cloud, swift_conn,
                                                          store_container, tmp_path):
    """An app started on a container serves the images still in its database (before or
    while `move-images` runs) from there, and stores only new ones in the container."""
    from firstapp.fractals.seed import seed_database

    db_url = resolve_db_url(tmp_path / "fractals.db")
    old = seed_database(db_url, 3, seed=9, width=32, height=32)
    server = ThreadedServer(db_url, image_store=f"swift://{store_container}",
                            conn_factory=connector(creds(local_cloud)))
    try:
        for record in old:
            body = requests.get(f"{server.endpoint}/fractal/{record['uuid']}",
                                timeout=30).content
            assert hashlib.sha256(body).hexdigest() == record["checksum"]
        new = make(server.endpoint, 2)
        check_served_from(swift_conn, server.endpoint, store_container, new)
        assert sorted(o["name"] for o in swift_conn.get_container(store_container)[1]) == \
            sorted(r["uuid"] for r in new)
        assert images_in_db(db_url) == 3
    finally:
        server.stop()
