"""samples/under-the-hood/durability.py, step by step, checked with an independent client."""

from __future__ import annotations

from pathlib import Path

import pytest
from swiftclient import client as swift

from firstapp import steps
from firstapp.cloud import faults

from .support import connect, copies, good_devices, md5, quarantined

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "under-the-hood" / "durability.py"
CONTAINER = "under-the-hood-test"


def test_the_sample_breaks_and_mends_the_cloud(cloud, monkeypatch, capsys):
    for key, value in cloud.env().items():
        monkeypatch.setenv(key, value)
    check = connect(cloud)
    ns: dict = {}
    said: dict[str, str] = {}

    def everything_good(md5s):
        return all(sorted(good_devices(cloud, CONTAINER, name, etag)) == ["d1", "d2", "d3"]
                   for name, etag in md5s.items())

    for step in steps.run(SAMPLE, ns):
        said[step.name] = capsys.readouterr().out
        md5s = ns.get("md5s", {})
        if step.name == "1":  # as papermill injects parameters after the first cell
            ns.update(container_name=CONTAINER, object_count=12)
        elif step.name == "2":
            listing = check.get_container(CONTAINER, full_listing=True)[1]
            assert {o["name"]: o["hash"] for o in listing} == md5s and len(md5s) == 12
        elif step.name == "3":
            assert "ring partition" in said["3"] and said["3"].count(" yes ") == 3
        elif step.name == "5":
            assert faults.offline_devices(cloud.layout) == ["d1"]
            assert "answers for it: 507 Insufficient Storage" in said["5"]
            assert "Read back 12 of 12 objects with the right md5" in said["5"]
            new = [n for n in md5s if n.startswith("written-while")]
            assert len(new) == 6 and said["5"].count("201 Created") == 6
            for name in new:
                assert sorted(good_devices(cloud, CONTAINER, name, md5s[name])) == ["d2", "d3"]
        elif step.name == "6":
            assert faults.offline_devices(cloud.layout) == []
            assert everything_good(md5s)
        elif step.name == "7":
            for device, names in ns["damaged"].items():
                for name in names:
                    assert device not in good_devices(cloud, CONTAINER, name, md5s[name])
        elif step.name == "8":
            assert len(ns["rejected"]) == 3  # one per damaged copy on d2, read 30 times each
            for name, status, etag, body_md5 in ns["rejected"]:
                assert status == 200 and etag == md5s[name] != body_md5
            on_d2 = {c.directory.name for n in ns["damaged"]["d2"]
                     for c in copies(cloud, CONTAINER, n) if c.device == "d2"}
            assert {h for d, h in quarantined(cloud) if d == "d2"} == on_d2
        elif step.name == "9":
            assert "the auditor quarantined 3 damaged copies" in said["9"]
            assert len(quarantined(cloud)) == 6
            assert everything_good(md5s)
        elif step.name == "10":
            assert faults.offline_devices(cloud.layout) == ["d1", "d2"]
            assert f"Read back {len(md5s)} of {len(md5s)}" in said["10"]
        elif step.name == "11":
            assert "503 Service Unavailable" in said["11"]
            assert "1/2 required connections" in said["11"]
            assert not any(c.present for c in copies(cloud, CONTAINER,
                                                     "written-with-one-device-left"))
            # one device saying "not here" is no majority either: 503, not 404
            with pytest.raises(swift.ClientException) as unknown:
                check.head_object(CONTAINER, "written-with-one-device-left")
            assert unknown.value.http_status == 503
        elif step.name == "12":
            assert faults.offline_devices(cloud.layout) == []
            assert len(md5s) == 19 and everything_good(md5s)
            assert check.put_object(CONTAINER, "independent", b"ok") == md5(b"ok")
            check.delete_object(CONTAINER, "independent")
        elif step.name == "13":
            figure = ns["draw"](ns["snapshots"])
            assert len([ax for ax in figure.axes if ax.get_visible()]) == 9
            last_title, last = ns["snapshots"][-1]
            assert last_title == "all back, after repair"
            assert all(last[d] == {"good": 19} for d in ("d1", "d2", "d3"))
        elif step.name == "14":
            with pytest.raises(swift.ClientException) as gone:
                check.head_container(CONTAINER)
            assert gone.value.http_status == 404
    assert list(said) == ["1", "1-connect", *map(str, range(2, 15))]


def test_the_sample_refuses_a_cloud_whose_files_it_cannot_reach(cloud, monkeypatch):
    for key, value in cloud.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("OS_AUTH_URL", "http://127.0.0.1:9/auth/v1.0")
    ran = []
    with pytest.raises(SystemExit, match="only talks to the one whose files it can reach"):
        for step in steps.run(SAMPLE, {}):
            ran.append(step.name)
    assert ran == ["1"]
    assert cloud.layout.device_names() == ["d1", "d2", "d3"]
