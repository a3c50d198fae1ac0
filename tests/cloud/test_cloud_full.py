"""A full disk: writes get 507 Insufficient Storage, everything else goes on working, and
the store takes writes again once there is room."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import requests
from swiftclient import client as swift

from firstapp.cloud import config, control, faults
from firstapp.cloud.client import connection
from firstapp.cloud.fixtures import started_cloud
from firstapp.cloud.placement import account_of, replicas


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """A cloud of this module's own: it is restarted with other reserves."""
    with started_cloud(tmp_path_factory) as cloud:
        yield cloud


def status_of(call, *args, **kwargs) -> int:
    try:
        call(*args, **kwargs)
    except swift.ClientException as exc:
        return exc.http_status
    return 200


def test_a_full_store_refuses_writes_with_507_and_serves_reads(cloud):
    conn = connection(cloud.auth_url, cloud.username, cloud.password)
    conn.put_container("kept")
    conn.put_object("kept", "before", b"stored before the disk filled up")
    conn.put_object("kept", "doomed", b"deleted to make room")

    with faults.full(cloud.layout.root) as full:
        assert config.load_settings(full.layout).fallocate_reserve == "100%"
        conn = connection(full.auth_url, full.username, full.password)
        with pytest.raises(swift.ClientException) as refused:
            conn.put_object("kept", "new", b"no room for this")
        assert refused.value.http_status == 507
        assert refused.value.http_response_content.startswith(b"The store is full: less than "
                                                              b"100% of the disk holding ")
        assert status_of(conn.put_container, "another") == 507
        assert status_of(conn.post_object, "kept", "before", {"x-object-meta-a": "b"}) == 507
        # reads, listings and deletes go on, right after the refusals
        assert conn.get_object("kept", "before")[1] == b"stored before the disk filled up"
        conn.delete_object("kept", "doomed")
        names = [entry["name"] for entry in conn.get_container("kept")[1]]
        assert names == ["before"]
        assert status_of(conn.head_object, "kept", "new") == 404
        assert control.info(full.layout.root).pid == full.pid  # still the same server

    conn = connection(cloud.auth_url, cloud.username, cloud.password)
    assert config.load_settings(cloud.layout).fallocate_reserve == config.DEFAULT_RESERVE
    conn.put_object("kept", "new", b"room again")
    assert conn.get_object("kept", "new")[1] == b"room again"


def test_the_servers_themselves_keep_a_reserve(cloud):
    """Behind the proxy's check, an object server refuses a write that would leave its disk
    with less than half the reserve free (this is what keeps room for its databases)."""
    free = shutil.disk_usage(cloud.layout.devices).free
    reserve = str(2 * free + (1 << 30))  # the servers keep free + 0.5 GiB: more than there is
    cloud = faults.set_reserve(cloud.layout.root, reserve)
    try:
        conn = connection(cloud.auth_url, cloud.username, cloud.password)
        target = replicas(cloud.layout, account_of(cloud.storage_url), "kept", "direct")[0]
        port = json.loads(cloud.layout.ports_file.read_text())["object"]
        url = (f"http://127.0.0.1:{port}/{target.device}/{target.partition}/"
               f"{account_of(cloud.storage_url)}/kept/direct")
        answer = requests.put(url, data=os.urandom(1024), timeout=30, headers={
            "X-Timestamp": "1700000000.00000", "Content-Type": "application/octet-stream"})
        assert answer.status_code == 507
        assert not list(target.directory.glob("*.data"))  # nothing stored
        assert conn.get_object("kept", "before")[1] == b"stored before the disk filled up"
        assert control.info(cloud.layout.root).running
    finally:
        faults.set_reserve(cloud.layout.root, config.DEFAULT_RESERVE)
