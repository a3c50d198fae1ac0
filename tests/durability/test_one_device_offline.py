"""One of three devices offline: nothing is lost, writes go on, repair catches up."""

from __future__ import annotations

import requests

from firstapp.cloud import faults
from firstapp.cloud.placement import data_files
from firstapp.cloud.repair import repair

from .support import (
    VerifiedReader,
    connect,
    container_listing,
    copies,
    fill,
    good_devices,
    md5,
    object_server,
)

CONTAINER = "one-device-offline"


def test_one_device_offline_then_back(cloud):
    conn = connect(cloud)
    stored = fill(conn, CONTAINER, 50)
    reader = VerifiedReader(conn, CONTAINER)

    faults.take_offline(cloud.layout, "d1")
    on_d1 = next(c for c in copies(cloud, CONTAINER, "object-000") if c.device == "d1")
    answer = requests.head(object_server(cloud, on_d1, CONTAINER, "object-000"), timeout=30)
    assert answer.status_code == 507  # Insufficient Storage: the device is not there

    # every object reads back whole, from the copies on d2 and d3
    assert all(md5(reader.get(name)) == etag for name, etag in stored.items())
    assert reader.rejected == []

    # writes succeed with two copies of three
    written = {}
    for index in range(10):
        data = f"written while d1 was away {index}".encode() * 100
        response: dict = {}
        conn.put_object(CONTAINER, f"new-{index}", data, response_dict=response)
        assert response["status"] == 201
        written[f"new-{index}"] = md5(data)
    for name, etag in written.items():
        assert sorted(good_devices(cloud, CONTAINER, name, etag)) == ["d2", "d3"]

    faults.bring_back(cloud.layout, "d1")
    for name, etag in written.items():
        assert "d1" not in good_devices(cloud, CONTAINER, name, etag)
    report = repair(cloud.layout.root, timeout=120)
    assert report["replication_failures"] == 0

    # exactly three good copies of each object, on the ring's three devices
    everything = {**stored, **written}
    for name, etag in everything.items():
        ring = copies(cloud, CONTAINER, name)
        assert sorted(c.device for c in ring) == ["d1", "d2", "d3"]
        assert sorted(good_devices(cloud, CONTAINER, name, etag)) == ["d1", "d2", "d3"]
    assert len(data_files(cloud.layout)) == 3 * len(everything)  # and no stray copies

    # every copy of the container's database lists all 60 objects
    for device in ("d1", "d2", "d3"):
        listing = container_listing(cloud, device, CONTAINER)
        assert {o["name"]: o["hash"] for o in listing} == everything

