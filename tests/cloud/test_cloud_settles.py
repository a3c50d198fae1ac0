"""The local cloud settles by itself: listings catch up without `firstapp cloud repair`, and a
burst of uploads neither fails nor locks the devices out."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from firstapp.cloud.client import connection
from firstapp.cloud.fixtures import started_cloud
from firstapp.net import wait_until
from tests.cloud.support import device_listing

BURST = 64  # concurrent uploaders, as `backup --workers 64` runs them
SETTLE_WITHIN = 60.0  # s: a bound for the polls below, far above what they take


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """A cloud of this module's own: its logs and pending updates are checked."""
    with started_cloud(tmp_path_factory) as cloud:
        yield cloud


def pending_updates(cloud) -> list:
    """The container updates the object servers saved for the updater."""
    return sorted(cloud.layout.devices.glob("*/async_pending*/*/*"))


def test_a_burst_of_uploads_is_stored_listed_and_leaves_the_store_writable(cloud):
    conn = connection(cloud.auth_url, cloud.username, cloud.password)
    conn.put_container("burst")
    local = threading.local()
    bodies = {f"object-{i:03d}": os.urandom(64 * 1024) for i in range(2 * BURST)}

    def upload(name: str) -> str:
        if not hasattr(local, "conn"):
            local.conn = connection(cloud.auth_url, cloud.username, cloud.password)
        return local.conn.put_object("burst", name, bodies[name])

    with ThreadPoolExecutor(BURST) as pool:
        etags = dict(zip(bodies, pool.map(upload, bodies), strict=True))
    assert all(etags[name] == hashlib.md5(body).hexdigest() for name, body in bodies.items())

    # right after the burst the store still takes writes: no device was locked out
    conn.put_object("burst", "right-after", b"one more")
    expected = {*bodies, "right-after"}

    def listed() -> set[str]:
        return {entry["name"] for entry in conn.get_container("burst", full_listing=True)[1]}

    assert wait_until(lambda: listed() == expected, SETTLE_WITHIN, interval=0.5), (
        f"{len(expected - listed())} objects missing from the listing")
    assert "error limited" not in cloud.layout.log_file.read_text()


def test_updates_saved_for_later_reach_the_listing_without_repair(cloud):
    """A container copy that cannot take updates gets them from the background updater."""
    conn = connection(cloud.auth_url, cloud.username, cloud.password)
    conn.put_container("late")
    names = {f"late-{i}" for i in range(8)}
    # d1's container databases are out of reach: its container server answers 404, so the
    # object servers save d1's listing updates for later ("async pending")
    containers = cloud.layout.devices / "d1" / "containers"
    away = containers.with_name("containers.away")
    containers.rename(away)
    try:
        for name in names:
            conn.put_object("late", name, name.encode())
        saved = pending_updates(cloud)
        assert len(saved) >= len(names)
    finally:
        away.rename(containers)

    assert wait_until(lambda: device_listing(cloud, "d1", "late") == names, SETTLE_WITHIN,
                      interval=0.5)
    assert wait_until(lambda: not pending_updates(cloud), SETTLE_WITHIN, interval=0.5)
    # and the container updater carried the container's count up to the account
    def counted() -> int:
        return {c["name"]: c["count"] for c in conn.get_account()[1]}.get("late", 0)

    assert wait_until(lambda: counted() == len(names), SETTLE_WITHIN, interval=0.5)


def test_every_change_reaches_the_account_and_settled_databases_are_not_reopened(cloud):
    """The settler's sweep hands Swift's container updater only the databases written since
    they were last found reported; each later change still reaches the account."""
    from swift.common.utils import readconf, set_swift_dir
    from swift.container.backend import ContainerBroker
    from swift.container.updater import ContainerUpdater

    from firstapp.cloud.settle import QUIET_NS, sweep_containers

    conn = connection(cloud.auth_url, cloud.username, cloud.password)
    conn.put_container("counted")

    def counted() -> int | None:
        return {c["name"]: c["count"] for c in conn.get_account()[1]}.get("counted")

    for name in ("a", "b", "c"):
        conn.put_object("counted", name, name.encode())
    assert wait_until(lambda: counted() == 3, SETTLE_WITHIN, interval=0.5), counted()
    for name in ("d", "e"):  # more objects after the container's count was reported
        conn.put_object("counted", name, name.encode())
    assert wait_until(lambda: counted() == 5, SETTLE_WITHIN, interval=0.5), counted()
    conn.delete_object("counted", "a")
    assert wait_until(lambda: counted() == 4, SETTLE_WITHIN, interval=0.5), counted()

    # a sweep of this process's own over the same databases, counting what it opens
    set_swift_dir(str(cloud.layout.etc))
    updater = ContainerUpdater(readconf(str(cloud.layout.conf("container")),
                                        "container-updater"))
    opened: list[str] = []
    process = updater.process_container
    updater.process_container = lambda db_file: (opened.append(db_file), process(db_file))[1]
    reported: dict = {}

    def sweep() -> set[str]:
        opened.clear()
        sweep_containers(updater, reported)
        return {ContainerBroker(db).get_info()["container"] for db in opened}

    time.sleep(QUIET_NS / 1e9 + 0.2)  # until every file is old enough to be trusted
    assert "counted" in sweep()  # the first sweep opens every database once
    assert sweep() == set()  # nothing written since: nothing opened
    conn.put_object("counted", "one-more", b"x")
    assert sweep() == {"counted"}  # only the container that changed
