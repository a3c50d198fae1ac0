"""`firstapp fractals move-images`: a database's images into a Swift container and back,
verified before each old copy is freed; resumable; one-line errors, exit 1."""

from __future__ import annotations

import hashlib
import uuid as uuidlib

import requests
from sqlalchemy import select, update

from firstapp.cloud import backends
from firstapp.cloud.fixtures import delete_container
from firstapp.fractals.db import make_engine, resolve_db_url
from firstapp.fractals.models import Fractal
from firstapp.fractals.seed import seed_database
from firstapp.fractals.server import ThreadedServer
from firstapp.fractals.transfer import connector
from tests.backup.conftest import run_cli

from .test_image_store_swift import creds


def db_images(db_url: str) -> dict[str, bytes | None]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(select(Fractal.uuid, Fractal.image)).all())
    finally:
        engine.dispose()


def test_move_to_swift_serve_and_back(local_cloud, swift_conn, tmp_path):
    db_url = resolve_db_url(tmp_path / "fractals.db")
    records = seed_database(db_url, 12, seed=4, width=40, height=40)
    checksums = {r["uuid"]: r["checksum"] for r in records}
    container = f"moved-{uuidlib.uuid4().hex[:8]}"
    env = local_cloud.env()
    try:
        moved = run_cli("move-images", "--to", f"swift://{container}", "--db", db_url, env=env)
        assert moved.returncode == 0, moved.stderr
        assert "12 moved, 0 failed" in moved.stdout
        assert set(db_images(db_url).values()) == {None}
        _, listing = swift_conn.get_container(container)
        assert sorted(o["name"] for o in listing) == sorted(checksums)
        for uuid, checksum in checksums.items():
            headers, body = swift_conn.get_object(container, uuid)
            assert hashlib.sha256(body).hexdigest() == checksum
            assert headers["x-object-meta-checksum"] == checksum

        again = run_cli("move-images", "--to", f"swift://{container}", "--db", db_url, env=env)
        assert again.returncode == 0 and "0 moved, 0 failed" in again.stdout

        server = ThreadedServer(db_url, image_store=f"swift://{container}",
                                conn_factory=connector(creds(local_cloud)))
        try:
            for uuid, checksum in checksums.items():
                body = requests.get(f"{server.endpoint}/fractal/{uuid}", timeout=30).content
                assert hashlib.sha256(body).hexdigest() == checksum
        finally:
            server.stop()

        back = run_cli("move-images", "--to", "db", "--from", f"swift://{container}",
                       "--db", db_url, env=env)
        assert back.returncode == 0, back.stderr
        assert f"move images to the database (from swift://{container}): 12 moved, 0 failed" \
            in back.stdout
        assert {u: hashlib.sha256(i).hexdigest() for u, i in db_images(db_url).items()} \
            == checksums
        assert swift_conn.get_container(container)[1] == []
    finally:
        delete_container(swift_conn, container)


def test_a_damaged_image_stays_and_the_exit_status_says_so(local_cloud, swift_conn, tmp_path):
    db_url = resolve_db_url(tmp_path / "fractals.db")
    records = seed_database(db_url, 4, seed=5, width=32, height=32)
    bad = records[0]["uuid"]
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(Fractal).where(Fractal.uuid == bad).values(image=b"not a png"))
    engine.dispose()
    container = f"moved-{uuidlib.uuid4().hex[:8]}"
    try:
        moved = run_cli("move-images", "--to", f"swift://{container}", "--db", db_url,
                        env=local_cloud.env())
        assert moved.returncode == 1
        assert "3 moved, 1 failed" in moved.stdout
        assert f"failed: {bad}: the database's image does not match its checksum" \
            in moved.stderr
        assert "Traceback" not in moved.stderr
        assert db_images(db_url)[bad] == b"not a png"
        assert bad not in {o["name"] for o in swift_conn.get_container(container)[1]}
    finally:
        delete_container(swift_conn, container)


def test_store_down_stops_with_one_line_and_a_rerun_finishes(cloud_factory, tmp_path):
    cloud = cloud_factory()
    db_url = resolve_db_url(tmp_path / "fractals.db")
    records = seed_database(db_url, 6, seed=6, width=32, height=32)
    env = cloud.env()
    backends.stop(cloud.layout.root)
    down = run_cli("move-images", "--to", "swift://fractal-images", "--db", db_url, env=env)
    assert down.returncode == 1
    assert down.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in down.stderr
    assert None not in db_images(db_url).values()  # nothing freed

    backends.start(cloud.layout.root)
    moved = run_cli("move-images", "--to", "swift://fractal-images", "--db", db_url, env=env)
    assert moved.returncode == 0, moved.stderr
    assert "6 moved" in moved.stdout
    assert set(db_images(db_url).values()) == {None}
    assert len(records) == 6


def test_mistakes_are_one_line(local_cloud, tmp_path):
    db = str(tmp_path / "f.db")
    for args, expected in [
        (["--to", "db"], "error: --to db needs --from swift://CONTAINER"),
        (["--to", "s3://bucket"], "error: --to 's3://bucket': use db"),
        (["--to", "swift://ab"], "error: --to swift://ab: the container name is 2"),
    ]:
        result = run_cli("move-images", *args, "--db", db, env=local_cloud.env())
        assert result.returncode == 1
        assert result.stderr.strip().startswith(expected), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
