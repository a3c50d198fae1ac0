"""samples/under-the-hood-ceph/durability.py, step by step on a Ceph cloud of its own,
checked with Ceph's own tools and an independent client."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from firstapp import steps
from firstapp.cloud import ceph
from firstapp.cloud.client import connection
from firstapp.net import free_port

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "under-the-hood-ceph" / "durability.py"
CONTAINER = "under-the-hood-ceph-test"


@pytest.fixture(scope="module")
def own_ceph(tmp_path_factory):
    """A Ceph cloud of this module's own: the sample stops and starts its OSDs."""
    data_dir = tmp_path_factory.mktemp("ceph-hood")
    cloud, _ = ceph.start(data_dir, port=free_port())
    yield cloud
    ceph.stop(data_dir)


def osds_up(cloud) -> list[str]:
    tree = ceph.ceph_json(cloud.layout, "osd", "tree")
    return sorted(n["name"] for n in tree["nodes"] if n["type"] == "osd" and n["status"] == "up")


def test_the_sample_stops_osds_and_ceph_recovers(own_ceph, monkeypatch, capsys):
    monkeypatch.setenv("FIRSTAPP_CLOUD_DIR", str(own_ceph.layout.root))
    check = connection(own_ceph.auth_url, own_ceph.username, own_ceph.password)
    ns: dict = {}
    said: dict[str, str] = {}
    for step in steps.run(SAMPLE, ns):
        said[step.name] = out = capsys.readouterr().out
        if step.name == "1":  # as papermill injects parameters after the first cell
            ns.update(container_name=CONTAINER, object_count=12, client_timeout=3)
        elif step.name == "2":
            listing = check.get_container(CONTAINER, full_listing=True)[1]
            assert {o["name"]: o["hash"] for o in listing} == ns["md5s"]
        elif step.name == "3":
            where = ceph.ceph_json(own_ceph.layout, "osd", "map", ns["POOL"], ns["rados_name"])
            assert sorted(where["acting"]) == [0, 1, 2]
            assert "held by 3 OSDs: osd.0, osd.1, osd.2" in out
            assert "md5 matches what we stored" in out
        elif step.name == "4":
            assert "as stored: 3 of 3 OSDs up; HEALTH_OK" in out
            assert f"{ns['pool']['pg_num']} active+clean" in out
        elif step.name == "5":
            assert osds_up(own_ceph) == ["osd.0", "osd.1"]
            assert "OSD_DOWN (1 osds down)" in out
            assert "Read back 12 of 12 objects with the right md5" in out
            assert out.count("201 Created") == 6
            new = [n for n in ns["md5s"] if n.startswith("written-while")]
            for name in new:  # stored, by an independent client's reckoning
                assert hashlib.md5(check.get_object(CONTAINER, name)[1]).hexdigest() \
                    == ns["md5s"][name]
        elif step.name == "6":
            assert osds_up(own_ceph) == ["osd.0", "osd.1", "osd.2"]
            report = ceph.repair(own_ceph.layout.root, timeout=5)
            assert report.problems == [] and report["clean"] == report["pgs"]
        elif step.name == "7":
            assert osds_up(own_ceph) == ["osd.0"]
            assert "inactive: no I/O" in out
            assert "GET object-00: no answer within 3 s (ReadTimeout)" in out
            assert "PUT written-with-one-osd-left: no answer within 3 s (ReadTimeout)" in out
        elif step.name == "8":
            assert osds_up(own_ceph) == ["osd.0", "osd.1", "osd.2"]
            assert "all back: 3 of 3 OSDs up; HEALTH_OK" in out
            # the PUT the client gave up on was stored once the OSDs returned
            assert "HEAD written-with-one-osd-left: it exists (ETag as sent)" in out
            assert check.head_object(CONTAINER, "written-with-one-osd-left")["etag"] \
                == ns["md5s"]["written-with-one-osd-left"]
        elif step.name == "9":
            titles = [title for title, _ in ns["snapshots"]]
            assert titles == ["as stored", "osd.2 down", "osd.2 back",
                              "osd.1 and osd.2 down", "all back"]
        elif step.name == "10":
            names = [c["name"] for c in check.get_account(full_listing=True)[1]]
            assert CONTAINER not in names
    assert list(said) == ["1", "1-connect", *map(str, range(2, 11))]


def run_page(page: Path, cloud_dir: Path, home: Path) -> subprocess.CompletedProcess:
    """An under-the-hood page run as a script, pointed at the cloud in ``cloud_dir``."""
    env = {"PATH": "/usr/bin:/bin", "FIRSTAPP_CLOUD_DIR": str(cloud_dir), "HOME": str(home)}
    return subprocess.run([sys.executable, str(page)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_the_sample_refuses_a_swift_cloud_in_one_line(cloud_factory, tmp_path):
    done = run_page(SAMPLE, cloud_factory(backend="swift").layout.root, tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "This page looks inside a local Ceph cloud, and the cloud in FIRSTAPP_CLOUD_DIR is not "
        "one: start one with `firstapp cloud start --backend ceph --data-dir DIR` and set "
        "cloud_dir in step 1 to DIR"]


def test_the_swift_page_refuses_a_ceph_cloud_in_one_line(own_ceph, tmp_path):
    swift_page = SAMPLE.parents[1] / "under-the-hood" / "durability.py"
    done = run_page(swift_page, own_ceph.layout.root, tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "The local cloud in FIRSTAPP_CLOUD_DIR is a Ceph cloud: this page looks inside Swift's "
        "devices (notebooks/durability-under-the-hood-ceph.ipynb is Ceph's). Set cloud_dir in "
        "step 1 to a Swift cloud's data directory (`firstapp cloud start --backend swift "
        "--data-dir DIR`)"]
