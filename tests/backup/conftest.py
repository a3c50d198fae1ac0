"""Shared fixtures for the backup and restore tests: a real local cloud and a real app."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from swiftclient import client as swift

from firstapp.cloud.client import connection
from firstapp.cloud.control import CloudInfo
from firstapp.cloud.fixtures import delete_container
from firstapp.fractals.backup import BackupReport, backup
from firstapp.fractals.fixtures import FractalsApp, start_fractals_app
from firstapp.fractals.transfer import MANIFEST_NAME, ConnFactory

#: Fractals in the shared app: more than the API's largest page (100 would be
#: slower to seed); 60 at 48x48 take well under a second to render.
COUNT = 60


@pytest.fixture(scope="session")
def app60(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FractalsApp]:
    """An app serving 60 small fractals, shared by the backup and restore tests."""
    app = start_fractals_app(tmp_path_factory.mktemp("app60"), COUNT, seed=6, width=48,
                             height=48)
    yield app
    app.stop()


@pytest.fixture(scope="session")
def conn_factory(local_cloud: CloudInfo) -> ConnFactory:
    """What backup() and restore() take: a new authenticated connection per call."""
    return lambda: connection(local_cloud.auth_url, local_cloud.username, local_cloud.password)


@pytest.fixture(scope="session")
def backed_up(app60: FractalsApp, conn_factory: ConnFactory) -> Iterator[
    tuple[str, BackupReport]
]:
    """A container holding a backup of ``app60`` (never changed by the tests) and its report.

    Tests that change a backup use their own container.
    """
    name = "backup-app60"
    report = backup(app60.endpoint, conn_factory, name, workers=8)
    yield name, report
    delete_container(conn_factory(), name)


@pytest.fixture
def cloud_env(local_cloud: CloudInfo) -> dict[str, str]:
    """The OS_* variables of `firstapp cloud env` for the test cloud."""
    return local_cloud.env()


def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m firstapp fractals ARGS`` with only ``env``'s OS_* variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ST_"))}
    return subprocess.run([sys.executable, "-m", "firstapp", "fractals", *args],
                          env={**base, **env}, capture_output=True, text=True,
                          timeout=timeout, check=False)


def object_sha256(conn: swift.Connection, container: str, name: str) -> tuple[dict, str]:
    """An object's headers and the SHA-256 of its bytes, read with the independent client."""
    headers, body = conn.get_object(container, name)
    return headers, hashlib.sha256(body).hexdigest()


def object_names(conn: swift.Connection, container: str) -> list[str]:
    """The fractals' objects in ``container`` (every object but the backup's manifest)."""
    return [obj["name"] for obj in conn.get_container(container, full_listing=True)[1]
            if obj["name"] != MANIFEST_NAME]


def read_manifest_json(conn: swift.Connection, container: str) -> dict:
    """The manifest object's JSON, read with the independent client."""
    return json.loads(conn.get_object(container, MANIFEST_NAME)[1])
