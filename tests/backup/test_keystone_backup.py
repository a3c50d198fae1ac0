"""`firstapp fractals backup` and `restore` against the local cloud's real Keystone v3:
a round trip of 25 fractals that signs in each way a learner gives settings (a backup with
exported v3 settings, a restore after sourcing a Horizon openrc, the same restore again with
OS_CLOUD alone, which finds everything there), sha256-equal images, and one ``error:``
line for each mistake."""

from __future__ import annotations

import hashlib
import sys
import uuid
from pathlib import Path

import pytest
from swiftclient import client as swift

from firstapp.cloud import keystone
from firstapp.cloud.fixtures import delete_container
from firstapp.fractals import client
from firstapp.fractals.fixtures import start_fractals_app
from firstapp.fractals.transfer import MANIFEST_NAME
from firstapp.net import free_port
from tests.backup.conftest import run_cli
from tests.samples.keystone_support import (
    cloud_only,
    exported,
    reader_only,
    run_with_openrc,
    unreachable_region,
    write_openrc,
)

COUNT = 25


@pytest.fixture(scope="module")
def ks_conn(keystone_cloud) -> swift.Connection:
    """python-swiftclient through Keystone: the independent checker."""
    return keystone.swift_connection(keystone_cloud.identity)


@pytest.fixture(scope="module")
def app25(tmp_path_factory):
    app = start_fractals_app(tmp_path_factory.mktemp("app25"), COUNT, seed=11, width=32,
                             height=32)
    yield app
    app.stop()


def fractals_cli(way: str, cloud, args: list[str], tmp_path):
    """``firstapp fractals ARGS`` with the settings given one way."""
    if way == "openrc":
        openrc = write_openrc(cloud, tmp_path)
        return run_with_openrc(openrc, cloud.identity.password,
                               [sys.executable, "-m", "firstapp", "fractals", *args],
                               cwd=tmp_path)
    env = exported(cloud) if way == "exported" else cloud_only(cloud)
    return run_cli(*args, env=env, timeout=180)


def test_backup_and_restore_round_trip_each_way(keystone_cloud, app25, ks_conn, tmp_path):
    container = f"ks-backup-{uuid.uuid4().hex[:8]}"
    db = tmp_path / "restored" / "fractals.db"
    db.parent.mkdir()
    try:
        backed = fractals_cli("exported", keystone_cloud, [
            "backup", "--container", container, "--endpoint", app25.endpoint], tmp_path)
        assert backed.returncode == 0, backed.stdout + backed.stderr
        assert f"{COUNT} uploaded" in backed.stdout
        # in the account Keystone's catalog names, checked with another client
        _, listing = ks_conn.get_container(container, full_listing=True)
        assert sorted(o["name"] for o in listing if o["name"] != MANIFEST_NAME) == sorted(
            app25.uuids)

        restore = ["restore", "--container", container, "--db", str(db)]
        restored = fractals_cli("openrc", keystone_cloud, restore, tmp_path)
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert f"{COUNT} restored" in restored.stdout
        again = fractals_cli("OS_CLOUD-only", keystone_cloud, restore, tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"0 restored, {COUNT} skipped" in again.stdout
    finally:
        delete_container(ks_conn, container)

    copy = start_fractals_app(db.parent, 0)
    try:
        originals = {f["uuid"]: client.download_image(app25.endpoint, f["uuid"])
                     for f in app25.fractals}
        for name, image in originals.items():
            again = client.download_image(copy.endpoint, name)
            assert hashlib.sha256(again).hexdigest() == hashlib.sha256(image).hexdigest()
        assert len(originals) == COUNT
    finally:
        copy.stop()


# --- mistakes: one error line, naming the setting, no traceback -----------------------------


def command(kind: str, app25, tmp_path) -> list[str]:
    if kind == "backup":
        return ["backup", "--container", "ks-errors", "--endpoint", app25.endpoint]
    return ["restore", "--container", "ks-errors", "--db", str(tmp_path / "r.db")]


def one_error_line(result, *expected: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("kind", ["backup", "restore"])
def test_wrong_region(kind, keystone_cloud, app25, tmp_path):
    env = exported(keystone_cloud, OS_REGION_NAME="RegionNine")
    one_error_line(run_cli(*command(kind, app25, tmp_path), env=env),
                   "no public object-store endpoint in region 'RegionNine'",
                   "region 'RegionOne' (public)", "check OS_REGION_NAME")


@pytest.mark.parametrize("kind", ["backup", "restore"])
def test_wrong_password(kind, keystone_cloud, app25, tmp_path):
    env = exported(keystone_cloud, OS_PASSWORD="not-the-password")
    one_error_line(run_cli(*command(kind, app25, tmp_path), env=env),
                   "authentication failed (401 Unauthorized)", "'learner'",
                   "check OS_USERNAME, OS_PASSWORD, OS_USER_DOMAIN_NAME")


def test_wrong_password_in_clouds_yaml_names_the_entry(keystone_cloud, app25, tmp_path):
    import yaml

    env = cloud_only(keystone_cloud)
    config = yaml.safe_load(Path(env["OS_CLIENT_CONFIG_FILE"]).read_text())
    config["clouds"]["local"]["auth"]["password"] = "not-the-password"
    changed = tmp_path / "clouds.yaml"
    changed.write_text(yaml.safe_dump(config))
    result = run_cli(*command("backup", app25, tmp_path),
                     env={**env, "OS_CLIENT_CONFIG_FILE": str(changed)})
    one_error_line(result, "401 Unauthorized", "in the clouds.yaml entry 'local' (OS_CLOUD)")


def test_wrong_project(keystone_cloud, app25, tmp_path):
    env = exported(keystone_cloud, OS_PROJECT_NAME="no-such-project")
    line = one_error_line(run_cli(*command("backup", app25, tmp_path), env=env),
                          "accepted user 'learner' and the password, but not for project "
                          "'no-such-project'", "OS_PROJECT_NAME",
                          "projects this user has a role on: tutorial")
    assert "OS_PASSWORD" not in line


def test_no_role_the_store_accepts(keystone_cloud, app25, tmp_path):
    with reader_only(keystone_cloud) as changes:
        result = run_cli(*command("backup", app25, tmp_path),
                         env=exported(keystone_cloud, **changes))
    one_error_line(result, f"refused project '{changes['OS_PROJECT_NAME']}' (403 Forbidden)",
                   "usually 'member'")


def test_unknown_os_cloud(keystone_cloud, app25, tmp_path):
    env = {**cloud_only(keystone_cloud), "OS_CLOUD": "no-such-cloud"}
    one_error_line(run_cli(*command("restore", app25, tmp_path), env=env),
                   "OS_CLOUD=no-such-cloud: there is no cloud of that name",
                   "has local", "check OS_CLOUD and OS_CLIENT_CONFIG_FILE")


def test_keystone_unreachable(keystone_cloud, app25, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v3"
    one_error_line(run_cli(*command("backup", app25, tmp_path),
                           env=exported(keystone_cloud, OS_AUTH_URL=url)),
                   f"nothing answers at {url}: check OS_AUTH_URL", "Keystone")


def test_swift_unreachable_names_the_catalogs_storage_url(keystone_cloud, app25, tmp_path):
    with unreachable_region(keystone_cloud) as (region, storage_url):
        result = run_cli(*command("backup", app25, tmp_path),
                         env=exported(keystone_cloud, OS_REGION_NAME=region))
    line = one_error_line(result, f"nothing answers at {storage_url}, the object store's URL "
                                  "from Keystone's catalog")
    assert keystone_cloud.auth_url not in line
