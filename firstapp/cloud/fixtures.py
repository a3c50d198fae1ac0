"""Pytest plugin: local clouds in temporary directories on free ports.

Tests never touch the user's default cloud. Enable with
``pytest_plugins = ["firstapp.cloud.fixtures"]``.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from swiftclient import client as swift

from firstapp.cloud import backends
from firstapp.cloud.client import connection
from firstapp.cloud.control import CloudInfo
from firstapp.net import free_port


@pytest.fixture(scope="session")
def cloud_factory(tmp_path_factory) -> Iterator[Callable[..., CloudInfo]]:
    """Start extra clouds (:func:`started_cloud`'s ``kwargs``); all are stopped at session
    end."""
    with ExitStack() as started:
        yield lambda **kwargs: started.enter_context(started_cloud(tmp_path_factory, **kwargs))


@contextmanager
def started_cloud(tmp_path_factory, **kwargs) -> Iterator[CloudInfo]:
    """A cloud of its own in a new temporary directory, on a free port (``devices=``,
    ``replicas=``, ``backend=``...: the backend is ``FIRSTAPP_BACKEND``'s, swift by
    default), stopped at the end of the ``with`` block: for module-scoped fixtures, so
    that a cloud (a Ceph one costs 6% of a core doing nothing) does not outlive the module
    that needs it."""
    data_dir = tmp_path_factory.mktemp("cloud")
    cloud, _ = backends.start(data_dir, port=free_port(), **kwargs)
    try:
        yield cloud
    finally:
        backends.stop(data_dir)


@pytest.fixture(scope="session")
def local_cloud(cloud_factory) -> CloudInfo:
    """A running 3-device, 3-replica cloud shared by the whole test session."""
    return cloud_factory()


@pytest.fixture(scope="session")
def keystone_cloud(tmp_path_factory) -> Iterator[CloudInfo]:
    """A running cloud with Keystone v3 sign-in (``--auth keystone``), shared by the whole
    session, and by every pytest-xdist worker of the run (a Keystone costs seconds of CPU
    to set up): ``keystone_cloud.env()`` gives its openrc-style OS_* settings. The first
    use on a machine creates Keystone's virtualenv (a minute or two)."""
    with shared_cloud(tmp_path_factory, "keystone-cloud", backend="swift",
                      auth="keystone") as cloud:
        yield cloud


@contextmanager
def shared_cloud(tmp_path_factory, name: str, **options) -> Iterator[CloudInfo]:
    """The cloud ``name`` that the pytest-xdist workers of this run share (in the run's
    base temporary directory), created on free ports by the first user (``options`` as for
    :func:`backends.start`, but ports), stopped when the last one is done (and started
    again on the same ports by a later one); a plain run's own."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    data_dir, users = root / name, root / f"{name}.users"
    with _locked(root / f"{name}.lock"):
        ports = {}
        if not data_dir.exists():
            ports["port"] = free_port()
            if options.get("auth") == "keystone":
                ports["keystone_port"] = free_port()
        cloud, _ = backends.start(data_dir, **ports, **options)
        count = int(users.read_text()) if users.exists() else 0
        users.write_text(str(count + 1))
    try:
        yield cloud
    finally:
        with _locked(root / f"{name}.lock"):
            count = int(users.read_text()) - 1
            users.write_text(str(count))
            if count == 0:
                backends.stop(data_dir)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture
def swift_conn(local_cloud: CloudInfo) -> swift.Connection:
    """An authenticated python-swiftclient connection: the independent client for checks."""
    return connection(local_cloud.auth_url, local_cloud.username, local_cloud.password)


@pytest.fixture
def container(swift_conn: swift.Connection) -> Iterator[str]:
    """A fresh, uniquely named container, emptied and deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    swift_conn.put_container(name)
    yield name
    delete_container(swift_conn, name)


def delete_container(conn: swift.Connection, name: str) -> None:
    """Delete ``name`` and everything in it; no error if it is already gone."""
    try:
        _, objects = conn.get_container(name, full_listing=True)
    except swift.ClientException as exc:
        if exc.http_status == 404:
            return
        raise
    for obj in objects:
        try:
            conn.delete_object(name, obj["name"])
        except swift.ClientException as exc:
            if exc.http_status != 404:
                raise
    conn.delete_container(name)
