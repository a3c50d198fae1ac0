"""``restore``: the backup back into an app database, checked, never overwriting."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from firstapp.fractals import client
from firstapp.fractals.backup import backup
from firstapp.fractals.db import make_engine, resolve_db_url
from firstapp.fractals.fixtures import start_fractals_app
from firstapp.fractals.models import READY, Fractal
from firstapp.fractals.restore import restore
from tests.backup.conftest import COUNT, run_cli

SUMMARY = re.compile(r"(\d+) restored, (\d+) skipped .*, (\d+) conflicts, (\d+) ignored .*, "
                     r"(\d+) failed; (\d+) bytes downloaded in [\d.]+ s")


def summary_counts(stdout: str) -> tuple[int, ...]:
    match = SUMMARY.search(stdout)
    assert match, stdout
    return tuple(int(n) for n in match.groups())


def rows(db_url: str) -> dict[str, dict[str, Any]]:
    """Every column of every fractal, image and creation time included."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as db:
            found = db.execute(select(Fractal.__table__)).mappings().all()
    finally:
        engine.dispose()
    return {row["uuid"]: dict(row) for row in found}


def test_restore_round_trip_into_a_fresh_app(app60, backed_up, conn_factory, tmp_path: Path):
    db_url = resolve_db_url(tmp_path / "fractals.db")

    report = restore(conn_factory, backed_up[0], db_url, workers=8)

    assert (report.restored, report.skipped, report.conflicts, report.ignored,
            report.failed) == (COUNT, 0, 0, 0, 0)
    assert report.bytes_downloaded == sum(f["size"] for f in app60.fractals)
    restored_app = start_fractals_app(tmp_path, 0)  # serves tmp_path/fractals.db
    try:
        served = list(client.iter_fractals(restored_app.endpoint))
        by_uuid = {f["uuid"]: f for f in served}
        assert by_uuid == {f["uuid"]: f for f in app60.fractals}  # same records, exactly
        for record in served:
            image = client.download_image(restored_app.endpoint, record["uuid"])
            assert hashlib.sha256(image).hexdigest() == record["checksum"]
    finally:
        restored_app.stop()
    original, copy = rows(app60.db_url), rows(db_url)
    for uuid, row in original.items():  # every column but the creation time and revision
        assert {k: v for k, v in copy[uuid].items() if k not in ("created_at", "revision")} == {
            k: v for k, v in row.items() if k not in ("created_at", "revision")}


def test_restore_twice_changes_nothing(backed_up, conn_factory, cloud_env, tmp_path: Path):
    db = tmp_path / "twice.db"
    restore(conn_factory, backed_up[0], resolve_db_url(db))
    before = rows(resolve_db_url(db))

    again = run_cli("restore", "--container", backed_up[0], "--db", str(db), env=cloud_env)

    assert again.returncode == 0, again.stderr
    assert summary_counts(again.stdout) == (0, COUNT, 0, 0, 0, 0)
    assert rows(resolve_db_url(db)) == before


def test_conflicts_damaged_copies_and_foreign_objects(fractals_app_factory, conn_factory,
                                                      container, swift_conn, cloud_env,
                                                      tmp_path: Path):
    app = fractals_app_factory(5, seed=5, width=32, height=32)
    backup(app.endpoint, conn_factory, container)
    conflicting, damaged, unrendered, *good = app.fractals
    # a damaged copy: a real backup's metadata over other bytes
    metadata = {k: v for k, v in swift_conn.head_object(container, damaged["uuid"]).items()
                if k.startswith("x-object-meta-")}
    swift_conn.put_object(container, damaged["uuid"], b"\x89PNG, but not that one",
                          headers=metadata)
    # something else stored in the same container
    swift_conn.put_object(container, "notes.txt", b"remember the milk")
    # the database already holds another fractal under one of the uuids
    db = tmp_path / "existing.db"
    engine = make_engine(resolve_db_url(db))
    other = {k: conflicting[k] for k in ("width", "height", "iterations", "xa", "xb", "ya", "yb")}
    with engine.begin() as connection:
        connection.execute(Fractal.__table__.insert().values(
            uuid=conflicting["uuid"], status=READY, revision=0, checksum="0" * 64, size=5,
            image=b"other", **other))
        # and one that it is still drawing: no checksum yet, so the backup is downloaded
        connection.execute(Fractal.__table__.insert().values(
            uuid=unrendered["uuid"], status="pending", revision=0, **other))
    engine.dispose()

    result = run_cli("restore", "--container", container, "--db", str(db), env=cloud_env)

    assert result.returncode == 1
    assert summary_counts(result.stdout) == (
        len(good), 0, 2, 1, 1, sum(f["size"] for f in [unrendered, *good]))
    for uuid in (conflicting["uuid"], unrendered["uuid"]):
        assert re.search(rf"^conflict: {uuid}: .*differs from the backup", result.stderr,
                         re.M), result.stderr
    assert re.search(rf"^failed: {damaged['uuid']}: .*SHA-256.*damaged", result.stderr, re.M)
    assert re.search(r"^warning: notes.txt: .*not a fractal backup; skipped$", result.stderr,
                     re.M)
    assert "Traceback" not in result.stderr
    restored = rows(resolve_db_url(db))
    assert set(restored) == {conflicting["uuid"], unrendered["uuid"], *(f["uuid"] for f in good)}
    assert restored[unrendered["uuid"]]["image"] is None
    assert (restored[conflicting["uuid"]]["checksum"], restored[conflicting["uuid"]]["image"]) \
        == ("0" * 64, b"other")  # left as it was
    for record in good:
        row = restored[record["uuid"]]
        assert hashlib.sha256(row["image"]).hexdigest() == row["checksum"] == record["checksum"]


def test_odd_text_in_a_record_comes_back_exactly(fractals_app_factory, conn_factory,
                                                  container, tmp_path: Path):
    """Header values lose surrounding spaces and swiftclient decodes "%xx" on reading: the
    backup percent-encodes text, so what the app said is what the restore writes."""
    from sqlalchemy import update

    names = ["a%20b", "  padded host  ", "höst-π", 'quote " and \\ backslash', "50% done"]
    app = fractals_app_factory(len(names), seed=4, width=24, height=24)
    engine = make_engine(app.db_url)
    with engine.begin() as db:
        for record, name in zip(app.fractals, names, strict=True):
            db.execute(update(Fractal).where(Fractal.uuid == record["uuid"])
                       .values(generated_by=name))
    engine.dispose()

    stored = backup(app.endpoint, conn_factory, container)
    assert (stored.uploaded, stored.failed) == (len(names), 0), stored.failures
    db_url = resolve_db_url(tmp_path / "restored.db")
    report = restore(conn_factory, container, db_url)
    assert (report.restored, report.failed) == (len(names), 0), report.messages
    restored = rows(db_url)
    for record, name in zip(app.fractals, names, strict=True):
        assert restored[record["uuid"]]["generated_by"] == name
