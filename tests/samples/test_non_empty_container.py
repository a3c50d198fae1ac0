"""Deleting a container that still holds objects: each SDK raises, and nothing is lost.

The chapter says so where step 12 empties the container first; this proves it with each
sample's own connection (steps 1 to 2) against the real store.
"""

from __future__ import annotations

import uuid

import pytest

from firstapp.cloud.fixtures import delete_container

from .helpers import SDKS, run_steps, sample_path

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::PendingDeprecationWarning")


def delete_the_container(sdk: str, ns: dict) -> None:
    """The SDK's delete-container call, exactly as step 12 makes it."""
    if sdk == "libcloud":
        ns["swift"].delete_container(ns["container"])
    elif sdk == "shade":
        ns["conn"].delete_container(ns["container_name"])
    else:
        ns["conn"].object_store.delete_container(ns["container_name"])


def expected_error(sdk: str) -> tuple[type[Exception], str | None]:
    if sdk == "libcloud":
        from libcloud.storage.types import ContainerIsNotEmptyError
        return ContainerIsNotEmptyError, None  # its message is empty; the type says it all
    if sdk == "shade":
        from shade.exc import OpenStackCloudException
        return OpenStackCloudException, "The container is not empty"
    from openstack.exceptions import ConflictException
    return ConflictException, "409"


@pytest.mark.parametrize("sdk", SDKS)
def test_a_container_with_objects_is_not_deleted(sdk, use_sample_env, swift_conn):
    name = f"full-{sdk}-{uuid.uuid4().hex[:6]}"
    ns: dict = {}
    for step, _ in run_steps(sample_path(sdk), f"container_name = {name!r}", ns):
        if step.name == "2":
            break
    swift_conn.put_object(name, "keep me", b"precious bytes")
    try:
        error, message = expected_error(sdk)
        with pytest.raises(error, match=message):
            delete_the_container(sdk, ns)
        # the store answered 409 Conflict and changed nothing
        assert swift_conn.get_object(name, "keep me")[1] == b"precious bytes"
    finally:
        delete_container(swift_conn, name)
