"""``backup``: every fractal once, verified, skipped when stored, resumable after a kill."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import update
from swiftclient.exceptions import ClientException

from firstapp.fractals import backup as backup_module
from firstapp.fractals import client
from firstapp.fractals.backup import backup, meta_header
from firstapp.fractals.db import make_engine
from firstapp.fractals.models import Fractal
from firstapp.fractals.params import FractalParams
from tests.backup.conftest import (
    COUNT,
    object_names,
    object_sha256,
    read_manifest_json,
    run_cli,
)

SUMMARY = re.compile(r"(\d+) uploaded, (\d+) skipped .*, (\d+) pending .*, (\d+) failed; "
                     r"(\d+) bytes uploaded in [\d.]+ s")


def summary_counts(stdout: str) -> tuple[int, ...]:
    match = SUMMARY.search(stdout)
    assert match, stdout
    return tuple(int(n) for n in match.groups())


def test_backup_stores_every_fractal_once_with_its_record(app60, backed_up, swift_conn):
    container, report = backed_up  # backup(app60.endpoint, conn_factory, container, workers=8)

    assert (report.uploaded, report.skipped, report.pending, report.failed) == (COUNT, 0, 0, 0)
    assert report.bytes_uploaded == sum(f["size"] for f in app60.fractals)
    assert sorted(object_names(swift_conn, container)) == sorted(app60.uuids)
    manifest = read_manifest_json(swift_conn, container)
    assert (manifest["format"], manifest["version"], manifest["count"]) == (
        "firstapp-fractals-backup", 1, COUNT)
    assert sorted(manifest["objects"]) == sorted(app60.uuids)
    for record in app60.fractals:
        headers, digest = object_sha256(swift_conn, container, record["uuid"])
        assert digest == record["checksum"]
        entry = manifest["objects"][record["uuid"]]  # binds the app's checksum to the ETag
        assert (entry["sha256"], entry["md5"], entry["size"]) == (
            record["checksum"], headers["etag"], record["size"])
        assert headers["content-type"] == "image/png"
        for field in ("checksum", "size", "width", "height", "iterations", "generated_by"):
            assert headers[meta_header(field).lower()] == str(record[field]), field
        for field in ("xa", "xb", "ya", "yb", "duration"):  # floats survive exactly
            assert float(headers[meta_header(field).lower()]) == record[field], field


def test_images_come_from_the_app_a_batch_at_a_time(app60, conn_factory, container,
                                                    swift_conn, monkeypatch):
    """One GET /v1/fractal-images per batch (here 25 images), none image by image."""
    asked = []
    send = requests.Session.send

    def counted(session, request, **kwargs):
        if request.url.startswith(app60.endpoint):
            asked.append(urlsplit(request.url).path)
        return send(session, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", counted)
    monkeypatch.setattr(backup_module, "BATCH_IMAGES", 25)
    report = backup(app60.endpoint, conn_factory, container)

    assert (report.uploaded, report.failed) == (COUNT, 0)
    assert asked.count("/v1/fractal-images") == 3  # 60 images: 25, 25, 10
    assert not [path for path in asked if path.startswith("/fractal/")]
    for record in app60.fractals:
        assert object_sha256(swift_conn, container, record["uuid"])[1] == record["checksum"]


def test_second_run_uploads_nothing(app60, backed_up, cloud_env):
    again = run_cli("backup", "--container", backed_up[0], "--endpoint", app60.endpoint,
                    env=cloud_env)

    assert again.returncode == 0, again.stderr
    assert summary_counts(again.stdout) == (0, COUNT, 0, 0, 0)
    assert "0 bytes uploaded" in again.stdout
    assert "backing up" in again.stderr  # the progress bar


def test_killed_backup_resumes_without_loss_or_duplicates(app60, container, swift_conn,
                                                          cloud_env):
    command = [sys.executable, "-m", "firstapp", "fractals", "backup", "--container", container,
               "--endpoint", app60.endpoint, "--workers", "2"]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OS_")}, **cloud_env}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        landed = 0
        while landed < 10 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
            try:
                landed = int(swift_conn.head_container(container)["x-container-object-count"])
            except ClientException:  # the backup has not created the container yet
                landed = 0
        assert proc.poll() is None, "the backup finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()

    time.sleep(0.2)
    present = object_names(swift_conn, container)
    assert 10 <= len(present) < COUNT
    checksums = {f["uuid"]: f["checksum"] for f in app60.fractals}
    for name in present:  # only complete, correct objects were left behind
        assert object_sha256(swift_conn, container, name)[1] == checksums[name]

    rerun = run_cli("backup", "--container", container, "--endpoint", app60.endpoint,
                    env=cloud_env)
    assert rerun.returncode == 0, rerun.stderr
    uploaded, skipped, pending, failed, sent = summary_counts(rerun.stdout)
    assert uploaded + skipped == COUNT and (pending, failed) == (0, 0)
    assert skipped >= len(present) and uploaded >= 1 and sent > 0

    final = object_names(swift_conn, container)
    assert sorted(final) == sorted(checksums)  # every fractal, each exactly once
    for name in final:
        assert object_sha256(swift_conn, container, name)[1] == checksums[name]


def test_wrong_or_stale_objects_are_uploaded_again(fractals_app_factory, conn_factory,
                                                   container, swift_conn):
    app = fractals_app_factory(5, seed=4, width=32, height=32)
    backup(app.endpoint, conn_factory, container)
    foreign, stale, truncated, changed = app.fractals[:4]
    # another program's object under a fractal's uuid, without our metadata
    swift_conn.put_object(container, foreign["uuid"], b"not a png")
    # an older image of this uuid, backed up with its own (other) checksum
    old = b"an older image"
    swift_conn.put_object(container, stale["uuid"], old, headers={
        "X-Object-Meta-Checksum": hashlib.sha256(old).hexdigest()})
    # the right checksum in the metadata but not the bytes it describes
    swift_conn.put_object(container, truncated["uuid"], b"\x89PNG", headers={
        "X-Object-Meta-Checksum": truncated["checksum"]})
    # other bytes of the same size, every piece of metadata kept as the backup wrote it
    headers, image = swift_conn.get_object(container, changed["uuid"])
    metadata = {k: v for k, v in headers.items() if k.startswith("x-object-meta-")}
    swift_conn.put_object(container, changed["uuid"], bytes(reversed(image)),
                          headers=metadata, content_type="image/png")

    report = backup(app.endpoint, conn_factory, container)

    assert (report.uploaded, report.skipped, report.failed) == (4, 1, 0)
    for record in app.fractals:
        headers, digest = object_sha256(swift_conn, container, record["uuid"])
        assert digest == record["checksum"] == headers["x-object-meta-checksum"]


def test_damaged_image_fails_and_is_not_stored_pending_is_counted(
        fractals_app_factory, container, swift_conn, cloud_env):
    app = fractals_app_factory(4, seed=3, width=32, height=32, workers=0)
    pending = client.create_fractal(app.endpoint, FractalParams(32, 32, 64, -2, 2, -1.5, 1.5))
    damaged = app.fractals[0]
    engine = make_engine(app.db_url)
    with engine.begin() as db:  # bit rot in the app's database: the bytes no longer match
        db.execute(update(Fractal).where(Fractal.uuid == damaged["uuid"])
                   .values(image=b"\x00" * damaged["size"]))
    engine.dispose()

    result = run_cli("backup", "--container", container, "--endpoint", app.endpoint,
                     env=cloud_env)

    assert result.returncode == 1
    assert summary_counts(result.stdout)[:4] == (3, 0, 1, 1)
    assert re.search(rf"^failed: {damaged['uuid']}: .*SHA-256.*not stored$", result.stderr,
                     re.M), result.stderr
    names = object_names(swift_conn, container)
    assert sorted(names) == sorted(f["uuid"] for f in app.fractals[1:])
    assert damaged["uuid"] not in names and pending["uuid"] not in names


def test_an_image_cut_off_by_the_app_is_reported_as_a_read_failure(app60, conn_factory,
                                                                    swift_conn, container):
    """The app's connection drops mid-image: nothing is stored, and the reason names the
    app, not the store. The app is stood in for by a socket that sends 100 bytes of the
    image and hangs up (the real app never does that on purpose)."""
    import socket
    import threading

    from firstapp.errors import FirstappError
    from firstapp.fractals.backup import upload_fractal

    record = app60.fractals[0]
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def answer_once() -> None:
            peer, _ = server.accept()
            with peer:
                peer.recv(65536)
                peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n"
                             + f"Content-Length: {record['size']}\r\n\r\n".encode()
                             + b"\x89PNG" + b"\0" * 96)

        threading.Thread(target=answer_once, daemon=True).start()
        endpoint = f"http://127.0.0.1:{server.getsockname()[1]}"
        with pytest.raises(FirstappError, match=rf"reading the image of fractal "
                                                rf"{record['uuid']} from the Fractals app at "
                                                rf"{endpoint} failed after \d+ bytes"):
            upload_fractal(conn_factory(), endpoint, container, record)
    with pytest.raises(ClientException) as missing:
        swift_conn.head_object(container, record["uuid"])
    assert missing.value.http_status == 404
