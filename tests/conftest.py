"""Fixtures: each component ships its own pytest plugin next to its code; the tutorial's
stack (``firstapp.stack``) is shared here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest_plugins = ["firstapp.cloud.fixtures", "firstapp.fractals.fixtures"]


@pytest.fixture(scope="session")
def tutorial_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The notebooks' stack as the builder, `make tutorial` and `make lab` start it (a
    private cloud and a Fractals app serving the stack's fractals, on free ports): the
    environment (``OS_*``, ``FRACTALS_ENDPOINT``) that points the samples at it."""
    from firstapp.stack import local_stack

    with local_stack(tmp_path_factory.mktemp("stack")) as env:
        yield env
