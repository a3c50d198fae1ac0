"""Where a local cloud keeps its files inside its data directory."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firstapp.paths import default_data_dir

SERVICES = ("account", "container", "object")


@dataclass(frozen=True)
class Layout:
    """The files of one local cloud, all below ``root``."""

    root: Path

    @classmethod
    def at(cls, data_dir: str | os.PathLike[str] | None = None) -> Layout:
        base = Path(data_dir) if data_dir else default_data_dir() / "cloud"
        return cls(base.expanduser().resolve())

    @property
    def etc(self) -> Path:
        """Swift's configuration and rings (Swift's ``swift_dir``)."""
        return self.root / "etc"

    @property
    def devices(self) -> Path:
        """Parent of the device directories (Swift's ``devices``)."""
        return self.root / "devices"

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    @property
    def credentials_file(self) -> Path:
        return self.root / "credentials.json"

    @property
    def clouds_yaml(self) -> Path:
        return self.root / "clouds.yaml"

    @property
    def pid_file(self) -> Path:
        return self.root / "cloud.pid"

    @property
    def ports_file(self) -> Path:
        """Ports of the running servers, written by the server once it listens."""
        return self.root / "ports.json"

    @property
    def log_file(self) -> Path:
        return self.root / "cloud.log"

    def conf(self, service: str) -> Path:
        return self.etc / f"{service}-server.conf"

    def ring(self, service: str) -> Path:
        return self.etc / f"{service}.ring.gz"

    def builder(self, service: str) -> Path:
        return self.etc / f"{service}.builder"

    def device_names(self) -> list[str]:
        """The devices in service: the directories in ``devices/``."""
        if not self.devices.is_dir():
            return []
        return sorted(p.name for p in self.devices.iterdir() if p.is_dir())

    def read_json(self, path: Path) -> dict[str, Any]:
        return json.loads(path.read_text())


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
