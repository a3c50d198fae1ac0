"""`firstapp cloud repair` brings every object back to three good copies."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from firstapp.cloud.placement import account_of, replicas
from firstapp.cloud.repair import repair
from firstapp.errors import FirstappError


def copies(cloud, container, name):
    return replicas(cloud.layout, account_of(cloud.storage_url), container, name)


def good_copies(cloud, container, name, etag):
    return [c for c in copies(cloud, container, name)
            if c.present and hashlib.md5(c.data_file.read_bytes()).hexdigest() == etag]


def test_repair_restores_a_deleted_replica(local_cloud, swift_conn, container):
    data = os.urandom(256 * 1024)
    etag = swift_conn.put_object(container, "lost-one", data)
    victim = copies(local_cloud, container, "lost-one")[0]
    victim.data_file.unlink()
    assert len(good_copies(local_cloud, container, "lost-one", etag)) == 2
    # the store still serves the right bytes from the other two copies
    for _ in range(6):
        assert swift_conn.get_object(container, "lost-one")[1] == data

    on_disk = sum(1 for _ in local_cloud.layout.devices.glob("*/objects*/*/*/*/*.data"))
    result = subprocess.run(
        [sys.executable, "-m", "firstapp", "cloud", "repair", "--data-dir",
         str(local_cloud.layout.root)], capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"audited {on_disk} object replicas" in result.stdout  # the lost one is not there
    assert "synced" in result.stdout and "0 failures" in result.stdout
    restored = good_copies(local_cloud, container, "lost-one", etag)
    assert len(restored) == 3
    assert victim.device in {c.device for c in restored}


def test_repair_quarantines_a_corrupt_replica_and_replaces_it(local_cloud, swift_conn,
                                                              container):
    data = os.urandom(256 * 1024)
    etag = swift_conn.put_object(container, "bit-rot", data)
    victim = copies(local_cloud, container, "bit-rot")[1]
    with victim.data_file.open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\xde\xad\xbe\xef" * 2)
    assert len(good_copies(local_cloud, container, "bit-rot", etag)) == 2

    report = repair(local_cloud.layout.root)
    assert report["objects_quarantined"] == 1
    assert report["objects_audited"] >= 3
    assert len(good_copies(local_cloud, container, "bit-rot", etag)) == 3
    quarantine = local_cloud.layout.devices / victim.device / "quarantined" / "objects"
    assert victim.directory.name in {p.name for p in quarantine.iterdir()}
    assert swift_conn.get_object(container, "bit-rot")[1] == data


def test_repair_needs_a_running_cloud(cloud_factory):
    from firstapp.cloud import control

    cloud = cloud_factory()
    control.stop(cloud.layout.root)
    with pytest.raises(FirstappError, match="not running"):
        repair(cloud.layout.root)
