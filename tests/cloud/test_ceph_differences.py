"""Where Ceph's RADOS Gateway really differs from Swift: each "On Ceph" note of
docs/durability.md, measured on a local Ceph and a local Swift side by side.

Like the SDK canaries, each test fails when the difference goes away (a Ceph upgrade),
which is the signal to update or drop that note. Differences already proven elsewhere:
the libcloud listing's KeyError (tests/samples/test_canaries.py), the backup CLI's
3-byte minimum (tests/backup/test_errors.py), two of three OSDs down
(tests/cloud/test_ceph_under_the_hood.py).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import uuid

import pytest
import requests
from swiftclient import client as swift

from firstapp.cloud.client import connection
from firstapp.cloud.fixtures import delete_container, started_cloud

MiB = 1 << 20


@pytest.fixture(scope="module")
def swift_cloud(tmp_path_factory):
    with started_cloud(tmp_path_factory, backend="swift") as cloud:
        yield cloud


@pytest.fixture(scope="module")
def clouds(ceph_cloud, swift_cloud):
    return {"ceph": ceph_cloud, "swift": swift_cloud}


@pytest.fixture
def containers(clouds):
    """A fresh container on each store; emptied and deleted afterwards."""
    conns = {kind: connection(c.auth_url, c.username, c.password) for kind, c in clouds.items()}
    name = f"diff-{uuid.uuid4().hex[:8]}"
    for conn in conns.values():
        conn.put_container(name)
    yield conns, name
    for conn in conns.values():
        _, listing = conn.get_container(name, full_listing=True)
        for entry in listing:  # SLO manifests first, with their segments
            if entry["name"].startswith("slo") and "/" not in entry["name"]:
                conn.delete_object(name, entry["name"], query_string="multipart-manifest=delete")
        delete_container(conn, name)


def test_step_1_auth_paths_and_where_the_api_lives(clouds):
    answers = {}
    for kind, cloud in clouds.items():
        base = cloud.auth_url.rsplit("/auth/", 1)[0]
        headers = {"X-Auth-User": cloud.username, "X-Auth-Key": cloud.password}
        answers[kind] = {path: requests.get(base + path, headers=headers, timeout=30).status_code
                         for path in ("/auth/1.0", "/auth/v1.0", "/auth/v1")}
        info = requests.get(base + "/info", timeout=30)
        assert info.status_code == 200 and "swift" in info.json()  # the local Ceph: Swift's URL
    assert answers["swift"] == {"/auth/1.0": 400, "/auth/v1.0": 200, "/auth/v1": 400}
    assert all(200 <= code < 300 for code in answers["ceph"].values()), answers["ceph"]
    # a stock gateway serves the API and /info under /swift/, without the account
    defaults = subprocess.run(["ceph-conf", "-D"], capture_output=True, text=True,
                              timeout=60, check=True).stdout.splitlines()
    assert "rgw_swift_url_prefix = swift" in defaults
    assert "rgw_swift_account_in_url = false" in defaults


def test_step_2_container_names_need_three_bytes_on_ceph(clouds):
    name = f"{uuid.uuid4().hex[:2]}"
    ceph = connection(clouds["ceph"].auth_url, clouds["ceph"].username, clouds["ceph"].password)
    with pytest.raises(swift.ClientException) as refused:
        ceph.put_container(name)
    assert refused.value.http_status == 400
    assert b"InvalidBucketName" in refused.value.http_response_content
    ceph.put_container(name + "x")  # three bytes are enough
    ceph.delete_container(name + "x")
    other = connection(clouds["swift"].auth_url, clouds["swift"].username,
                       clouds["swift"].password)
    other.put_container(name)  # Swift takes one or two
    other.delete_container(name)


def test_step_5_default_content_type_and_listing_without_it(containers):
    conns, name = containers
    seen = {}
    for kind, conn in conns.items():
        url, token = conn.get_auth()
        # requests sends no Content-Type for bytes data: the store picks its default
        stored = requests.put(f"{url}/{name}/untyped", data=b"abc",
                              headers={"X-Auth-Token": token}, timeout=30)
        assert stored.status_code == 201
        listed = conn.get_container(name)[1][0]
        seen[kind] = (conn.head_object(name, "untyped")["content-type"],
                      listed.get("content_type"))
    assert seen == {"swift": ("application/octet-stream", "application/octet-stream"),
                    "ceph": ("binary/octet-stream", None)}


def _slo(conn: swift.Connection, container: str, name: str, etag: str | None = None) -> bytes:
    """Two 1 MiB segments and an SLO manifest naming them (segment ETags: ``etag`` when
    given); the segments' bytes joined."""
    segments = []
    for index in range(2):
        data = bytes([index]) * MiB
        conn.put_object(container, f"{name}/{index}", data)
        segments.append({"path": f"{container}/{name}/{index}", "size_bytes": MiB,
                         "etag": etag or hashlib.md5(data).hexdigest()})
    conn.put_object(container, name, json.dumps(segments),
                    query_string="multipart-manifest=put")
    return bytes([0]) * MiB + bytes([1]) * MiB


def test_step_14_manifests_listed_and_fetched(containers):
    conns, name = containers
    for kind, conn in conns.items():
        content = _slo(conn, name, "slo")
        assert conn.get_object(name, "slo")[1] == content  # the same for a client
        listed = next(o for o in conn.get_container(name)[1] if o["name"] == "slo")
        _, manifest = conn.get_object(name, "slo", query_string="multipart-manifest=get")
        if kind == "swift":
            assert listed["bytes"] == 2 * MiB
            assert [s["name"] for s in json.loads(manifest)] == [f"/{name}/slo/0",
                                                                 f"/{name}/slo/1"]
        else:  # the manifest's own size and the md5 of nothing; no segment list
            assert listed["bytes"] < 1024
            assert listed["hash"] == hashlib.md5(b"").hexdigest()
            assert manifest == b""


def test_step_14_slo_segment_etags_are_not_checked_on_ceph(containers):
    conns, name = containers
    wrong = "0" * 32
    content = _slo(conns["ceph"], name, "slo-wrong-etags", etag=wrong)
    assert conns["ceph"].get_object(name, "slo-wrong-etags")[1] == content
    with pytest.raises(swift.ClientException) as refused:
        _slo(conns["swift"], name, "slo-wrong-etags", etag=wrong)
    assert refused.value.http_status == 400
    assert b"Etag Mismatch" in refused.value.http_response_content
