"""The local cloud stores real bytes, three times, and authenticates for real."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys

import pytest
from swiftclient import client as swift

from firstapp.cloud.client import authenticate, connection
from firstapp.cloud.placement import account_of, replicas
from firstapp.errors import FirstappError

MiB = 1 << 20


def test_generated_credentials_authenticate(local_cloud):
    storage_url, token = authenticate(local_cloud.auth_url, local_cloud.username,
                                      local_cloud.password)
    assert storage_url == local_cloud.storage_url
    headers = swift.head_account(storage_url, token)
    assert "x-account-container-count" in headers


def test_wrong_password_is_a_clear_401(local_cloud):
    with pytest.raises(FirstappError) as err:
        authenticate(local_cloud.auth_url, local_cloud.username, "not-the-password")
    assert "401 Unauthorized" in str(err.value)
    assert "password" in str(err.value)
    # and the store really refused it
    with pytest.raises(swift.ClientException) as raw:
        swift.get_auth(local_cloud.auth_url, local_cloud.username, "not-the-password")
    assert raw.value.http_status == 401


def test_one_mib_round_trip(swift_conn, container, tmp_path):
    local = tmp_path / "payload.bin"
    local.write_bytes(os.urandom(MiB))
    with local.open("rb") as fh:
        etag = swift_conn.put_object(container, "payload.bin", fh)
    headers, body = swift_conn.get_object(container, "payload.bin")
    local_md5 = hashlib.md5(local.read_bytes()).hexdigest()
    assert hashlib.md5(body).hexdigest() == etag == headers["etag"] == local_md5
    assert int(headers["content-length"]) == MiB


def test_three_copies_on_three_devices(local_cloud, swift_conn, container):
    data = os.urandom(MiB)
    etag = swift_conn.put_object(container, "thrice", data)
    copies = replicas(local_cloud.layout, account_of(local_cloud.storage_url), container,
                      "thrice")
    assert len(copies) == 3
    assert len({c.device for c in copies}) == 3
    assert len({c.zone for c in copies}) == 3
    for copy in copies:
        assert copy.present, copy
        assert hashlib.md5(copy.data_file.read_bytes()).hexdigest() == etag


def test_status_counts_objects(local_cloud, swift_conn, container):
    from firstapp.cloud.control import status

    before = status(local_cloud.layout.root)
    swift_conn.put_object(container, "a", b"x" * 1000)
    swift_conn.put_object(container, "b", b"y" * 24)
    after = status(local_cloud.layout.root)
    assert after["objects"] - before["objects"] == 2
    assert after["bytes"] - before["bytes"] == 1024


def test_env_exports_work_for_swiftclient_and_openstacksdk(local_cloud, container):
    out = subprocess.run(
        [sys.executable, "-m", "firstapp", "cloud", "env", "--data-dir",
         str(local_cloud.layout.root)],
        capture_output=True, text=True, check=True,
    ).stdout
    env = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1)
               for line in out.splitlines())
    assert env["OS_AUTH_TYPE"] == "v1password"
    assert env["OS_PASSWORD"] == local_cloud.password

    conn = connection(env["OS_AUTH_URL"], env["OS_USERNAME"], env["OS_PASSWORD"])
    assert container in [c["name"] for c in conn.get_account()[1]]

    # OS_CLOUD=local through the clouds.yaml the cloud wrote, as a user's shell would see it
    only_cloud = {"OS_CLOUD": env["OS_CLOUD"],
                  "OS_CLIENT_CONFIG_FILE": env["OS_CLIENT_CONFIG_FILE"],
                  "PATH": os.environ["PATH"]}
    listed = subprocess.run(
        [sys.executable, "-c", "import openstack; conn = openstack.connect(); "
         "print([c.name for c in conn.object_store.containers()])"],
        capture_output=True, text=True, env=only_cloud, check=True,
    ).stdout
    assert container in listed
