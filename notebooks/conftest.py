"""``pytest --nbval notebooks/`` from the repository root, with nothing started by hand.

When the run collected notebook cells, this starts a private local stack (a local cloud
and a Fractals app serving the tutorial's fractals, on free ports) before a notebook's
kernel starts, exports its settings (``OS_*``, ``FRACTALS_ENDPOINT``) to the kernel, and
stops it at the end. The SDK notebooks run on ``FIRSTAPP_BACKEND``'s store, an
under-the-hood notebook on the store it looks inside (Swift's or Ceph's): one stack per
store, started when the first notebook that needs it starts. It also hands nbval the
sanitizer that says which differences between a run and the committed outputs are
incidental (timings, ports, transaction ids); pass ``--nbval-sanitize-with FILE`` to use another.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from firstapp.notebooks.tidy import SANITIZER

HERE = Path(__file__).resolve().parent
STACKS = pytest.StashKey[object]()


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "nbval_sanitize_with", "absent") is None:
        config.option.nbval_sanitize_with = str(SANITIZER)


def _notebook(item: pytest.Item) -> Path | None:
    path = Path(str(item.path))
    return path if path.parent == HERE and path.suffix == ".ipynb" else None


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session):
    if not any(_notebook(item) for item in session.items) or session.config.option.collectonly:
        return (yield)
    from firstapp.stack import local_stacks

    saved = dict(os.environ)
    try:
        with tempfile.TemporaryDirectory(prefix="firstapp-nbval-") as tmp, \
                local_stacks(Path(tmp)) as stacks:
            session.config.stash[STACKS] = stacks
            return (yield)
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a notebook's kernel starts (with its first cell): its stack's settings."""
    notebook = _notebook(item)
    stacks = item.config.stash.get(STACKS, None)
    if notebook is None or stacks is None:
        return
    from firstapp.notebooks.build import TRACKS

    backend = next((t.backend for t in TRACKS if t.name == notebook.stem), None)
    os.environ.update(stacks.env(backend))
