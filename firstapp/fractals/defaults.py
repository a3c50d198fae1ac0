"""Defaults shared by the CLI, the server and the client (cheap to import)."""

from __future__ import annotations

from pathlib import Path

from firstapp.paths import default_data_dir

DEFAULT_PORT = 8081
DEFAULT_ENDPOINT = f"http://127.0.0.1:{DEFAULT_PORT}"
#: Render threads of the in-process worker pool.
DEFAULT_WORKERS = 2


def default_db_path() -> Path:
    """``<data dir>/fractals/fractals.db``."""
    return default_data_dir() / "fractals" / "fractals.db"
