"""The tutorial's local stack: a local cloud plus a Fractals app with known fractals."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from firstapp.cloud import control
from firstapp.net import free_port

#: What the notebooks' committed outputs were made with: seeded, small, more than a page.
NOTEBOOK_FRACTALS = 12
NOTEBOOK_SEED = 2015
NOTEBOOK_SIZE = (128, 192)


@contextmanager
def local_stack(workdir: Path, fractals: int = NOTEBOOK_FRACTALS, seed: int = NOTEBOOK_SEED,
                size: tuple[int, int] = NOTEBOOK_SIZE) -> Iterator[dict[str, str]]:
    """Start a private cloud and Fractals app below ``workdir`` on free ports; yield the
    environment (OS_* and FRACTALS_ENDPOINT) that points the samples at them."""
    from firstapp.fractals.db import resolve_db_url
    from firstapp.fractals.seed import seed_database
    from firstapp.fractals.server import ThreadedServer

    cloud_dir = workdir / "cloud"
    cloud, _ = control.start(cloud_dir, port=free_port())
    server = None
    try:
        db_url = resolve_db_url(workdir / "fractals.db")
        seed_database(db_url, fractals, seed, size, size)
        server = ThreadedServer(db_url, workers=1)
        yield {**cloud.env(), "FRACTALS_ENDPOINT": server.endpoint}
    finally:
        if server is not None:
            server.stop()
        control.stop(cloud_dir)


@contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    """Set ``variables`` in os.environ for the duration, then restore what was there."""
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
