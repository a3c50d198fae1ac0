"""``pytest --nbval notebooks/`` from the repository root, with nothing started by hand.

When the run collected notebook cells, this starts a private local stack (a local cloud
and a Fractals app serving the tutorial's fractals, on free ports) before the first
notebook's kernel starts, exports its settings (``OS_*``, ``FRACTALS_ENDPOINT``) to the
kernels, and stops it at the end. It also hands nbval the sanitizer that says which
differences between a run and the committed outputs are incidental (timings, ports,
transaction ids); pass ``--nbval-sanitize-with FILE`` to use another.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from firstapp.notebooks.tidy import SANITIZER

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "nbval_sanitize_with", "absent") is None:
        config.option.nbval_sanitize_with = str(SANITIZER)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session):
    notebooks = any(Path(str(item.path)).parent == HERE and item.path.suffix == ".ipynb"
                    for item in session.items)
    if not notebooks or session.config.option.collectonly:
        return (yield)
    from firstapp.stack import environment, local_stack

    with tempfile.TemporaryDirectory(prefix="firstapp-nbval-") as tmp, \
            local_stack(Path(tmp)) as env, environment(env):
        return (yield)
