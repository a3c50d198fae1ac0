"""Canaries: the SDK bugs the samples work around, proven against the real local store.

Each test first asserts the exact wrong behaviour of the pinned SDK version, then that the
workaround the sample uses gives the right result. When a dependency bump fixes a bug, the
first half fails: time to drop the workaround from the sample (and from
docs/samples-notes.md). The store is always checked with python-swiftclient.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import os
import tracemalloc
import uuid
from urllib.parse import quote

import pytest

from .helpers import GOAT, MiB, object_names, status_of

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::PendingDeprecationWarning")
GOAT_BYTES = GOAT.read_bytes()
GOAT_MD5 = hashlib.md5(GOAT_BYTES).hexdigest()
EMPTY_MD5 = hashlib.md5(b"").hexdigest()


def chunks(data: bytes, size: int = 64 * 1024):
    """A generator over ``data``: the kind of stream the samples pass (like iter_content)."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def random_file(path, size: int):
    path.write_bytes(os.urandom(size))
    return path


# ---- Apache Libcloud 3.9 -----------------------------------------------------------------

def libcloud_driver(cloud, **extra):
    from libcloud.storage.providers import get_driver
    from libcloud.storage.types import Provider

    return get_driver(Provider.OPENSTACK_SWIFT)(
        cloud.username, cloud.password, ex_force_auth_url=cloud.auth_url.removesuffix("/v1.0"),
        ex_force_auth_version="1.0", **extra)


def test_libcloud_v1_auth_cannot_find_the_storage_url(local_cloud):
    import requests
    from libcloud.common.types import LibcloudError

    with pytest.raises(LibcloudError, match="Could not find specified endpoint"):
        libcloud_driver(local_cloud).list_containers()

    # workaround (step 1-connect): one v1 auth GET for X-Storage-Url, given as the base URL
    reply = requests.get(local_cloud.auth_url, timeout=10, headers={
        "X-Auth-User": local_cloud.username, "X-Auth-Key": local_cloud.password})
    assert reply.headers["X-Storage-Url"] == local_cloud.storage_url
    driver = libcloud_driver(local_cloud, ex_force_base_url=reply.headers["X-Storage-Url"])
    assert isinstance(driver.list_containers(), list)


def test_libcloud_stream_upload_from_a_generator_reports_a_false_hash_mismatch(
        local_cloud, swift_conn, container):
    from libcloud.storage.types import ObjectHashMismatchError

    driver = libcloud_driver(local_cloud, ex_force_base_url=local_cloud.storage_url)
    box = driver.get_container(container)
    with pytest.raises(ObjectHashMismatchError) as raised:
        driver.upload_object_via_stream(chunks(GOAT_BYTES), box, "from-generator")
    # it hashed the used-up generator (md5 of nothing), while the store got every byte
    assert f"expected={EMPTY_MD5}, actual={GOAT_MD5}" in str(raised.value)
    assert swift_conn.get_object(container, "from-generator")[1] == GOAT_BYTES

    # workaround (step 13): an open file, which libcloud can rewind to hash it
    with open(GOAT, "rb") as stream:
        stored = driver.upload_object_via_stream(stream, box, "from-file",
                                                 extra={"meta_data": {"description": "d"}})
    assert stored.hash == GOAT_MD5
    headers, body = swift_conn.get_object(container, "from-file")
    assert body == GOAT_BYTES and headers["x-object-meta-description"] == "d"


def test_libcloud_multipart_upload_fails_unless_verify_hash_is_false(
        local_cloud, swift_conn, container, tmp_path):
    from libcloud.storage.types import ObjectHashMismatchError

    driver = libcloud_driver(local_cloud, ex_force_base_url=local_cloud.storage_url)
    box = driver.get_container(container)
    path = random_file(tmp_path / "large.bin", 3 * MiB)
    with pytest.raises(ObjectHashMismatchError, match=f"expected={EMPTY_MD5}"):
        driver.ex_multipart_upload_object(str(path), box, "checked", chunk_size=MiB)
    # the first segment was stored before the false alarm; no manifest
    assert object_names(swift_conn, container) == ["checked/00000000"]

    # workaround (step 14): verify_hash=False. The result is a DLO and the metadata is lost.
    driver.ex_multipart_upload_object(str(path), box, "large", chunk_size=MiB,
                                      extra={"meta_data": {"description": "lost"}},
                                      verify_hash=False)
    headers, body = swift_conn.get_object(container, "large")
    assert headers["x-object-manifest"] == f"{container}/large/"
    assert "x-object-meta-description" not in headers
    assert body == path.read_bytes()
    assert object_names(swift_conn, container, prefix="large/") == [
        "large/00000000", "large/00000001", "large/00000002"]
    # a DLO's segments are ordinary objects: deleting the manifest leaves them behind,
    # which is why step 14 deletes them one by one
    driver.delete_object(driver.get_object(container, "large"))
    assert len(object_names(swift_conn, container, prefix="large/")) == 3


def test_libcloud_hides_a_missing_container_behind_obscure_errors(local_cloud, swift_conn,
                                                                  container):
    from libcloud.common.types import LibcloudError
    from libcloud.storage.types import ContainerDoesNotExistError

    driver = libcloud_driver(local_cloud, ex_force_base_url=local_cloud.storage_url)
    box = driver.get_container(container)
    swift_conn.delete_container(container)  # gone, as after step 12
    with pytest.raises(LibcloudError, match="Server didn't return etag"):
        driver.upload_object(str(GOAT), box, "goat")
    with pytest.raises(LibcloudError, match="Unexpected status code: 404"):
        driver.list_container_objects(box)
    assert status_of(swift_conn.head_container, container) == 404

    # workaround (steps 4, 5, 9, 11, 12, 14): ask for the container by name first
    with pytest.raises(ContainerDoesNotExistError):
        driver.get_container(container)


def test_libcloud_listing_fails_on_ceph_for_an_object_stored_without_a_content_type(
        ceph_cloud, monkeypatch):
    from firstapp.cloud.client import connection
    from firstapp.cloud.fixtures import delete_container

    from .helpers import run_steps, sample_path

    conn = connection(ceph_cloud.auth_url, ceph_cloud.username, ceph_cloud.password)
    container = f"test-{uuid.uuid4().hex[:12]}"
    conn.put_container(container)
    try:
        conn.put_object(container, "untyped", b"someone's data")  # no Content-Type header
        conn.put_object(container, "typed", b"png", content_type="image/png")
        listing = {entry["name"]: entry for entry in conn.get_container(container)[1]}
        assert "content_type" not in listing["untyped"]  # RGW lists none (Swift guesses one)
        assert listing["typed"]["content_type"] == "image/png"
        driver = libcloud_driver(ceph_cloud, ex_force_base_url=ceph_cloud.storage_url)
        with pytest.raises(KeyError, match="content_type"):
            driver.list_container_objects(driver.get_container(container))

        # workaround (step 2): the sample reads the names from the listing itself
        for key, value in ceph_cloud.env().items():
            monkeypatch.setenv(key, value)
        ns: dict = {}
        with pytest.raises(SystemExit, match=f"The container {container!r} already holds 2 "):
            for _ in run_steps(sample_path("libcloud"), f"container_name = {container!r}", ns):
                pass
        assert ns["names"] == ["typed", "untyped"]
        assert sorted(object_names(conn, container)) == ["typed", "untyped"]  # left alone
    finally:
        delete_container(conn, container)


# ---- shade 1.33.0 ------------------------------------------------------------------------

def shade_cloud(cloud):
    import shade

    return shade.openstack_cloud(auth_type="v1password", auth={
        "auth_url": cloud.auth_url, "username": cloud.username, "password": cloud.password})


def test_shade_single_part_upload_of_a_binary_file_raises_unicode_decode_error(
        local_cloud, swift_conn, container):
    conn = shade_cloud(local_cloud)
    with pytest.raises(UnicodeDecodeError):
        conn.create_object(container, "goat", filename=str(GOAT))
    assert object_names(swift_conn, container) == []

    # workaround (step 4): a PUT with shade's own authenticated session
    storage_url = conn.get_session_endpoint("object-store")
    with open(GOAT, "rb") as goat:
        reply = conn.keystone_session.put(f"{storage_url}/{container}/goat", data=goat)
    assert reply.headers["ETag"] == GOAT_MD5
    assert swift_conn.get_object(container, "goat")[1] == GOAT_BYTES


def test_shade_get_object_returns_text(local_cloud, swift_conn, container):
    swift_conn.put_object(container, "goat", GOAT_BYTES)
    conn = shade_cloud(local_cloud)
    _, body = conn.get_object(container, "goat")
    assert isinstance(body, str)

    # workaround (steps 6, 11): outfile= gets the bytes (step 14 streams: see below)
    buffer = io.BytesIO()
    headers, nothing = conn.get_object(container, "goat", outfile=buffer,
                                       resp_chunk_size=64 * 1024)
    assert nothing is None
    assert buffer.getvalue() == GOAT_BYTES and headers["etag"] == GOAT_MD5


def test_shade_remembers_a_deleted_container(local_cloud, swift_conn, tmp_path):
    from shade.exc import OpenStackCloudURINotFound

    name = "test-shade-stale-cache"
    path = random_file(tmp_path / "large.bin", 2 * MiB)
    conn = shade_cloud(local_cloud)
    try:
        conn.create_container(name)
        assert conn.delete_container(name) is True
        headers = conn.create_container(name)  # answers from its cache...
        assert headers["X-Container-Object-Count"] == "0"
        assert status_of(swift_conn.head_container, name) == 404  # ...creates nothing
        with pytest.raises(OpenStackCloudURINotFound):
            conn.create_object(name, "large", filename=str(path), segment_size=MiB)

        # workaround (step 13): create the container with a PUT through shade's session
        # (a new connection: after the 404 mid-upload the store closed the old one, and
        # shade's next request fails with "Remote end closed connection")
        fresh = shade_cloud(local_cloud)
        fresh.create_container(name)  # (fills the new one's cache, as steps 2-10 do)
        fresh.delete_container(name)
        storage_url = fresh.get_session_endpoint("object-store")
        fresh.keystone_session.put(f"{storage_url}/{name}")
        assert status_of(swift_conn.head_container, name) == 200
        fresh.create_object(name, "large", filename=str(path), segment_size=MiB)
        assert swift_conn.get_object(name, "large")[1] == path.read_bytes()
    finally:
        from firstapp.cloud.fixtures import delete_container

        delete_container(swift_conn, name)


def test_shade_create_object_uploads_only_from_a_file_name(local_cloud, swift_conn, container):
    import shade

    assert "data" not in inspect.signature(shade.OpenStackCloud.create_object).parameters
    conn = shade_cloud(local_cloud)
    with pytest.raises(FileNotFoundError):  # the object name is taken as the file name
        conn.create_object(container, "no-such-file-here")

    # workaround (steps 11, 13): a PUT through shade's session streams a generator
    storage_url = conn.get_session_endpoint("object-store")
    conn.keystone_session.put(f"{storage_url}/{container}/{quote('a goat')}",
                              data=chunks(GOAT_BYTES),
                              headers={"X-Object-Meta-Description": "streamed"})
    headers, body = swift_conn.get_object(container, "a goat")
    assert body == GOAT_BYTES and headers["x-object-meta-description"] == "streamed"


def test_shade_percent_encodes_segment_names_of_names_with_spaces(
        local_cloud, swift_conn, container, tmp_path):
    path = random_file(tmp_path / "large.bin", 2 * MiB)
    conn = shade_cloud(local_cloud)
    conn.create_object(container, "a large object", filename=str(path), segment_size=MiB)
    assert object_names(swift_conn, container) == [
        "a large object", "a%20large%20object/000000", "a%20large%20object/000001"]

    # workaround (step 14): a name without spaces gets the segment names one expects
    conn.create_object(container, "large-object.bin", filename=str(path), segment_size=MiB)
    assert object_names(swift_conn, container, prefix="large-object.bin/") == [
        "large-object.bin/000000", "large-object.bin/000001"]


# ---- openstacksdk 4.22 -------------------------------------------------------------------

def sdk_connection(cloud):
    import openstack

    return openstack.connect(auth_type="v1password", auth={
        "auth_url": cloud.auth_url, "username": cloud.username, "password": cloud.password})


def test_openstacksdk_create_object_from_a_file_fails_silently(local_cloud, swift_conn,
                                                               container):
    import openstack

    missing = "test-sdk-never-created"
    conn = sdk_connection(local_cloud)
    assert conn.object_store.create_object(missing, "goat", filename=str(GOAT)) is None
    assert status_of(swift_conn.head_container, missing) == 404  # nothing, and no error
    # ... and it is None on success too, so the result can never tell
    assert conn.object_store.create_object(container, "goat", filename=str(GOAT)) is None
    assert swift_conn.get_object(container, "goat")[1] == GOAT_BYTES

    # workaround (steps 4, 11, 13): upload_object with data= raises, or returns the object
    with open(GOAT, "rb") as goat, pytest.raises(openstack.exceptions.NotFoundException):
        conn.object_store.upload_object(container=missing, name="goat", data=goat)
    with open(GOAT, "rb") as goat:
        stored = conn.object_store.upload_object(container=container, name="goat2", data=goat)
    assert stored.etag == GOAT_MD5


def test_openstacksdk_get_object_returns_text(local_cloud, swift_conn, container):
    swift_conn.put_object(container, "goat", GOAT_BYTES)
    conn = sdk_connection(local_cloud)
    _, body = conn.get_object(container, "goat")
    assert isinstance(body, str)

    # workaround (steps 6, 11, 14): download_object / stream_object give bytes
    assert conn.object_store.download_object("goat", container=container) == GOAT_BYTES
    streamed = b"".join(conn.object_store.stream_object("goat", container=container,
                                                        chunk_size=4096))
    assert streamed == GOAT_BYTES


def test_openstacksdk_upload_metadata_leaks_into_later_uploads(local_cloud, swift_conn,
                                                               container):
    from openstack.object_store.v1 import _base

    conn = sdk_connection(local_cloud)
    store = conn.object_store
    try:
        store.upload_object(container=container, name="first", data=b"1",
                            metadata={"description": "only for the first"})
        store.upload_object(container=container, name="second", data=b"2")
        second = swift_conn.head_object(container, "second")
        assert second["x-object-meta-description"] == "only for the first"  # leaked
        assert _base.BaseResource.metadata  # kept in a dictionary shared by every resource
    finally:
        _base.BaseResource.metadata.clear()  # undo the leak for the rest of this process

    # workaround (step 13): upload, then set_object_metadata in a second request
    store.upload_object(container=container, name="third", data=b"3")
    store.set_object_metadata("third", container=container, description="only for the third")
    store.upload_object(container=container, name="fourth", data=b"4")
    assert swift_conn.head_object(container, "third")["x-object-meta-description"] == (
        "only for the third")
    assert "x-object-meta-description" not in swift_conn.head_object(container, "fourth")
    assert not _base.BaseResource.metadata


def test_openstacksdk_upload_object_ignores_content_type(local_cloud, swift_conn, container):
    store = sdk_connection(local_cloud).object_store
    from firstapp.cloud import backends

    store.upload_object(container=container, name="typed", data=chunks(b"png"),
                        content_type="image/png")
    # sent without a Content-Type, it gets the store's default: Ceph RGW's differs from Swift's
    default = {"swift": "application/octet-stream", "ceph": "binary/octet-stream"}[
        backends.of(local_cloud.layout.root)]
    assert swift_conn.head_object(container, "typed")["content-type"] == default

    # workaround (step 11): extra keyword arguments are sent as HTTP headers
    store.upload_object(container=container, name="typed", data=chunks(b"png"),
                        **{"Content-Type": "image/png"})
    assert swift_conn.head_object(container, "typed")["content-type"] == "image/png"


# ---- Large downloads (step 14) -----------------------------------------------------------
# An SDK that holds a whole download in memory cannot fetch an object bigger than the
# client's memory. tracemalloc counts the bytes Python holds: a streaming download holds
# about one chunk (1 MiB here), a buffering one the whole object.

LARGE_DOWNLOAD = 16 * MiB


@contextlib.contextmanager
def python_memory():
    """Measure the bytes Python allocates in the block: ``{"current": ..., "peak": ...}``
    (current: still held at the end of the block)."""
    usage: dict[str, int] = {}
    tracemalloc.start()
    try:
        yield usage
        usage["current"], usage["peak"] = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()


def stored_large_object(swift_conn, container) -> str:
    """Upload LARGE_DOWNLOAD random bytes as ``large``; return their md5."""
    data = os.urandom(LARGE_DOWNLOAD)
    swift_conn.put_object(container, "large", data)
    return hashlib.md5(data).hexdigest()


def md5_of_chunks(chunks_) -> str:
    digest = hashlib.md5()
    for chunk in chunks_:
        digest.update(chunk)
    return digest.hexdigest()


def test_libcloud_downloads_hold_the_whole_object_in_memory(local_cloud, swift_conn,
                                                            container, tmp_path):
    import requests

    md5 = stored_large_object(swift_conn, container)
    driver = libcloud_driver(local_cloud, ex_force_base_url=local_cloud.storage_url)
    large = driver.get_object(container, "large")
    # the Swift driver's requests cannot ask for a streamed response (its S3 driver can)
    assert "stream" not in inspect.signature(driver.connection.request).parameters
    with python_memory() as memory:
        stream = driver.download_object_as_stream(large, chunk_size=MiB)
        first = next(stream)  # one chunk handed out, and already the whole object in memory
    assert len(first) == MiB and memory["current"] >= LARGE_DOWNLOAD
    assert md5_of_chunks([first, *stream]) == md5  # right bytes, wrong memory
    with python_memory() as memory:
        driver.download_object(large, str(tmp_path / "large.bin"))
    assert memory["peak"] >= LARGE_DOWNLOAD

    # workaround (step 14): requests streams, with the driver's storage URL and token
    with python_memory() as memory:
        storage_url = driver.connection.base_url or driver.connection.get_endpoint()
        with requests.get(f"{storage_url}/{container}/large", stream=True, timeout=30,
                          headers={"X-Auth-Token": driver.connection.auth_token}) as reply:
            reply.raise_for_status()
            streamed_md5 = md5_of_chunks(reply.iter_content(chunk_size=MiB))
    assert streamed_md5 == md5
    assert memory["peak"] < LARGE_DOWNLOAD / 4


def test_shade_get_object_holds_the_whole_object_in_memory(local_cloud, swift_conn,
                                                           container, tmp_path):
    md5 = stored_large_object(swift_conn, container)
    conn = shade_cloud(local_cloud)
    conn.list_containers()  # log in first: only the download is measured
    outfile = tmp_path / "large.bin"
    with python_memory() as memory:
        conn.get_object(container, "large", outfile=str(outfile), resp_chunk_size=MiB)
    assert memory["peak"] >= LARGE_DOWNLOAD  # read it all before writing the first byte
    with open(outfile, "rb") as written:
        assert md5_of_chunks(iter(lambda: written.read(MiB), b"")) == md5

    # workaround (step 14): a GET through shade's session with stream=True
    storage_url = conn.get_session_endpoint("object-store")
    with python_memory() as memory, conn.keystone_session.get(
            f"{storage_url}/{container}/large", stream=True) as reply:
        streamed_md5 = md5_of_chunks(reply.iter_content(chunk_size=MiB))
    assert streamed_md5 == md5
    assert memory["peak"] < LARGE_DOWNLOAD / 4
