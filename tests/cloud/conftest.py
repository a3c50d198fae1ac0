"""A real local Ceph (``firstapp cloud start --backend ceph``) for the tests/cloud/test_ceph_*
tests, whatever FIRSTAPP_BACKEND says. Without Ceph's packages they fail saying
`make ceph`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from firstapp.cloud import ceph
from firstapp.net import free_port


@pytest.fixture(scope="module")
def ceph_cloud(tmp_path_factory) -> Iterator[ceph.CephCloud]:
    """A running Ceph cloud for one module's Ceph tests, stopped after them (starting one
    costs about 1.5 s of CPU; one kept for the session would cost 6% of a core meanwhile)."""
    data_dir = tmp_path_factory.mktemp("ceph")
    cloud, _ = ceph.start(data_dir, port=free_port())
    yield cloud
    ceph.stop(data_dir)
