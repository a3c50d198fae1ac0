"""Pytest plugin: a running Fractals app with a database filled with known fractals.

``fractals_app`` (session) serves 27 fractals, more than two pages at the default
page size; ``fractals_app_factory`` (per test) starts more apps on demand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: Sizes of the fixture images: small, so that filling the database is quick.
FIXTURE_SIZE = (64, 96)
FIXTURE_COUNT = 27


@dataclass
class FractalsApp:
    """A served Fractals app: ``endpoint`` (base URL), ``db_url``, the seeded ``fractals``."""

    endpoint: str
    db_url: str
    fractals: list[dict[str, Any]]
    _server: Any = field(repr=False)

    @property
    def uuids(self) -> list[str]:
        return [f["uuid"] for f in self.fractals]

    def stop(self) -> None:
        """Stop serving and release the database (safe to call twice)."""
        if self._server is not None:
            self._server.stop()
            self._server = None


def start_fractals_app(
    directory: Path,
    n: int = 0,
    *,
    seed: int = 0,
    workers: int = 2,
    width: int | tuple[int, int] = FIXTURE_SIZE,
    height: int | tuple[int, int] = FIXTURE_SIZE,
) -> FractalsApp:
    """Fill ``directory/fractals.db`` with ``n`` fractals, then serve it on a free port.

    The app runs in a thread of this process, bound to 127.0.0.1; ``workers=0``
    leaves newly created fractals pending for good.
    """
    from firstapp.fractals.db import resolve_db_url
    from firstapp.fractals.seed import seed_database
    from firstapp.fractals.server import ThreadedServer

    db_url = resolve_db_url(directory / "fractals.db")
    records = seed_database(db_url, n, seed, width, height) if n else []
    server = ThreadedServer(db_url, workers=workers)
    return FractalsApp(server.endpoint, db_url, records, server)


@pytest.fixture
def fractals_app_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    Callable[..., FractalsApp]
]:
    """``factory(n, seed=0, workers=2, width=..., height=...)``: apps stopped after the test."""
    apps: list[FractalsApp] = []

    def factory(n: int = 0, **options: Any) -> FractalsApp:
        app = start_fractals_app(tmp_path_factory.mktemp("fractals"), n, **options)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.stop()


@pytest.fixture(scope="session")
def fractals_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FractalsApp]:
    """An app serving 27 fractals (seed 0, 64..96 pixels a side) for the whole session."""
    app = start_fractals_app(tmp_path_factory.mktemp("fractals-app"), FIXTURE_COUNT)
    yield app
    app.stop()
