"""Helpers shared by the local cloud's tests."""

from __future__ import annotations

import json

import requests

from firstapp.cloud.placement import account_of


def device_listing(cloud, device: str, container: str) -> set[str]:
    """Object names in one device's copy of a container, from its container server."""
    from swift.common.ring import Ring
    from swift.common.utils import set_swift_dir

    set_swift_dir(str(cloud.layout.etc))  # the cloud's hash prefix and suffix place it
    account = account_of(cloud.storage_url)
    partition, _ = Ring(str(cloud.layout.etc), ring_name="container").get_nodes(account,
                                                                               container)
    port = json.loads(cloud.layout.ports_file.read_text())["container"]
    answer = requests.get(f"http://127.0.0.1:{port}/{device}/{partition}/{account}/"
                          f"{container}?format=json", timeout=30)
    answer.raise_for_status()
    return {entry["name"] for entry in answer.json()}
