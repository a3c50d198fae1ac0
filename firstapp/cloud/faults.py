"""Break a local cloud on purpose: take devices offline, bring them back, rot a copy's bytes.

For teaching and tests: a learner's local cloud is theirs to break. A device is *offline*
when its directory is missing. With ``mount_check = false`` the account, container and
object servers then answer 507 Insufficient Storage for it, as a real Swift node does for
an unmounted disk. The directory waits in ``<data dir>/offline/`` until it is brought back:
outside ``devices/``, where the auditor and updaters would still find it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from firstapp.cloud.layout import Layout
from firstapp.errors import FirstappError


def offline_dir(layout: Layout) -> Path:
    """Where offline devices wait, beside (not inside) ``devices/``."""
    return layout.root / "offline"


def offline_devices(layout: Layout) -> list[str]:
    """Names of the devices that are offline now."""
    where = offline_dir(layout)
    return sorted(p.name for p in where.iterdir()) if where.is_dir() else []


def take_offline(layout: Layout, device: str) -> Path:
    """Take ``device`` offline (move its directory aside); return where it now waits."""
    source, target = layout.devices / device, offline_dir(layout) / device
    if not source.is_dir():
        if target.is_dir():
            raise FirstappError(f"device {device} is already offline")
        raise FirstappError(f"there is no device {device!r} in {layout.devices} "
                            f"(devices: {', '.join(layout.device_names())})")
    if target.exists():
        raise FirstappError(f"{target} is in the way: move it elsewhere first")
    target.parent.mkdir(exist_ok=True)
    source.rename(target)
    return target


def bring_back(layout: Layout, device: str) -> Path:
    """Put an offline ``device`` back in service; return its directory."""
    source, target = offline_dir(layout) / device, layout.devices / device
    if not source.is_dir():
        raise FirstappError(f"device {device} is not offline")
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
