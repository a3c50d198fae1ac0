"""A private cloud per test module: these tests break clouds on purpose."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from firstapp.cloud import control, faults
from firstapp.cloud.control import CloudInfo


@pytest.fixture(scope="module")
def cloud(cloud_factory) -> Iterator[CloudInfo]:
    """A fresh 3-device, 3-replica cloud of this module's own, stopped afterwards."""
    made = cloud_factory()
    yield made
    faults.bring_all_back(made.layout)
    control.stop(made.layout.root)
