"""A private cloud per test module: these tests break clouds on purpose."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from firstapp.cloud import faults
from firstapp.cloud.control import CloudInfo
from firstapp.cloud.fixtures import started_cloud


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Iterator[CloudInfo]:
    """A fresh 3-device, 3-replica cloud of this module's own, stopped afterwards."""
    with started_cloud(tmp_path_factory) as made:
        yield made
        faults.bring_all_back(made.layout)
