"""The committed notebooks under strict nbval with FIRSTAPP_BACKEND=ceph: the SDK tracks
run on a local Ceph and must print what they printed on Swift (less the sanitizer's
incidental differences); each under-the-hood track still gets the store it looks inside."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import nbformat
import pytest

from firstapp.notebooks import build
from firstapp.paths import project_root

ROOT = project_root()


@pytest.mark.ci  # every notebook again: CI runs it (pytest -m ci), make test does not
def test_strict_nbval_of_the_committed_notebooks_on_ceph():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OS_", "ST_", "FRACTALS_", "PYTEST_", "FIRSTAPP_CLOUD"))}
    env["FIRSTAPP_BACKEND"] = "ceph"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval", "notebooks/",
         "-q"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    cells = sum(1 for t in build.TRACKS
                for c in nbformat.read(build.notebook_path(ROOT, t.name), as_version=4).cells
                if c.cell_type == "code")
    assert re.search(rf"\b{cells} passed", done.stdout), done.stdout[-2000:]
