"""The local Ceph as a store: bytes round-trip, deleted data is collected, an OSD can go."""

from __future__ import annotations

import hashlib
import os
import signal
import uuid

from firstapp.cloud import ceph, processes
from firstapp.cloud.client import connection
from firstapp.cloud.fixtures import delete_container
from firstapp.net import wait_until

MiB = 1 << 20


def conn_of(cloud):
    return connection(cloud.auth_url, cloud.username, cloud.password)


def test_swiftclient_round_trip_md5_is_the_etag(ceph_cloud):
    conn = conn_of(ceph_cloud)
    name = f"rt-{uuid.uuid4().hex[:8]}"
    conn.put_container(name)
    try:
        data = os.urandom(5 * MiB + 123)
        etag = conn.put_object(name, "blob", data)
        headers, body = conn.get_object(name, "blob")
        assert hashlib.md5(body).hexdigest() == etag == headers["etag"]
        assert body == data
    finally:
        delete_container(conn, name)


def test_deleted_data_is_collected_within_seconds(ceph_cloud):
    layout, settings = ceph_cloud.layout, ceph_cloud.settings
    conn = conn_of(ceph_cloud)
    name = f"gc-{uuid.uuid4().hex[:8]}"
    conn.put_container(name)
    before = ceph.space(layout, settings)["used_bytes"]
    conn.put_object(name, "big", os.urandom(64 * MiB))
    # the OSDs refresh their statistics every few seconds: the copies show up (less what
    # earlier tests' deleted data, still counted in ``before``, frees meanwhile)
    assert wait_until(lambda: ceph.space(layout, settings)["used_bytes"] - before
                      >= 5 * 32 * MiB, 60, interval=0.5)
    delete_container(conn, name)
    # RGW's garbage collector frees the three copies (the wait is a bound, not a speed test)
    assert wait_until(lambda: ceph.space(layout, settings)["used_bytes"] < before + 16 * MiB,
                      120, interval=1)


def test_one_osd_down_reads_and_writes_go_on_and_repair_says_so(ceph_cloud):
    layout = ceph_cloud.layout
    conn = conn_of(ceph_cloud)
    name = f"osd-{uuid.uuid4().hex[:8]}"
    conn.put_container(name)
    data = os.urandom(2 * MiB)
    etag = conn.put_object(name, "before", data)
    healthy = ceph.repair(layout.root)
    assert healthy.problems == [] and healthy["clean"] == healthy["pgs"] > 0
    pid = ceph.info(layout.root).pids["osd.2"]
    os.kill(pid, signal.SIGTERM)
    try:
        assert wait_until(lambda: not processes.alive(pid), 30)
        assert wait_until(lambda: "osd.2 (down)" in ceph.status(layout.root)["devices"], 60)
        assert conn.get_object(name, "before")[1] == data
        assert conn.put_object(name, "during", b"x" * 1000)
        report = ceph.repair(layout.root, timeout=5)
        assert report["osds_up"] == 2
        assert report.problems[0].startswith("osd.2 is down: `firstapp cloud start` starts it")
        assert any("not running: osd.2" in w for w in ceph.status(layout.root)["warnings"])
    finally:
        ceph.start(layout.root)  # starts the missing OSD only
    report = ceph.repair(layout.root)
    assert report.problems == [] and report["osds_up"] == 3
    assert report["clean"] == report["pgs"]
    assert conn.get_object(name, "before")[0]["etag"] == etag
    delete_container(conn, name)


def test_status_warns_when_the_store_is_nearly_full(tmp_path):
    """A small store (OSDs of 320 MiB, set in its ceph.conf) holding 3 x 270 MiB (84%)."""
    from firstapp.net import free_port

    data_dir = tmp_path / "small"
    ceph.start(data_dir, port=free_port())
    try:
        ceph.stop(data_dir)
        conf = data_dir / "ceph.conf"
        conf.write_text(conf.read_text().replace(f"memstore device bytes = {ceph.OSD_BYTES}",
                                                 f"memstore device bytes = {320 * MiB}"))
        cloud, _ = ceph.start(data_dir)
        assert ceph.status(data_dir)["warnings"] == []
        conn = conn_of(cloud)
        conn.put_container("fill")
        conn.put_object("fill", "big", os.urandom(270 * MiB))
        assert wait_until(lambda: ceph.status(data_dir)["warnings"] != [], 60, interval=1)
        warning = ceph.status(data_dir)["warnings"][0]
        assert warning.startswith("the store is ") and "% full: delete objects" in warning
    finally:
        ceph.stop(data_dir)
