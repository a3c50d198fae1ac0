"""Proxy middleware: a local cloud whose disk is (nearly) full answers writes with 507.

Swift's object, container and account servers refuse a write with 507 Insufficient Storage
once their disk's free space falls to ``fallocate_reserve``, but the proxy turns that into
503 Service Unavailable and avoids those disks for a while, so reads fail too. On a real
cluster that is right: another node may have room. A local cloud has one disk, which the
proxy can see, so it refuses writes itself, before they reach a server: clients get a 507
that says the store is full, and reads, listings and deletes go on working.

Loaded by the proxy's paste pipeline (``paste.filter_factory``); Swift is imported only
inside the server process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

WRITES = ("PUT", "POST")


class DiskSpace:
    """Refuse PUT and POST with 507 when a device's disk would keep less than the reserve
    free after storing the request's body once per copy."""

    def __init__(self, app: Callable, conf: dict[str, Any]) -> None:
        from swift.common.utils import config_fallocate_value

        self.app = app
        self.devices = conf["devices"]
        self.copies = int(conf.get("copies", 3))
        self.reserve_text = conf.get("fallocate_reserve", "1%")
        self.reserve, self.is_percent = config_fallocate_value(self.reserve_text)

    def __call__(self, env: dict, start_response: Callable) -> Iterable[bytes]:
        if env["REQUEST_METHOD"] in WRITES and env.get("PATH_INFO", "").startswith("/v1/"):
            try:
                length = max(0, int(env.get("CONTENT_LENGTH") or 0))
            except ValueError:
                length = 0  # the proxy answers a malformed length itself
            full = self.full_device(length * self.copies)
            if full is not None:
                return self.refuse(full)(env, start_response)
        return self.app(env, start_response)

    def full_device(self, incoming: int = 0) -> str | None:
        """The first device directory whose disk would have less free space than the
        reserve once ``incoming`` more bytes are stored."""
        try:
            names = sorted(os.listdir(self.devices))
        except OSError:
            return None
        for name in names:
            path = os.path.join(self.devices, name)
            try:
                disk = os.statvfs(path)
            except OSError:  # a device taken away meanwhile: the servers answer for it
                continue
            free = disk.f_bavail * disk.f_frsize - incoming
            if self.is_percent:
                free = free * 100 / (disk.f_blocks * disk.f_frsize)
            if free < self.reserve:
                return path
        return None

    def refuse(self, path: str):
        from swift.common.swob import HTTPInsufficientStorage

        kept = self.reserve_text if self.is_percent else f"{self.reserve_text} bytes"
        body = (f"The store is full: less than {kept} of the disk holding {path} is free, "
                "and this local cloud keeps that much free. Delete objects or other files on "
                "that disk, then try again.\n")
        return HTTPInsufficientStorage(body=body.encode(), content_type="text/plain")


def filter_factory(global_conf: dict[str, Any], **local_conf: Any) -> Callable:
    """Paste entry point: ``paste.filter_factory = firstapp.cloud.diskspace:filter_factory``."""
    conf = {**global_conf, **local_conf}

    def make(app: Callable) -> DiskSpace:
        return DiskSpace(app, conf)

    return make
