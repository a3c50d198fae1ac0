"""The fault helpers themselves: offline devices wait outside devices/ (a file keeps their
place), rot keeps the size."""

from __future__ import annotations

import os
import subprocess
from types import SimpleNamespace

import pytest

from firstapp.cloud import faults
from firstapp.cloud.layout import Layout
from firstapp.cloud.repair import missing_devices
from firstapp.errors import FirstappError


@pytest.fixture
def layout(tmp_path) -> Layout:
    layout = Layout(tmp_path)
    for name in ("d1", "d2", "d3"):
        (layout.devices / name / "objects").mkdir(parents=True)
    (layout.devices / "d1" / "objects" / "marker").write_text("d1's")
    return layout


def test_offline_devices_wait_outside_devices_and_come_back_whole(layout):
    where = faults.take_offline(layout, "d1")
    assert where == layout.root / "offline" / "d1"
    assert layout.device_names() == ["d2", "d3"]
    assert faults.offline_devices(layout) == ["d1"]
    assert (where / "objects" / "marker").read_text() == "d1's"

    assert faults.bring_back(layout, "d1") == layout.devices / "d1"
    assert layout.device_names() == ["d1", "d2", "d3"]
    assert faults.offline_devices(layout) == []
    assert (layout.devices / "d1" / "objects" / "marker").read_text() == "d1's"


def test_nothing_can_write_an_offline_devices_directory_again(layout):
    """A server still writing to the device (a container server quarantining a database it
    lost, say) cannot create ``devices/d1`` again: a file keeps its place."""
    faults.take_offline(layout, "d1")
    assert faults.is_placeholder(layout.devices / "d1")
    with pytest.raises(OSError):
        os.makedirs(layout.devices / "d1" / "quarantined" / "containers")
    assert layout.device_names() == ["d2", "d3"]
    assert sorted(p.name for p in layout.root.iterdir()) == ["devices", "offline"]
    faults.bring_back(layout, "d1")
    assert (layout.devices / "d1").is_dir() and layout.device_names() == ["d1", "d2", "d3"]


def test_repair_says_how_to_bring_an_offline_device_back(tmp_path):
    layout = Layout(tmp_path)
    for name in ("d1", "d2", "d3"):
        (layout.devices / name).mkdir(parents=True)
    faults.take_offline(layout, "d2")
    cloud = SimpleNamespace(layout=layout, settings=SimpleNamespace(devices=3))
    [said] = missing_devices(cloud)
    command = f"rm {layout.devices / 'd2'} && mv {layout.root / 'offline' / 'd2'} " \
              f"{layout.devices / 'd2'}"
    assert f"device d2 is offline: bring it back ({command})" in said
    subprocess.run(["sh", "-c", command], check=True)
    assert missing_devices(cloud) == [] and faults.offline_devices(layout) == []


def test_mistakes_are_refused(layout):
    with pytest.raises(FirstappError, match="no device 'd9'"):
        faults.take_offline(layout, "d9")
    with pytest.raises(FirstappError, match="not offline"):
        faults.bring_back(layout, "d2")
    faults.take_offline(layout, "d2")
    with pytest.raises(FirstappError, match="already offline"):
        faults.take_offline(layout, "d2")
    (layout.devices / "d2").unlink()  # someone removed the placeholder...
    (layout.devices / "d2").mkdir()  # ...and something new took the old name
    with pytest.raises(FirstappError, match="cannot come back"):
        faults.bring_back(layout, "d2")


def test_offline_block_brings_devices_back_even_after_an_error(layout):
    with pytest.raises(RuntimeError), faults.offline(layout, "d1", "d3"):
        assert layout.device_names() == ["d2"]
        raise RuntimeError("boom")
    assert layout.device_names() == ["d1", "d2", "d3"]
    assert faults.bring_all_back(layout) == []


def test_corrupt_flips_bytes_in_place(tmp_path):
    path = tmp_path / "copy.data"
    original = os.urandom(1000)
    path.write_bytes(original)
    assert faults.corrupt(path) == 496
    rotten = path.read_bytes()
    assert len(rotten) == 1000
    assert [i for i in range(1000) if rotten[i] != original[i]] == list(range(496, 504))
    assert all(rotten[i] == original[i] ^ 0xFF for i in range(496, 504))
    faults.corrupt(path, offset=496)  # flipping again restores the bytes
    assert path.read_bytes() == original
    with pytest.raises(ValueError, match="outside"):
        faults.corrupt(path, offset=1000)
