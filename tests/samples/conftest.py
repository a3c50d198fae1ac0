"""Fixtures of the sample tests (the cloud and Fractals plugins come from tests/conftest.py)."""

from __future__ import annotations

import pytest

from firstapp.cloud import backends
from firstapp.cloud.fixtures import started_cloud


@pytest.fixture
def sample_env(local_cloud, fractals_app) -> dict[str, str]:
    """What a learner exports: the local cloud's OS_* variables and the Fractals endpoint."""
    return {**local_cloud.env(), "FRACTALS_ENDPOINT": fractals_app.endpoint}


@pytest.fixture
def use_sample_env(sample_env, monkeypatch) -> dict[str, str]:
    """``sample_env`` set in this process's environment for the test (samples read it)."""
    for key in ("LARGE_OBJECT_SIZE", "SEGMENT_SIZE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in sample_env.items():
        monkeypatch.setenv(key, value)
    return sample_env


@pytest.fixture(scope="session")
def stopped_cloud(cloud_factory):
    """A cloud that was created and then stopped: its settings exist, nothing answers."""
    cloud = cloud_factory()
    backends.stop(cloud.layout.root)
    return cloud


@pytest.fixture(scope="module")
def ceph_cloud(local_cloud, tmp_path_factory):
    """A running Ceph cloud, whatever FIRSTAPP_BACKEND says: the session's own cloud when it
    is one, else one started for the module (for canaries of Ceph's differences)."""
    if backends.of(local_cloud.layout.root) == "ceph":
        yield local_cloud
        return
    with started_cloud(tmp_path_factory, backend="ceph") as cloud:
        yield cloud
