"""Two of three devices offline: reads go on from the last copy, writes need a majority."""

from __future__ import annotations

import pytest
from swiftclient import client as swift

from firstapp.cloud import control, faults
from firstapp.cloud.placement import data_files
from firstapp.cloud.repair import repair

from .support import (
    VerifiedReader,
    connect,
    copies,
    fill,
    good_devices,
    md5,
)

CONTAINER = "quorum"


def put_status(conn: swift.Connection, name: str, data: bytes) -> int:
    try:
        response: dict = {}
        conn.put_object(CONTAINER, name, data, response_dict=response)
        return response["status"]
    except swift.ClientException as exc:
        return exc.http_status


def test_two_devices_offline(cloud):
    conn = connect(cloud)
    stored = fill(conn, CONTAINER, 50)
    files_before = set(data_files(cloud.layout))

    faults.take_offline(cloud.layout, "d1")
    faults.take_offline(cloud.layout, "d2")
    reader = VerifiedReader(conn, CONTAINER)
    assert all(md5(reader.get(name)) == etag for name, etag in stored.items())
    assert reader.rejected == []

    # a write reaches one object server of the two it needs: 503, and nothing is stored
    with pytest.raises(swift.ClientException) as refused:
        conn.put_object(CONTAINER, "refused", b"not stored anywhere")
    assert refused.value.http_status == 503
    log = cloud.layout.log_file.read_text(errors="replace")
    assert f"Object PUT returning 503, 1/2 required connections (txn: " \
           f"{refused.value.transaction_id})" in log
    assert all(not c.present for c in copies(cloud, CONTAINER, "refused"))
    assert set(data_files(cloud.layout)) == files_before - {
        f for f in files_before if f.parts[-6] in ("d1", "d2")}

    # a DELETE also answers 503, yet the one reachable copy has recorded it
    victim = "object-049"
    with pytest.raises(swift.ClientException) as unconfirmed:
        conn.delete_object(CONTAINER, victim)
    assert unconfirmed.value.http_status == 503
    with pytest.raises(swift.ClientException) as gone:
        conn.get_object(CONTAINER, victim)
    assert gone.value.http_status == 404

    # back again, but the proxy still avoids d1 and d2 for a while (error limiting)
    faults.bring_all_back(cloud.layout)
    assert put_status(conn, "too-soon", b"x") == 503
    # a restart makes it forget; then writes succeed and repair settles the rest
    control.stop(cloud.layout.root)
    restarted, _ = control.start(cloud.layout.root)
    assert put_status(conn, "refused", b"stored now") == 201
    report = repair(restarted.layout.root, timeout=120)
    assert report["replication_failures"] == 0

    assert sorted(good_devices(cloud, CONTAINER, "refused", md5(b"stored now"))) == \
        ["d1", "d2", "d3"]
    for name, etag in stored.items():
        if name != victim:
            assert sorted(good_devices(cloud, CONTAINER, name, etag)) == ["d1", "d2", "d3"]
    # the unconfirmed delete won: a tombstone on every device, no data anywhere
    for copy in copies(cloud, CONTAINER, victim):
        assert not copy.present
        assert len(list(copy.directory.glob("*.ts"))) == 1
    listed = [o["name"] for o in conn.get_container(CONTAINER, full_listing=True)[1]]
    assert victim not in listed and "refused" in listed and len(listed) == 50
