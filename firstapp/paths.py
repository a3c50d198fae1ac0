"""Where the tutorial keeps its local state."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def default_data_dir() -> Path:
    """The per-user data directory (``FIRSTAPP_DATA_DIR`` overrides it).

    Linux: ``~/.local/share/firstapp``; macOS: ``~/Library/Application Support/firstapp``.
    """
    override = os.environ.get("FIRSTAPP_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir("firstapp"))
