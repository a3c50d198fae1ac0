"""One papermill run of every notebook per session, shared by the tests that look at a run.

Each notebook runs once, as a learner runs it (``papermill notebooks/<name>.ipynb out.ipynb
-p ...`` from the repository root), against the stack that ``make notebooks`` uses (a
private cloud and the tutorial's twelve fractals), one after the other in the builder's
order. The papermill test, the strict comparison with the committed outputs and the rebuild
check (``make notebooks`` twice writes the same bytes) all read that one run.

The parameters given are the values the committed outputs show, and the environment says
otherwise (``TUTORIAL_CONTAINER``, ``LARGE_OBJECT_SIZE``, ``OS_USERNAME``...): a
parameter that papermill failed to inject, or that a notebook ignored, shows up as a
difference from the committed outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from firstapp.notebooks import build

from .runs import ROOT, Run, parameters_of


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Every track's papermill run, by track name (executed at the first use), each on the
    stack of the store it needs (``FIRSTAPP_BACKEND``'s, or the one it looks inside)."""
    from firstapp.stack import local_stacks

    workdir = tmp_path_factory.mktemp("papermill")
    with local_stacks(workdir / "stacks") as stacks:
        yield {track.name: _run(track, stacks.env(track.backend), workdir)
               for track in build.TRACKS}


def _run(track: build.Track, stack_env: dict[str, str], workdir: Path) -> Run:
    """``track``'s notebook run once under papermill on the stack ``stack_env`` describes."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from firstapp.notebooks.kernel import IPCKernelManager
    from firstapp.stack import environment

    parameters, decoys = parameters_of(track, stack_env)
    output = workdir / f"{track.name}.ipynb"
    error = None
    with environment({**stack_env, **decoys}):
        try:
            # as `papermill notebooks/<name>.ipynb out.ipynb` runs it: in the current
            # directory, here the repository root, not the notebook's own
            papermill.execute_notebook(
                str(build.notebook_path(ROOT, track.name)), str(output),
                parameters=parameters, cwd=str(ROOT), progress_bar=False,
                kernel_name="python3", kernel_manager_class=IPCKernelManager,
            )
        except PapermillExecutionError as exc:
            error = f"cell {exc.cell_index} failed: {exc.ename}: {exc.evalue}"
    return Run(track, parameters, decoys, stack_env, output, error)
