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


#: What marks a checkout of the tutorial: the guide's configuration, the samples, the notebooks.
ROOT_MARKERS = ("conf.py", "samples", "notebooks")


def is_project_root(path: Path) -> bool:
    """True when ``path`` holds the tutorial's ``conf.py``, ``samples/`` and ``notebooks/``."""
    return (path / "conf.py").is_file() and all((path / d).is_dir() for d in ROOT_MARKERS[1:])


def project_root() -> Path:
    """The tutorial checkout the commands work on.

    ``FIRSTAPP_ROOT`` when set; else the current directory or the nearest parent that
    holds ``conf.py``, ``samples/`` and ``notebooks/``; else the checkout this package
    was installed from in editable mode. Raises FirstappError when there is none.
    """
    from firstapp.errors import FirstappError

    override = os.environ.get("FIRSTAPP_ROOT")
    if override:
        root = Path(override).expanduser().resolve()
        if not is_project_root(root):
            raise FirstappError(f"FIRSTAPP_ROOT={override} is not a checkout of the tutorial "
                                "(no conf.py, samples/ and notebooks/ there)")
        return root
    here = Path.cwd().resolve()
    installed_from = Path(__file__).resolve().parent.parent
    for candidate in (here, *here.parents, installed_from):
        if is_project_root(candidate):
            return candidate
    raise FirstappError(f"{here} is not inside a checkout of the tutorial (no conf.py, "
                        "samples/ and notebooks/ here or above): cd into your clone, or "
                        "set FIRSTAPP_ROOT to it")
