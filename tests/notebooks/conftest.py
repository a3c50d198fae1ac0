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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from firstapp.notebooks import build

from .runs import ROOT, Run, parameters_of


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Every track's papermill run, by track name (executed at the first use), each on the
    stack of the store it needs (``FIRSTAPP_BACKEND``'s, or the one it looks inside).

    The tracks of one stack run one after the other, in the builder's order; each stack's
    tracks run at the same time as the other stack's (the Ceph notebook spends most of its
    time waiting for Ceph). The stacks stop once every run is done: what the tests check
    later is in the runs (their output notebooks, the containers they left)."""
    from firstapp.cloud import backends
    from firstapp.stack import local_stacks

    workdir = tmp_path_factory.mktemp("papermill")
    with local_stacks(workdir / "stacks") as stacks:
        by_stack: dict[str, list[build.Track]] = {}
        for track in build.TRACKS:
            by_stack.setdefault(track.backend or backends.default(), []).append(track)
        envs = {backend: stacks.env(backend) for backend in by_stack}  # started here

        def run_all(backend: str) -> dict[str, Run]:
            return {track.name: _run(track, envs[backend], workdir)
                    for track in by_stack[backend]}

        with ThreadPoolExecutor(len(by_stack)) as pool:
            runs = {name: run for done in pool.map(run_all, by_stack) for name, run in
                    done.items()}
    yield {track.name: runs[track.name] for track in build.TRACKS}


def _run(track: build.Track, stack_env: dict[str, str], workdir: Path) -> Run:
    """``track``'s notebook run once under papermill on the stack ``stack_env`` describes
    (its kernel gets the stack's settings and the decoys on top of this environment)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from firstapp.cloud.client import connection
    from firstapp.notebooks.kernel import IPCKernelManager

    parameters, decoys = parameters_of(track, stack_env)
    output = workdir / f"{track.name}.ipynb"
    error = None
    kernel = IPCKernelManager(kernel_name="python3", extra_env={**stack_env, **decoys})
    try:
        # as `papermill notebooks/<name>.ipynb out.ipynb` runs it: in the current
        # directory, here the repository root, not the notebook's own
        papermill.execute_notebook(
            str(build.notebook_path(ROOT, track.name)), str(output),
            parameters=parameters, cwd=str(ROOT), progress_bar=False,
            kernel_name="python3", km=kernel,
        )
    except PapermillExecutionError as exc:
        error = f"cell {exc.cell_index} failed: {exc.ename}: {exc.evalue}"
    conn = connection(stack_env["OS_AUTH_URL"], stack_env["OS_USERNAME"],
                      stack_env["OS_PASSWORD"])
    containers = tuple(c["name"] for c in conn.get_account(full_listing=True)[1])
    return Run(track, parameters, decoys, stack_env, output, error, containers)
