"""Where the copies of an object live: ring lookup to partition, devices and files on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from firstapp.cloud.layout import Layout


@dataclass(frozen=True)
class Replica:
    """One of the ring's assigned copies of an object."""

    device: str
    zone: int
    partition: int
    directory: Path  # the object's hash directory on that device
    data_file: Path | None  # the newest ``.data`` file there, None when the copy is missing

    @property
    def present(self) -> bool:
        return self.data_file is not None


def account_of(storage_url: str) -> str:
    """The Swift account name in a storage URL (``.../v1/<account>``)."""
    return unquote(urlsplit(storage_url).path.rstrip("/").rsplit("/", 1)[-1])


def replicas(layout: Layout, account: str, container: str, obj: str) -> list[Replica]:
    """The ring's primary locations for ``account/container/obj`` and what is on disk there."""
    from swift.common.ring import Ring
    from swift.common.utils import hash_path, set_swift_dir

    set_swift_dir(str(layout.etc))
    ring = Ring(str(layout.etc), ring_name="object")
    partition, nodes = ring.get_nodes(account, container, obj)
    digest = hash_path(account, container, obj)
    found = []
    for node in nodes:
        suffix_dir = layout.devices / node["device"] / "objects" / str(partition) / digest[-3:]
        directory = suffix_dir / digest
        data = sorted(directory.glob("*.data")) if directory.is_dir() else []
        found.append(Replica(node["device"], node["zone"], partition, directory,
                             data[-1] if data else None))
    return found


def data_files(layout: Layout) -> list[Path]:
    """Every object replica file on every device (including handoff copies)."""
    return sorted(layout.devices.glob("*/objects/*/*/*/*.data"))
