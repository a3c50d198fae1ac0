"""`firstapp cloud start --auth keystone`: a real Keystone v3 signs users in, Swift's proxy
checks its tokens (authtoken + keystoneauth), clients find Swift in Keystone's catalog."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
import yaml
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from swiftclient import client as swift

from firstapp.cloud import control, keystone
from firstapp.errors import FirstappError
from firstapp.net import free_port, port_in_use

TIMEOUT = 30


def password_session(url: str, user: str, password: str, project: str) -> ks_session.Session:
    auth = v3.Password(auth_url=url, username=user, password=password, project_name=project,
                       user_domain_name="Default", project_domain_name="Default")
    return ks_session.Session(auth=auth, timeout=TIMEOUT)


def admin_session(cloud) -> ks_session.Session:
    """The bootstrap admin, whose password lives in the cloud's private identity.json."""
    state = json.loads((cloud.layout.root / "keystone" / "identity.json").read_text())
    return password_session(cloud.auth_url, "admin", state["admin_password"], "admin")


def test_env_is_an_openrc_for_keystone_v3(keystone_cloud):
    env = keystone_cloud.env()
    assert env["OS_AUTH_URL"] == f"http://127.0.0.1:{keystone_cloud.identity.port}/v3"
    assert {k: env[k] for k in ("OS_AUTH_TYPE", "OS_USERNAME", "OS_PROJECT_NAME",
                                "OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME",
                                "OS_REGION_NAME", "OS_IDENTITY_API_VERSION")} == {
        "OS_AUTH_TYPE": "password", "OS_USERNAME": "learner", "OS_PROJECT_NAME": "tutorial",
        "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": "RegionOne", "OS_IDENTITY_API_VERSION": "3"}
    assert len(env["OS_PASSWORD"]) >= 20
    assert "OS_STORAGE_URL" not in env  # clients take it from the catalog
    entry = yaml.safe_load(Path(env["OS_CLIENT_CONFIG_FILE"]).read_text())["clouds"]["local"]
    assert entry["auth"]["auth_url"] == env["OS_AUTH_URL"]
    assert entry["auth"]["password"] == env["OS_PASSWORD"]
    assert entry["region_name"] == "RegionOne"
    settings = json.loads(keystone_cloud.layout.settings_file.read_text())
    assert settings["auth"] == "keystone"
    assert settings["keystone_port"] == keystone_cloud.identity.port


def test_cloud_env_command_prints_the_exports(keystone_cloud):
    done = subprocess.run([sys.executable, "-m", "firstapp", "cloud", "env", "--data-dir",
                           str(keystone_cloud.layout.root)], capture_output=True, text=True,
                          timeout=60, check=True)
    assert f"export OS_AUTH_URL={keystone_cloud.auth_url}\n" in done.stdout
    assert "export OS_AUTH_TYPE=password\n" in done.stdout
    assert "export OS_REGION_NAME=RegionOne\n" in done.stdout


def test_secrets_are_private_files_and_on_no_command_line(keystone_cloud):
    kdir = keystone_cloud.layout.root / "keystone"
    for path in (kdir / "identity.json", kdir / "keystone.conf", kdir / "keystone.db",
                 kdir / "keystone.log", keystone_cloud.layout.clouds_yaml,
                 keystone_cloud.layout.conf("proxy")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for key_dir in ("fernet-keys", "credential-keys"):
        assert stat.S_IMODE((kdir / key_dir).stat().st_mode) == 0o700
    state = json.loads((kdir / "identity.json").read_text())
    secrets = [state["admin_password"], state["service_password"], keystone_cloud.password]
    pids = [keystone_cloud.pid, keystone.running_pid(keystone_cloud.layout)]
    assert all(pids)
    for pid in pids:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert not any(secret in cmdline for secret in secrets)
    # both listen on loopback only
    assert port_in_use(keystone_cloud.identity.port)


def test_passwords_are_long_random_secrets_hashed_at_bcrypt_s_lowest_cost(keystone_cloud):
    """bcrypt's cost (12 by default: 0.25 s of CPU per sign-in) guards weak passwords; these
    are random secrets of 144 bits or more, so Keystone hashes them at cost 4."""
    kdir = keystone_cloud.layout.root / "keystone"
    state = json.loads((kdir / "identity.json").read_text())
    for secret in (state["admin_password"], state["service_password"], keystone_cloud.password):
        assert len(secret) >= 24
    with sqlite3.connect(f"file:{kdir / 'keystone.db'}?mode=ro", uri=True) as db:
        hashes = [row[0] for row in db.execute("SELECT password_hash FROM password")]
    assert len(hashes) >= 3  # admin, the service user, the learner
    assert all(h.startswith("$2b$04$") for h in hashes), hashes
    password_session(keystone_cloud.auth_url, keystone_cloud.username, keystone_cloud.password,
                     keystone_cloud.env()["OS_PROJECT_NAME"]).get_token()


def test_token_from_keystone_and_a_round_trip_through_the_catalog(keystone_cloud):
    env = keystone_cloud.env()
    sess = password_session(env["OS_AUTH_URL"], env["OS_USERNAME"], env["OS_PASSWORD"],
                            env["OS_PROJECT_NAME"])
    token = sess.get_token()
    assert token.startswith("gAAAAA")  # a Fernet token
    storage_url = sess.get_endpoint(service_type="object-store", interface="public",
                                    region_name="RegionOne")
    project_id = sess.get_project_id()
    assert storage_url == f"http://127.0.0.1:{keystone_cloud.port}/v1/AUTH_{project_id}"
    assert storage_url == keystone_cloud.storage_url

    conn = swift.Connection(session=sess, retries=0, timeout=(5, 60),
                            os_options={"region_name": "RegionOne"})
    container, body = f"ks-{uuid.uuid4().hex[:8]}", os.urandom(100_000)
    conn.put_container(container)
    try:
        etag = conn.put_object(container, "blob", body)
        headers, got = conn.get_object(container, "blob")
        assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
        assert etag == headers["etag"] == hashlib.md5(body).hexdigest()
        assert conn.url == storage_url
        # the same object, with the token and the URL used by hand
        answer = requests.get(f"{storage_url}/{container}/blob", timeout=TIMEOUT,
                              headers={"X-Auth-Token": token})
        assert answer.status_code == 200 and answer.content == body
    finally:
        conn.delete_object(container, "blob")
        conn.delete_container(container)


def test_openstacksdk_finds_swift_through_os_cloud(keystone_cloud):
    import openstack

    env = keystone_cloud.env()
    config = openstack.config.OpenStackConfig(config_files=[env["OS_CLIENT_CONFIG_FILE"]])
    conn = openstack.connection.Connection(config=config.get_one("local"))
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    conn.object_store.create_container(name)
    try:
        conn.object_store.upload_object(container=name, name="hello", data=b"hello keystone")
        assert conn.object_store.download_object("hello", container=name) == b"hello keystone"
        assert name in [c.name for c in conn.object_store.containers()]
    finally:
        conn.object_store.delete_object("hello", container=name)
        conn.object_store.delete_container(name)


def test_no_token_and_a_bogus_token_are_refused_with_401(keystone_cloud):
    url = keystone_cloud.storage_url
    assert requests.get(url, timeout=TIMEOUT).status_code == 401
    bogus = requests.get(url, timeout=TIMEOUT, headers={"X-Auth-Token": "gAAAAAbogus"})
    assert bogus.status_code == 401
    assert keystone_cloud.auth_url in bogus.headers.get("Www-Authenticate", "")


def test_a_user_without_a_role_on_the_project_gets_403(keystone_cloud):
    """A user signed in to another project (member there, nothing on ``tutorial``) may not
    touch tutorial's account: Swift's keystoneauth answers 403."""
    admin = admin_session(keystone_cloud)
    api = keystone_cloud.auth_url
    suffix = uuid.uuid4().hex[:8]
    password = uuid.uuid4().hex

    def post(path: str, body: dict) -> dict:
        return admin.post(api + path, json=body).json()

    project = post("/projects", {"project": {"name": f"other-{suffix}",
                                             "domain_id": "default"}})["project"]
    user = post("/users", {"user": {"name": f"stranger-{suffix}", "domain_id": "default",
                                    "password": password}})["user"]
    member = admin.get(api + "/roles?name=member").json()["roles"][0]
    admin.put(f"{api}/projects/{project['id']}/users/{user['id']}/roles/{member['id']}")
    try:
        stranger = password_session(api, user["name"], password, project["name"])
        token = stranger.get_token()
        own = stranger.get_endpoint(service_type="object-store", interface="public")
        assert own.endswith(f"/AUTH_{project['id']}")  # the catalog names their own account
        assert requests.get(own, timeout=TIMEOUT,
                            headers={"X-Auth-Token": token}).status_code in (200, 204)
        theirs = requests.get(keystone_cloud.storage_url, timeout=TIMEOUT,
                              headers={"X-Auth-Token": token})
        assert theirs.status_code == 403
        # and Keystone itself will not scope them to the tutorial project
        with pytest.raises(Exception) as refused:
            password_session(api, user["name"], password, "tutorial").get_token()
        assert getattr(refused.value, "http_status", None) == 401
    finally:
        admin.delete(f"{api}/users/{user['id']}")
        admin.delete(f"{api}/projects/{project['id']}")


def test_a_v1_cloud_keeps_v1(local_cloud):
    with pytest.raises(FirstappError, match="created with auth=v1"):
        control.start(local_cloud.layout.root, auth="keystone")
    assert local_cloud.env()["OS_AUTH_TYPE"] == "v1password"
    assert control.info(local_cloud.layout.root).identity is None


def test_stop_stops_both_and_a_restart_keeps_objects(tmp_path):
    data_dir = tmp_path / "cloud"
    cloud, started = control.start(data_dir, port=free_port(), auth="keystone",
                                   keystone_port=free_port())
    assert started
    swift_pid, keystone_pid = cloud.pid, keystone.running_pid(cloud.layout)
    conn = cloud.connection()
    conn.put_container("kept")
    conn.put_object("kept", "note", b"still here")

    assert control.stop(data_dir)
    assert control.info(data_dir).pid is None
    assert keystone.running_pid(cloud.layout) is None
    for pid in (swift_pid, keystone_pid):
        state = Path(f"/proc/{pid}/stat")
        assert not state.exists() or state.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    assert not port_in_use(cloud.port) and not port_in_use(cloud.identity.port)
    assert not control.stop(data_dir)  # nothing left to stop

    with socket.socket() as squatter:  # another program on Keystone's port: one clear line
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        squatter.bind(("127.0.0.1", cloud.identity.port))
        squatter.listen()
        with pytest.raises(FirstappError, match="--keystone-port"):
            control.start(data_dir)
    assert control.info(data_dir).pid is None and not port_in_use(cloud.port)

    cloud.layout.settings_file.write_text("{damaged")  # rebuilt, Keystone mode included
    again, started = control.start(data_dir)  # warm: same ports, same project
    try:
        assert started and again.identity.project_id == cloud.identity.project_id
        assert (again.port, again.identity.port) == (cloud.port, cloud.identity.port)
        assert again.connection().get_object("kept", "note")[1] == b"still here"
        report = control.status(data_dir)
        assert report["auth"] == "Keystone v3 (running)"
        assert report["objects"] == 1

        assert keystone.stop(cloud.layout)  # Keystone alone went away: start brings it back
        with pytest.raises(FirstappError, match="its Keystone does not"):
            control.status(data_dir)
        _, started = control.start(data_dir)
        assert not started and keystone.running_pid(cloud.layout) is not None
        assert again.connection().get_object("kept", "note")[1] == b"still here"
    finally:
        control.stop(data_dir)
