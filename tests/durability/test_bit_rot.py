"""A damaged copy: a verifying client never accepts it; the store quarantines and replaces it."""

from __future__ import annotations

from firstapp.cloud import faults
from firstapp.cloud.repair import repair

from .support import (
    VerifiedReader,
    connect,
    copies,
    direct_get,
    eventually,
    fill,
    good_devices,
    md5,
    quarantined,
)

CONTAINER = "bit-rot"
SIZE = 4096


def test_damaged_copies_are_never_accepted_and_are_replaced(cloud):
    conn = connect(cloud)
    stored = fill(conn, CONTAINER, 50, SIZE)
    names = sorted(stored)
    # one damaged copy of 21 objects, spread over the devices: 10 read through the proxy,
    # 10 that nobody reads (left for the auditor), 1 read from its object server directly
    damaged = {}
    for index, name in enumerate(names[:21]):
        victim = copies(cloud, CONTAINER, name)[index % 3]
        faults.corrupt(victim.data_file)
        assert victim.data_file.stat().st_size == SIZE
        assert md5(victim.data_file.read_bytes()) != stored[name]
        damaged[name] = victim
    read_through_proxy, for_the_auditor, read_directly = names[:10], names[10:20], names[20]

    # the object server sends a damaged copy with 200, its full length and the right ETag...
    victim = damaged[read_directly]
    answer = direct_get(cloud, victim, CONTAINER, read_directly)
    assert answer.status_code == 200
    assert answer.headers["etag"].strip("\"") == stored[read_directly]
    assert len(answer.content) == SIZE
    assert md5(answer.content) != stored[read_directly]
    # ...and, having noticed at the end of the read, quarantines it (just after the last byte)
    assert eventually(lambda: (victim.device, victim.directory.name) in quarantined(cloud))
    assert not victim.directory.exists() or not list(victim.directory.glob("*.data"))

    # through the proxy, a verifying client never accepts a wrong byte
    reader = VerifiedReader(conn, CONTAINER)
    for name in read_through_proxy:
        for _ in range(10):
            assert md5(reader.get(name)) == stored[name]
    rejected = reader.rejected
    assert rejected, "100 reads never reached one of 10 damaged copies"
    for bad in rejected:  # what a client that does not check would have taken
        assert bad["status"] == 200 and bad["length"] == SIZE
        assert bad["etag"] == stored[bad["name"]] != bad["body_md5"]
    hit = [bad["name"] for bad in rejected]
    assert len(hit) == len(set(hit)), "a damaged copy was served twice"
    assert quarantined(cloud) == {(damaged[n].device, damaged[n].directory.name)
                                  for n in [*hit, read_directly]}

    # the auditor finds every damaged copy nobody read; replication restores good ones
    report = repair(cloud.layout.root, timeout=120)
    assert report["objects_quarantined"] == 21 - 1 - len(hit)
    assert report["replication_failures"] == 0
    assert quarantined(cloud) == {(v.device, v.directory.name) for v in damaged.values()}
    assert set(for_the_auditor) <= set(damaged)
    for name, etag in stored.items():
        assert sorted(good_devices(cloud, CONTAINER, name, etag)) == ["d1", "d2", "d3"]
    for name, etag in stored.items():
        headers, body = conn.get_object(CONTAINER, name)
        assert md5(body) == headers["etag"] == etag
