"""The notebooks: generated from the samples, executed for real, no secrets inside."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest

from firstapp import steps
from firstapp.notebooks import build
from firstapp.stack import environment, local_stack

ROOT = build.ROOT
NOTEBOOKS = [build.notebook_path(ROOT, t.name) for t in build.TRACKS]

SECRET_PATTERNS = [
    re.compile(r"AUTH_(tk|ftk|zftk)[\w-]{8,}"),  # Swift tokens
    re.compile(r"X-Auth-Token:\s*\S+", re.I),  # a header dump with its value
    re.compile(r"OS_PASSWORD=\S+"),
    re.compile(r"""password\s*[=:]\s*['"][^'"]+['"]""", re.I),  # a literal password
]


def test_notebooks_are_generated_from_narrative_and_samples():
    assert build.drift() == [], "notebooks/ is out of date: run `make notebooks`"


def test_every_step_is_one_cell_with_metadata():
    for path in NOTEBOOKS:
        code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        for cell in code:
            where = cell.metadata["firstapp"]
            sample = {s.name: s.code for s in steps.load(ROOT / where["sample"])}
            assert cell.source == sample[where["step"]], (path.name, where)
        assert code[0].metadata["firstapp"]["step"] == "1"
        assert code[0].metadata["tags"] == ["parameters"]


def test_committed_notebooks_have_outputs_and_images():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.execution_count for c in code), f"{path.name} has unexecuted cells"
        mimes = {m for c in code for o in c.outputs for m in o.get("data", {})}
        assert {"image/png", "image/jpeg"} & mimes, f"{path.name} shows no image"
        errors = [o for c in code for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{path.name} has error outputs"


def test_committed_notebooks_hold_no_secrets():
    for path in NOTEBOOKS:
        text = path.read_text()
        for pattern in SECRET_PATTERNS:
            assert not pattern.search(text), f"{path.name}: matches {pattern.pattern}"


@pytest.mark.parametrize("name", [t.name for t in build.TRACKS])
def test_papermill_runs_notebook(name, local_cloud, cloud_factory, fractals_app, tmp_path):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from firstapp.cloud.client import connection
    from firstapp.notebooks.kernel import IPCKernelManager

    track = build.track(name)
    # a notebook that takes devices offline and restarts its cloud gets a cloud of its own
    cloud = local_cloud if track.sdk else cloud_factory()
    container = f"nb-{uuid.uuid4().hex[:8]}"
    output = tmp_path / f"{name}.ipynb"
    env = {**cloud.env(), "FRACTALS_ENDPOINT": fractals_app.endpoint}
    with environment(env):
        try:
            papermill.execute_notebook(
                str(build.notebook_path(ROOT, name)), str(output),
                parameters={"container_name": container, "large_object_size": 3 << 20,
                            "segment_size": 1 << 20},
                cwd=str(ROOT / "notebooks"), progress_bar=False, kernel_name="python3",
                kernel_manager_class=IPCKernelManager,
            )
        except PapermillExecutionError as exc:
            pytest.fail(f"{name}.ipynb: cell {exc.cell_index} failed: "
                        f"{exc.ename}: {exc.evalue}")
    nb = nbformat.read(output, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and container in injected[0].source
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert cloud.password not in outputs
    if track.sdk:  # the SDK tracks back up every fractal (27: three pages)
        assert f"Backed up {len(fractals_app.fractals)} fractals" in outputs
    # every notebook cleans up after itself
    conn = connection(cloud.auth_url, cloud.username, cloud.password)
    assert container not in [c["name"] for c in conn.get_account()[1]]


def test_nbval_strict_against_a_fresh_stack(tmp_path):
    """Re-run the committed notebooks and compare every output (nbval, not lax)."""
    with local_stack(tmp_path) as env, environment(env):
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval",
             "--nbval-sanitize-with", str(ROOT / "notebooks" / "nbval-sanitize.cfg"),
             "--nbval-cell-timeout", "600", "-q", "--rootdir", str(tmp_path),
             *map(str, NOTEBOOKS)],
            capture_output=True, text=True, cwd=ROOT / "notebooks", timeout=1800,
        )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert re.search(r"\d+ passed", done.stdout)


def test_builder_rejects_a_step_missing_from_the_narrative(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "samples" / "libcloud").mkdir(parents=True)
    (tmp_path / "samples" / "libcloud" / "durability.py").write_text(
        '"""x"""\n# step-1\na = 1\n# step-2\nb = 2\n# step-15\n')
    (tmp_path / "docs" / "durability.md").write_text(
        "# T\n\n```{sample-step} 1\n```\n")
    with pytest.raises(ValueError, match=r"steps not in the narrative \['2'\]"):
        build.render(tmp_path, build.Track("t", Path("docs/durability.md"), "libcloud", ""))


def test_builder_output_is_stable(tmp_path):
    track = build.track("durability-openstacksdk")
    assert nbformat.writes(build.render(ROOT, track)) == nbformat.writes(build.render(ROOT, track))


def test_execute_runs_the_kernel_in_the_notebook_directory_over_unix_sockets(tmp_path):
    """``make notebooks`` runs each notebook in notebooks/, while it runs from the root."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, psutil\n"
        "print(os.getcwd())\n"
        "print(len([c for c in psutil.Process().net_connections('inet')"
        " if c.status == psutil.CONN_LISTEN]))")])
    build.execute(nb, tmp_path, timeout=60)
    cwd, tcp_listeners = nb.cells[0].outputs[0].text.splitlines()
    assert cwd == str(tmp_path)
    # With the default transport the five Jupyter channels would add five TCP ports; what
    # may stay is ipykernel's internal pipe for output from forked processes.
    assert int(tcp_listeners) <= 1
