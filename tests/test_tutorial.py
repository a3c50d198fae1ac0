"""`make tutorial`'s runner, end to end, on private ports and directories."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import nbformat
import psutil

from firstapp.net import free_port


def test_tutorial_runs_everything_and_stops_what_it_started(tmp_path):
    env = {**os.environ, "FIRSTAPP_DATA_DIR": str(tmp_path / "data")}
    build = tmp_path / "build"
    before = {p.pid for p in psutil.process_iter()}
    done = subprocess.run(
        [sys.executable, "-m", "firstapp", "tutorial", "--port", str(free_port()),
         "--fractals-port", str(free_port()), "--build-dir", str(build)],
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


def test_tutorial_reports_a_failure_with_a_nonzero_status(tmp_path):
    env = {**os.environ, "FIRSTAPP_DATA_DIR": str(tmp_path / "data")}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "firstapp", "tutorial", "--port", str(taken),
             "--build-dir", str(tmp_path / "build")],
            capture_output=True, text=True, env=env, timeout=300,
        )
    assert done.returncode == 1
    assert re.search(r"start the local cloud\s+FAILED", done.stdout)
    assert f"port {taken}" in done.stdout
