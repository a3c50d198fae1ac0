"""The manifest: what complete means for a restore, and how a re-run decides what to skip."""

from __future__ import annotations

import hashlib
import uuid as uuidlib

from sqlalchemy import update

from firstapp.fractals.backup import backup
from firstapp.fractals.db import make_engine, resolve_db_url
from firstapp.fractals.models import Fractal
from firstapp.fractals.restore import restore
from firstapp.fractals.transfer import MANIFEST_NAME
from tests.backup.conftest import object_names, object_sha256, read_manifest_json, run_cli
from tests.backup.hostile import AppHandler, Behaviour, record_for, serve


def image_requests(behaviour: Behaviour) -> list[str]:
    return [path for method, path in behaviour.requests if path.startswith("/fractal/")]


def test_a_rerun_decides_from_the_listing_and_the_manifest(conn_factory, container, swift_conn):
    """Skipping needs no request per object when the manifest binds the app's checksum to
    the stored ETag; without the manifest, each image is read from the app and hashed."""
    images = {str(uuidlib.uuid4()): f"image {n}".encode() for n in range(4)}
    behaviour = Behaviour(records=[record_for(u, i) for u, i in images.items()], images=images)
    with serve(AppHandler, behaviour) as app:
        first = backup(app, conn_factory, container)
        assert (first.uploaded, first.ok) == (4, True)
        behaviour.requests.clear()

        second = backup(app, conn_factory, container)
        assert (second.uploaded, second.skipped, second.bytes_uploaded) == (0, 4, 0)
        assert image_requests(behaviour) == []  # decided without reading one image

        swift_conn.delete_object(container, MANIFEST_NAME)  # as a backup made before manifests
        third = backup(app, conn_factory, container)
        assert (third.uploaded, third.skipped) == (0, 4)
        assert sorted(image_requests(behaviour)) == sorted(f"/fractal/{u}" for u in images)
    assert sorted(read_manifest_json(swift_conn, container)["objects"]) == sorted(images)


def test_a_changed_image_in_the_app_is_uploaded_again(fractals_app_factory, conn_factory,
                                                      container, swift_conn):
    app = fractals_app_factory(3, seed=8, width=24, height=24)
    backup(app.endpoint, conn_factory, container)
    changed, source = app.fractals[0], app.fractals[1]
    engine = make_engine(app.db_url)
    with engine.begin() as db:  # the app now holds another (valid) image under this uuid
        image = db.execute(Fractal.__table__.select().where(
            Fractal.uuid == source["uuid"])).mappings().one()["image"]
        db.execute(update(Fractal).where(Fractal.uuid == changed["uuid"]).values(
            image=image, checksum=source["checksum"], size=source["size"]))
    engine.dispose()

    report = backup(app.endpoint, conn_factory, container)

    assert (report.uploaded, report.skipped, report.failed) == (1, 2, 0)
    assert object_sha256(swift_conn, container, changed["uuid"])[1] == source["checksum"]
    entry = read_manifest_json(swift_conn, container)["objects"][changed["uuid"]]
    assert (entry["sha256"], entry["md5"]) == (source["checksum"],
                                                hashlib.md5(image).hexdigest())


def test_restore_names_what_the_manifest_expects_and_the_store_lacks(
        fractals_app_factory, conn_factory, container, swift_conn, cloud_env, tmp_path):
    app = fractals_app_factory(4, seed=7, width=24, height=24)
    backup(app.endpoint, conn_factory, container)
    lost = app.fractals[2]["uuid"]
    swift_conn.delete_object(container, lost)

    result = run_cli("restore", "--container", container, "--db", str(tmp_path / "r.db"),
                     "--settle", "0.5", env=cloud_env)

    assert result.returncode == 1, result.stderr
    assert f"missing: {lost}: the backup's manifest names it, but the container does not " \
        "hold it; not restored" in result.stderr
    assert "3 restored" in result.stdout and "1 missing" in result.stdout
    assert "listing still lacks 1 object(s) the manifest names" in result.stderr


def test_restore_without_a_manifest_says_so(fractals_app_factory, conn_factory, container,
                                            swift_conn, tmp_path):
    app = fractals_app_factory(2, seed=7, width=24, height=24)
    backup(app.endpoint, conn_factory, container)
    swift_conn.delete_object(container, MANIFEST_NAME)

    report = restore(conn_factory, container, resolve_db_url(tmp_path / "r.db"))

    assert (report.restored, report.ok, report.manifest) == (2, True, False)
    assert report.lines() == [
        f"warning: container {container!r} has no backup manifest (a backup made before "
        "manifests, or one that never finished): restoring what the listing shows, so "
        "objects missing from it cannot be noticed"]


def test_a_damaged_manifest_fails_the_restore_but_restores_what_is_there(
        fractals_app_factory, conn_factory, container, swift_conn, tmp_path):
    app = fractals_app_factory(2, seed=7, width=24, height=24)
    backup(app.endpoint, conn_factory, container)
    swift_conn.put_object(container, MANIFEST_NAME, b"{not json")

    report = restore(conn_factory, container, resolve_db_url(tmp_path / "r.db"))

    assert (report.restored, report.failed, report.ok) == (2, 1, False)
    assert report.lines()[0].startswith(f"failed: {MANIFEST_NAME}: the backup's manifest is "
                                        "damaged (it is not JSON")
    # and the next backup replaces it with a good one
    again = backup(app.endpoint, conn_factory, container)
    assert (again.uploaded, again.skipped, again.ok) == (0, 2, True)
    assert sorted(read_manifest_json(swift_conn, container)["objects"]) == sorted(app.uuids)
    assert sorted(object_names(swift_conn, container)) == sorted(app.uuids)


def test_restore_reads_a_lagging_listing_again_and_fetches_the_rest_by_name(
        fractals_app_factory, conn_factory, container, swift_conn, tmp_path):
    """The listing lags behind the objects (as Swift's does under load): one object shows
    up on the third reading, another never; both are restored. The store is a copy of a
    real backup served by a small server whose listing leaves them out."""
    from firstapp.fractals.transfer import SwiftCredentials, connector
    from tests.backup.hostile import StoreHandler

    app = fractals_app_factory(3, seed=5, width=24, height=24)
    backup(app.endpoint, conn_factory, container)
    objects = {name: swift_conn.get_object(container, name)
               for name in [*app.uuids, MANIFEST_NAME]}
    late, never, _ = app.uuids
    behaviour = Behaviour(objects=objects, unlisted={late: 2, never: -1})

    with serve(StoreHandler, behaviour) as store:
        connect = connector(SwiftCredentials(f"{store}/auth/v1.0", "u", "p"))
        report = restore(connect, "ccc", resolve_db_url(tmp_path / "r.db"), settle=2)

    assert (report.restored, report.ok) == (3, True), report.lines()
    listings = [path for method, path in behaviour.requests if path == "/v1/AUTH_hostile/ccc"]
    assert len(listings) >= 4  # read again and again while `never` stayed out
    assert report.lines() == ["warning: after 2 s the container listing still lacks 1 "
                              "object(s) the manifest names; fetching them by name"]
