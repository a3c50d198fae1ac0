"""A papermill run of a notebook, and what ``make notebooks`` would keep of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from firstapp.notebooks import build
from firstapp.paths import project_root

ROOT = project_root()
MiB = 1 << 20


@dataclass(frozen=True)
class Run:
    """One papermill run and its output notebook; ``error`` says why it failed, if it did."""

    track: build.Track
    parameters: dict[str, Any]
    decoys: dict[str, str]  # what the environment said instead of the parameters
    env: dict[str, str]  # the stack's settings
    output: Path
    error: str | None
    containers: tuple[str, ...]  # the containers in the stack's account right after the run

    def check(self) -> None:
        """Fail the calling test when the run failed."""
        if self.error:
            pytest.fail(f"{self.track.name}.ipynb under papermill: {self.error}", pytrace=False)


def parameters_of(track: build.Track, env: dict[str, str]) -> tuple[dict[str, Any],
                                                                    dict[str, str]]:
    """The parameters of ``track``'s run (the values the committed outputs show) and the
    environment variables that would give other values if a parameter were not injected."""
    if track.sdk:
        return ({"container_name": "making-it-durable-tutorial",
                 "large_object_size": 64 * MiB, "segment_size": 16 * MiB},
                {"TUTORIAL_CONTAINER": "papermill-did-not-inject-container-name",
                 "LARGE_OBJECT_SIZE": str(2 * MiB), "SEGMENT_SIZE": str(MiB)})
    if track.name == "app-on-swift":  # its app signs in with the stack's OS_* settings
        return {"container_name": "app-on-swift-tutorial"}, {}
    if track.backend == "ceph":  # it reads the cloud's files, so no decoy for cloud_dir
        return ({"container_name": "under-the-hood-ceph",
                 "cloud_dir": env["FIRSTAPP_CLOUD_DIR"]}, {})
    # the Swift under-the-hood notebook signs in as OS_USERNAME when it is set
    return ({"container_name": "under-the-hood", "cloud_dir": env["FIRSTAPP_CLOUD_DIR"],
             "username": env["OS_USERNAME"]},
            {"OS_USERNAME": "papermill-did-not-inject:username"})


def as_built(run: Run) -> nbformat.NotebookNode:
    """The run as ``make notebooks`` keeps a run: the rendered notebook with the run's outputs
    and kernel metadata (papermill's injected cell and its own metadata left out, execution
    counts as without the injected cell), tidied, and with
    the committed outputs of every cell whose new ones differ only in what the sanitizer
    lists (:func:`firstapp.notebooks.tidy.settle`)."""
    from firstapp.notebooks.tidy import private_ports, settle, tidy

    run.check()
    ran = nbformat.read(run.output, as_version=4)
    injected = [c for c in ran.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1, f"{run.track.name}: papermill injected {len(injected)} cells"
    after = injected[0].execution_count
    nb = build.render(ROOT, run.track)
    cells = [c for c in ran.cells if c is not injected[0]]
    assert [c.source for c in cells] == [c.source for c in nb.cells], run.track.name
    for cell, out in zip(nb.cells, cells, strict=True):
        if cell.cell_type != "code":
            continue
        count = out.execution_count - (out.execution_count > after)
        cell.execution_count = count
        cell.outputs = out.outputs
        for output in cell.outputs:
            if "execution_count" in output:
                output.execution_count = count
    for key in ("language_info", "widgets"):  # what the kernel said it runs; the bars' states
        if key in ran.metadata:
            nb.metadata[key] = ran.metadata[key]
    tidy(nb, private_ports(run.env))
    settle(nb, nbformat.read(build.notebook_path(ROOT, run.track.name), as_version=4))
    return nb
