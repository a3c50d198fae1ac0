"""Defaults shared by the CLI, the server and the client (cheap to import)."""

from __future__ import annotations

import os
from pathlib import Path

from firstapp.paths import default_data_dir

DEFAULT_PORT = 8081
DEFAULT_ENDPOINT = f"http://127.0.0.1:{DEFAULT_PORT}"
#: Render threads of the in-process worker pool.
DEFAULT_WORKERS = 2
#: The environment variable that gives the database when ``--db`` is not given: a URL
#: with a password in it stays off every command line (a background server gets its
#: database this way).
DB_ENV = "FRACTALS_DB"


def default_db_path() -> Path:
    """``<data dir>/fractals/fractals.db``."""
    return default_data_dir() / "fractals" / "fractals.db"


def default_db() -> str | Path:
    """The database when ``--db`` is not given: ``$FRACTALS_DB``, else :func:`default_db_path`."""
    return os.environ.get(DB_ENV) or default_db_path()
#: The environment variable that gives ``--image-store`` when it is not given.
IMAGE_STORE_ENV = "FRACTALS_IMAGE_STORE"
