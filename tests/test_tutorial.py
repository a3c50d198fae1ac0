"""`make tutorial`'s runner, end to end, on private ports and directories."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import psutil
import pytest

from firstapp import stack
from firstapp.fractals.seed import seeded_fractals
from firstapp.fractals.worker import render_fractal
from firstapp.net import free_port
from firstapp.paths import project_root
from firstapp.steps import load

ROOT = project_root()


@pytest.mark.ci  # it runs every notebook and builds the guide again: CI runs it (pytest -m ci)
def test_tutorial_runs_everything_and_stops_what_it_started(tmp_path):
    env = {**os.environ, "FIRSTAPP_DATA_DIR": str(tmp_path / "data")}
    build = tmp_path / "build"
    before = {p.pid for p in psutil.process_iter()}
    cloud_port, fractals_port = free_port(), free_port()
    done = subprocess.run(
        [sys.executable, "-m", "firstapp", "tutorial", "--port", str(cloud_port),
         "--fractals-port", str(fractals_port), "--build-dir", str(build)],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    summary = done.stdout[done.stdout.index("stage "):]
    for line in ("start the local cloud", "start the Fractals app", "build the HTML guide"):
        assert re.search(rf"{line}\s+ok", summary), summary
    notebooks = sorted((build / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 3
    for path in notebooks:
        assert re.search(rf"notebook {path.stem}\s+\d+\s+ok", summary), summary
        nb = nbformat.read(path, as_version=4)
        assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
    assert (build / "html" / "docs" / "durability.html").is_file()
    # the notebooks' kernels talk over Unix sockets, not plain-text TCP (ipykernel warns)
    assert "without encryption" not in done.stderr, done.stderr[-2000:]
    # the cloud and the Fractals app it started are stopped again
    leftovers = [p for p in psutil.process_iter(["pid", "cmdline"])
                 if p.pid not in before and str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
    # the app served the stack's fractals, the ones of the committed notebooks
    db = tmp_path / "data" / "fractals" / "fractals.db"
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT uuid, checksum FROM fractal ORDER BY created_at").fetchall()
    assert stored == [(uuid, render_fractal(params).checksum) for uuid, params in
                      seeded_fractals(stack.FRACTALS, stack.SEED, width=stack.SIZE,
                                      height=stack.SIZE)]
    # it ends with the commands to type next, for the ports it used
    after = done.stdout[done.stdout.index("Next, in this shell"):]
    if (Path(sys.prefix) / "bin" / "activate").is_file():  # a venv, as make creates it
        assert re.search(r"^  source \S*bin/activate ", after, re.M), after
    for command in (f"firstapp cloud start --port {cloud_port}",
                    'eval "$(firstapp cloud env)"', "swift stat",
                    f"firstapp fractals serve --background --port {fractals_port}",
                    f"export FRACTALS_ENDPOINT=http://127.0.0.1:{fractals_port}",
                    f"make lab FRACTALS_PORT={fractals_port}"):
        assert f"  {command} " in after, after


def test_tutorial_reports_a_failure_with_a_nonzero_status(tmp_path):
    env = {**os.environ, "FIRSTAPP_DATA_DIR": str(tmp_path / "data")}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        done = subprocess.run(  # as `make tutorial CLOUD_PORT=...` runs it
            [sys.executable, "-m", "firstapp", "tutorial", "--via-make", "--port", str(taken),
             "--build-dir", str(tmp_path / "build")],
            capture_output=True, text=True, env=env, timeout=300,
        )
    assert done.returncode == 1
    assert re.search(r"start the local cloud\s+FAILED", done.stdout)
    assert f"port {taken}" in done.stdout
    assert "choose a free one with `make tutorial CLOUD_PORT=N`" in done.stdout


NUMBERS = {14: "fourteen", 15: "fifteen", 16: "sixteen", 17: "seventeen"}


def test_the_readme_counts_the_steps_as_the_samples_have_them():
    readme = " ".join((ROOT / "README.md").read_text().split())
    steps = [step.name for step in load(ROOT / "samples" / "openstacksdk" / "durability.py")]
    numbered = {name.split("-")[0] for name in steps}
    assert f"the chapter's {NUMBERS[len(numbered)]} steps" in readme
    assert f"each notebook has {NUMBERS[len(steps)]} step cells" in readme


def test_the_readme_says_how_to_get_the_commands_before_using_them():
    readme = (ROOT / "README.md").read_text()
    commands = [line.strip() for block in re.findall(r"```console\n(.*?)```", readme, re.S)
                for line in block.splitlines()]
    first_use = next(i for i, c in enumerate(commands) if c.split()[:1] in (["firstapp"],
                                                                               ["swift"]))
    assert "source .venv/bin/activate" in commands[:first_use]
