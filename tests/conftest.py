"""Fixtures: each component ships its own pytest plugin next to its code; the tutorial's
stack (``firstapp.stack``) is shared here."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from firstapp.paths import project_root

pytest_plugins = ["firstapp.cloud.fixtures", "firstapp.fractals.fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    """Each pytest-xdist worker picks its servers' ports from a range of its own
    (``FIRSTAPP_FREE_PORTS``, which the commands the tests run inherit): a port one worker
    picked as free is not taken by another's server before its own binds it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker.startswith("gw") and count > 1:
        from firstapp.net import FREE_PORTS, FREE_PORTS_VARIABLE

        size = len(FREE_PORTS) // count
        low = FREE_PORTS.start + int(worker[2:]) * size
        os.environ[FREE_PORTS_VARIABLE] = f"{low}-{low + size - 1}"


#: The test files that keep a pytest-xdist worker busiest in `make test` (a worker's seconds
#: on this project's 2-core machine, 2026-12-05), longest first. They are collected first,
#: and `make test` passes --no-loadscope-reorder so that the workers take files in that
#: order: no long file is left for the end while the other workers have nothing to do.
LONGEST_FIRST = (
    "tests/notebooks/test_notebooks.py",  # 58 s
    "tests/samples/test_learner_data.py",  # 56 s
    "tests/samples/test_keystone_samples.py",  # 55 s
    "tests/samples/test_large_objects.py",  # 43 s
    "tests/backup/test_hostile.py",  # 34 s
    "tests/test_lab.py",  # 31 s
    "tests/cloud/test_cloud_damage.py",  # 30 s
    "tests/fractals/test_image_store_swift.py",  # 30 s
    "tests/cloud/test_ceph_lifecycle.py",  # 30 s
    "tests/fractals/test_cli.py",  # 28 s
    "tests/cloud/test_ceph_store.py",  # 26 s
    "tests/cloud/test_cloud_lifecycle.py",  # 25 s
    "tests/cloud/test_cloud_repair.py",  # 22 s
    "tests/fractals/test_serve_background.py",  # 22 s
    "tests/samples/test_sample_steps.py",  # 22 s
    "tests/backup/test_backup.py",  # 21 s
    "tests/backup/test_keystone_backup.py",  # 21 s
    "tests/cloud/test_ceph_under_the_hood.py",  # 20 s
    "tests/samples/test_sample_scripts.py",  # 19 s
    "tests/samples/test_keystone_notebooks.py",  # 19 s
    "tests/cloud/test_keystone_mode.py",  # 18 s
    "tests/fractals/test_move_images.py",  # 18 s
    "tests/backup/test_restore.py",  # 17 s
    "tests/backup/test_server_side_backup.py",  # 16 s
    "tests/browser/test_lab_notebook.py",  # 15 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files of LONGEST_FIRST first, in its order; every other file after them, in the
    order collected (each file's tests keep theirs)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    root = project_root()

    def file_rank(item: pytest.Item) -> int:
        name = Path(item.path).relative_to(root).as_posix()
        return rank.get(name, len(rank))

    items.sort(key=file_rank)  # a stable sort


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark the tests of the Keystone-mode cloud ``keystone``: it runs on Swift whatever
    FIRSTAPP_BACKEND says, so CI's Ceph pass leaves them out."""
    if "keystone_cloud" in getattr(item, "fixturenames", ()):
        item.add_marker(pytest.mark.keystone)


@pytest.fixture(scope="session")
def tutorial_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The notebooks' stack as the builder, `make tutorial` and `make lab` start it (a
    private cloud and a Fractals app serving the stack's fractals, on free ports): the
    environment (``OS_*``, ``FRACTALS_ENDPOINT``) that points the samples at it."""
    from firstapp.stack import local_stack

    with local_stack(tmp_path_factory.mktemp("stack")) as env:
        yield env


@pytest.fixture(scope="session")
def guide_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML guide of this checkout, built once per session with warnings as errors.

    ``make test`` builds it first (``make docs``: ``sphinx-build -W -n``, which fails on
    any warning) and names the directory in ``FIRSTAPP_GUIDE_HTML``; a plain ``pytest``
    builds it here, into a temporary directory, the same way.
    """
    built = os.environ.get("FIRSTAPP_GUIDE_HTML")
    if built:
        html = Path(built)
        if not (html / "docs" / "durability.html").is_file():
            pytest.fail(f"FIRSTAPP_GUIDE_HTML is {built}, which holds no built guide: run "
                        "`make docs`", pytrace=False)
        return html
    root = project_root()
    html = tmp_path_factory.mktemp("guide")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-n", "--keep-going", "-q", "-b", "html",
         str(root), str(html)], capture_output=True, text=True, cwd=root, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return html
