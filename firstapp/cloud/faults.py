"""Break a local cloud on purpose: take devices offline, bring them back, rot a copy's bytes.

For teaching and tests: a learner's local cloud is theirs to break. A device is *offline*
when its directory is not there. With ``mount_check = false`` the account, container and
object servers then answer 507 Insufficient Storage for it, as a real Swift node does for
an unmounted disk. The directory waits in ``<data dir>/offline/`` until it is brought back:
outside ``devices/``, where the auditor and updaters would still find it. In its place sits
a small file, as an empty mount point stands in for an unmounted disk: Swift's servers
create the directories they write into, and a container server that was still writing to
the device when it went (quarantining a database it can no longer open, say) would
otherwise create ``devices/<device>`` again, bringing the device back half empty.

A cloud is *full* when its disk has less free space than its ``fallocate_reserve``: it then
refuses writes with 507 Insufficient Storage. :func:`full` makes it so without filling
the disk, by raising the reserve to 100%.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from firstapp.cloud import config, control
from firstapp.cloud.layout import Layout
from firstapp.errors import FirstappError

#: A reserve no disk can keep: every write is refused as if the disk were full.
EVERYTHING = "100%"


def offline_dir(layout: Layout) -> Path:
    """Where offline devices wait, beside (not inside) ``devices/``."""
    return layout.root / "offline"


def offline_devices(layout: Layout) -> list[str]:
    """Names of the devices that are offline now."""
    where = offline_dir(layout)
    return sorted(p.name for p in where.iterdir() if p.is_dir()) if where.is_dir() else []


def _placeholder_text(device: str) -> str:
    return (f"Device {device} is offline: its directory waits in ../offline/{device}. "
            "This file keeps its place, so that nothing writes here meanwhile.\n")


def is_placeholder(path: Path) -> bool:
    """Whether ``path`` is the file that keeps an offline device's place in ``devices/``."""
    try:
        return path.is_file() and path.read_text() == _placeholder_text(path.name)
    except (OSError, UnicodeDecodeError):
        return False


def take_offline(layout: Layout, device: str) -> Path:
    """Take ``device`` offline (move its directory aside, a placeholder file in its place);
    return where it now waits."""
    source, target = layout.devices / device, offline_dir(layout) / device
    if not source.is_dir():
        if target.is_dir():
            raise FirstappError(f"device {device} is already offline")
        raise FirstappError(f"there is no device {device!r} in {layout.devices} "
                            f"(devices: {', '.join(layout.device_names())})")
    if target.exists():
        raise FirstappError(f"{target} is in the way: move it elsewhere first")
    target.parent.mkdir(exist_ok=True)
    placeholder = layout.root / f".{device}.offline"
    placeholder.write_text(_placeholder_text(device))
    source.rename(target)
    try:  # a file can take the place of no directory: fails if a server just made one
        placeholder.rename(source)
    except OSError:
        placeholder.unlink()
        raise FirstappError(f"{source} was created again as {device} went offline: a server "
                            f"was writing to it; move {target} back and try again") from None
    return target


def bring_back(layout: Layout, device: str) -> Path:
    """Put an offline ``device`` back in service; return its directory."""
    source, target = offline_dir(layout) / device, layout.devices / device
    if not source.is_dir():
        raise FirstappError(f"device {device} is not offline")
    if is_placeholder(target):
        target.unlink()
    if target.exists():
        raise FirstappError(f"{target} exists: device {device} cannot come back over it")
    source.rename(target)
    return target


def bring_all_back(layout: Layout) -> list[str]:
    """Bring every offline device back; return their names."""
    devices = offline_devices(layout)
    for device in devices:
        bring_back(layout, device)
    return devices


@contextmanager
def offline(layout: Layout, *devices: str) -> Iterator[None]:
    """Keep ``devices`` offline for the duration of a ``with`` block."""
    taken: list[str] = []
    try:
        for device in devices:
            take_offline(layout, device)
            taken.append(device)
        yield
    finally:
        for device in taken:
            bring_back(layout, device)


def corrupt(path: Path, offset: int | None = None, length: int = 8) -> int:
    """Flip every bit of ``length`` bytes of the file at ``path``, as bit rot would.

    The size stays the same, so only a checksum can tell. ``offset`` defaults to the middle
    of the file; returns the offset used.
    """
    size = path.stat().st_size
    if offset is None:
        offset = max(0, (size - length) // 2)
    if not 0 <= offset < size:
        raise ValueError(f"offset {offset} is outside {path} ({size} bytes)")
    with path.open("r+b") as fh:
        fh.seek(offset)
        rotten = bytes(b ^ 0xFF for b in fh.read(length))
        fh.seek(offset)
        fh.write(rotten)
    return offset


def set_reserve(data_dir: str | os.PathLike[str], reserve: str) -> control.CloudInfo:
    """Restart the cloud in ``data_dir`` keeping ``reserve`` free (bytes, or ``N%`` of the
    disk); return it running. Its port, credentials and objects stay as they were."""
    layout = Layout.at(data_dir)
    settings = config.load_settings(layout)
    config.parse_reserve(reserve)
    control.stop(layout.root)
    config.save_settings(layout, dataclasses.replace(settings, fallocate_reserve=reserve))
    cloud, _ = control.start(layout.root)
    return cloud


@contextmanager
def full(data_dir: str | os.PathLike[str]) -> Iterator[control.CloudInfo]:
    """Make the running cloud in ``data_dir`` full for a ``with`` block, then not.

    Inside, every PUT and POST answers 507 Insufficient Storage ("The store is full: ...")
    while reads, listings and deletes work; afterwards the reserve is what it was and
    writes succeed again. The cloud is restarted on the way in and out (about a second
    each; same port, credentials and tokens, but open connections are closed), so use a
    cloud of the test's own (``cloud_factory``), e.g.::

        cloud = cloud_factory()
        with faults.full(cloud.layout.root):
            ...  # run the command under test: it must stop with "the store is full"
        ...      # run it again: it must now finish
    """
    layout = Layout.at(data_dir)
    before = config.load_settings(layout).fallocate_reserve
    cloud = set_reserve(layout.root, EVERYTHING)
    try:
        yield cloud
    finally:
        set_reserve(layout.root, before)
