"""Backup of an app that keeps its images in Swift: server-side COPY, checked by ETag
against the app's checksums, the manifest as always; restore into a Swift-backed app puts
objects into its container; an app on its database is still backed up client-side."""

from __future__ import annotations

import hashlib
import json
import uuid as uuidlib

import pytest
import requests

from firstapp.cloud.fixtures import delete_container
from firstapp.fractals import client
from firstapp.fractals.backup import backup
from firstapp.fractals.db import resolve_db_url
from firstapp.fractals.restore import restore
from firstapp.fractals.server import ThreadedServer
from firstapp.fractals.transfer import MANIFEST_NAME, SwiftCredentials, connector
from tests.backup.conftest import object_names, object_sha256, run_cli

COUNT = 10


def creds(cloud) -> SwiftCredentials:
    return SwiftCredentials(cloud.auth_url, cloud.username, cloud.password)


@pytest.fixture(scope="module")
def swift_app(local_cloud, tmp_path_factory):
    """An app keeping its images in the local cloud's container ``app-images-...``."""
    container = f"app-images-{uuidlib.uuid4().hex[:8]}"
    server = ThreadedServer(resolve_db_url(tmp_path_factory.mktemp("swift-app") / "f.db"),
                            image_store=f"swift://{container}",
                            conn_factory=connector(creds(local_cloud)))
    records = client.create_fractals(server.endpoint, COUNT, seed=3, width=40, height=40,
                                     timeout=120, progress=False)
    yield server, container, records
    server.stop()
    delete_container(connector(creds(local_cloud))(), container)


@pytest.fixture
def fresh(swift_conn):
    names: list[str] = []

    def make(prefix: str) -> str:
        names.append(f"{prefix}-{uuidlib.uuid4().hex[:8]}")
        return names[-1]

    yield make
    for name in names:
        delete_container(swift_conn, name)


def test_backup_copies_server_side_and_restore_fills_a_swift_app(
        swift_app, local_cloud, swift_conn, fresh, tmp_path):
    server, source, records = swift_app
    factory = connector(creds(local_cloud))
    target = fresh("srv-backup")
    report = backup(server.endpoint, factory, target, workers=4)
    assert report.ok, report.lines()
    assert (report.copied, report.uploaded, report.bytes_uploaded) == (COUNT, 0, 0)
    assert report.source == source
    assert "10 copied in the store (server-side)" in report.summary()
    by_uuid = {r["uuid"]: r for r in records}
    assert sorted(object_names(swift_conn, target)) == sorted(by_uuid)
    manifest = json.loads(swift_conn.get_object(target, MANIFEST_NAME)[1])
    for uuid, record in by_uuid.items():
        headers, sha256 = object_sha256(swift_conn, target, uuid)
        assert sha256 == record["checksum"]
        assert headers["x-object-meta-width"] == "40"
        assert headers["content-type"] == "image/png"
        source_etag = swift_conn.head_object(source, uuid)["etag"]
        assert headers["etag"] == source_etag == manifest["objects"][uuid]["md5"]
        assert manifest["objects"][uuid]["sha256"] == record["checksum"]

    again = backup(server.endpoint, factory, target, workers=4)
    assert (again.copied, again.skipped, again.ok) == (0, COUNT, True)

    # restore into an app that keeps its images in another container
    store = fresh("restored-images")
    db_url = resolve_db_url(tmp_path / "restored.db")
    restored = restore(factory, target, db_url, workers=4, image_store=f"swift://{store}")
    assert restored.ok and restored.restored == COUNT, restored.lines()
    assert sorted(object_names(swift_conn, store)) == sorted(by_uuid)
    app = ThreadedServer(db_url, image_store=f"swift://{store}", conn_factory=factory)
    try:
        for uuid, record in by_uuid.items():
            body = requests.get(f"{app.endpoint}/fractal/{uuid}", timeout=30).content
            assert hashlib.sha256(body).hexdigest() == record["checksum"]
            assert object_sha256(swift_conn, store, uuid)[1] == record["checksum"]
    finally:
        app.stop()
    from tests.fractals.test_image_store_swift import images_in_db

    assert images_in_db(db_url) == 0


def test_the_cli_says_it_copied_server_side(swift_app, local_cloud, fresh):
    server, _, _ = swift_app
    target = fresh("cli-backup")
    result = run_cli("backup", "--container", target, "--endpoint", server.endpoint,
                     env=local_cloud.env())
    assert result.returncode == 0, result.stderr
    assert f"0 uploaded, {COUNT} copied in the store (server-side), 0 skipped" in result.stdout


def test_a_source_object_that_is_not_the_record_is_not_copied(local_cloud, swift_conn,
                                                              fresh, tmp_path):
    source = fresh("app-images")
    factory = connector(creds(local_cloud))
    server = ThreadedServer(resolve_db_url(tmp_path / "f.db"), image_store=f"swift://{source}",
                            conn_factory=factory)
    try:
        records = client.create_fractals(server.endpoint, 3, seed=8, width=32, height=32,
                                         timeout=120, progress=False)
        bad = records[0]["uuid"]
        swift_conn.put_object(source, bad, b"someone else's bytes", content_type="image/png",
                              headers={"X-Object-Meta-Checksum": "0" * 64})
        target = fresh("srv-backup")
        report = backup(server.endpoint, factory, target)
        assert not report.ok
        assert (report.copied, report.failed) == (2, 1)
        assert [name for name, _ in report.failures] == [bad]
        assert bad not in object_names(swift_conn, target)
    finally:
        server.stop()


def test_an_app_on_its_database_is_backed_up_client_side(app60, conn_factory, fresh):
    target = fresh("db-backup")
    report = backup(app60.endpoint, conn_factory, target, workers=8)
    assert report.source is None
    assert (report.uploaded, report.copied, report.ok) == (len(app60.fractals), 0, True)
    assert "copied in the store" not in report.summary()
