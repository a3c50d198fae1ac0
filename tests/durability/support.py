"""What the durability tests look at: objects, their copies on disk, verified reads."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field

import requests
from swiftclient import client as swift

from firstapp.cloud.control import CloudInfo
from firstapp.cloud.placement import Replica, account_of, replicas


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def connect(cloud: CloudInfo) -> swift.Connection:
    """An independent client that retries nothing, so every failure shows."""
    return swift.Connection(authurl=cloud.auth_url, user=cloud.username, key=cloud.password,
                            auth_version="1.0", retries=0)


def fill(conn: swift.Connection, container: str, count: int, size: int = 4096,
         prefix: str = "object") -> dict[str, str]:
    """Store ``count`` objects of random bytes; return name -> md5."""
    conn.put_container(container)
    stored = {}
    for index in range(count):
        data = os.urandom(size)
        name = f"{prefix}-{index:03d}"
        assert conn.put_object(container, name, data) == md5(data)
        stored[name] = md5(data)
    return stored


def copies(cloud: CloudInfo, container: str, name: str) -> list[Replica]:
    """The ring's three places for ``name`` and what is there on disk."""
    return replicas(cloud.layout, account_of(cloud.storage_url), container, name)


def good_devices(cloud: CloudInfo, container: str, name: str, etag: str) -> list[str]:
    """Devices holding a copy of ``name`` whose bytes have the md5 ``etag``."""
    return [c.device for c in copies(cloud, container, name)
            if c.present and md5(c.data_file.read_bytes()) == etag]


@dataclass
class VerifiedReader:
    """GETs through the proxy that accept a body only when its md5 equals the ETag."""

    conn: swift.Connection
    container: str
    rejected: list[dict] = field(default_factory=list)

    def get(self, name: str, attempts: int = 3) -> bytes:
        for _ in range(attempts):
            response: dict = {}
            headers, body = self.conn.get_object(self.container, name, response_dict=response)
            if md5(body) == headers["etag"]:
                return body
            self.rejected.append({"name": name, "status": response["status"],
                                  "etag": headers["etag"], "length": len(body),
                                  "body_md5": md5(body)})
        raise AssertionError(f"{attempts} reads of {name} all failed the ETag check")


def object_server(cloud: CloudInfo, replica: Replica, container: str, name: str) -> str:
    """The URL of one copy on the object server: /device/partition/account/container/object."""
    port = json.loads(cloud.layout.ports_file.read_text())["object"]
    return (f"http://127.0.0.1:{port}/{replica.device}/{replica.partition}/"
            f"{account_of(cloud.storage_url)}/{container}/{name}")


def direct_get(cloud: CloudInfo, replica: Replica, container: str,
               name: str) -> requests.Response:
    """GET one copy straight from its object server, as the proxy does."""
    return requests.get(object_server(cloud, replica, container, name), timeout=30)


def eventually(check, timeout: float = 10.0) -> bool:
    """Whether ``check()`` becomes true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def quarantined(cloud: CloudInfo) -> set[tuple[str, str]]:
    """(device, hash directory) of every object copy in quarantine."""
    return {(p.parts[-4], p.name)
            for p in cloud.layout.devices.glob("*/quarantined/objects/*")}


def container_listing(cloud: CloudInfo, device: str, container: str) -> list[dict]:
    """One device's copy of a container listing, straight from its container server."""
    from swift.common.ring import Ring

    ring = Ring(str(cloud.layout.etc), ring_name="container")
    account = account_of(cloud.storage_url)
    partition, _ = ring.get_nodes(account, container)
    port = json.loads(cloud.layout.ports_file.read_text())["container"]
    answer = requests.get(f"http://127.0.0.1:{port}/{device}/{partition}/{account}/"
                          f"{container}?format=json", timeout=30)
    assert answer.status_code == 200, answer.status_code
    return answer.json()
