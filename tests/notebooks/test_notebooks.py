"""The notebooks: generated from the samples, executed for real, no secrets inside."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from firstapp import stack, steps
from firstapp.notebooks import build
from firstapp.paths import project_root

from .runs import as_built

ROOT = project_root()
NOTEBOOKS = [build.notebook_path(ROOT, t.name) for t in build.TRACKS]

SECRET_PATTERNS = [
    re.compile(r"AUTH_(tk|ftk|zftk)[\w-]{8,}"),  # Swift tokens
    re.compile(r"X-Auth-Token:\s*\S+", re.I),  # a header dump with its value
    re.compile(r"OS_PASSWORD=\S+"),
    re.compile(r"""password\s*[=:]\s*['"][^'"]+['"]""", re.I),  # a literal password
]


def committed(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def code_cells(path: Path) -> list[nbformat.NotebookNode]:
    return [c for c in committed(path).cells if c.cell_type == "code"]


def test_notebooks_are_generated_from_narrative_and_samples():
    assert build.drift() == [], "notebooks/ is out of date: run `make notebooks`"


def test_every_step_is_one_cell_that_shows_its_step_number():
    for path in NOTEBOOKS:
        code = code_cells(path)
        for cell in code:
            where = cell.metadata["firstapp"]
            sample = {s.name: s.code for s in steps.load(ROOT / where["sample"])}
            first, rest = cell.source.split("\n", 1)
            assert first == f"# step-{where['step']}", (path.name, where)  # the sample's marker
            assert rest == sample[where["step"]], (path.name, where)
        assert code[0].metadata["firstapp"]["step"] == "1"
        assert code[0].metadata["tags"] == ["parameters"]


def test_contributor_note_is_in_the_metadata_not_in_the_learners_cells():
    for path in NOTEBOOKS:
        nb = committed(path)
        assert "edit those, not this notebook" in nb.metadata["firstapp"]["note"]
        assert nb.metadata["firstapp"]["sources"][0].startswith("docs/")
        assert not any("not this notebook" in c.source for c in nb.cells), path.name


def test_committed_notebooks_have_no_empty_link_text():
    for path in NOTEBOOKS:
        for cell in committed(path).cells:
            if cell.cell_type == "markdown":
                assert not re.search(r"\[\s*\]\(", cell.source), (path.name, cell.source)
                assert "see ." not in cell.source, (path.name, cell.source)


def test_committed_notebooks_have_outputs_and_images():
    for path in NOTEBOOKS:
        code = code_cells(path)
        assert all(c.execution_count for c in code), f"{path.name} has unexecuted cells"
        mimes = {m for c in code for o in c.outputs for m in o.get("data", {})}
        assert {"image/png", "image/jpeg"} & mimes, f"{path.name} shows no image"
        errors = [o for c in code for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{path.name} has error outputs"


def test_committed_outputs_are_tidy():
    """At most one stdout and one stderr output per cell, a redrawn bar only as its last
    state, one picture per output, no widget that needs a kernel's state to show."""
    for path in NOTEBOOKS:
        nb = committed(path)
        assert "widgets" not in nb.metadata, path.name
        for cell in (c for c in nb.cells if c.cell_type == "code"):
            step = (path.name, cell.metadata["firstapp"]["step"])
            streams = [o.name for o in cell.outputs if o.output_type == "stream"]
            assert len(streams) == len(set(streams)) <= 2, step
            for output in cell.outputs:
                text = output.get("text", "") + output.get("data", {}).get("text/plain", "")
                assert not re.search(r"\r(?!\n)", text), step  # no redraws left
                data = output.get("data", {})
                assert len([m for m in data if m.startswith("image/")]) <= 1, step
                assert "application/vnd.jupyter.widget-view+json" not in data, step


def test_committed_outputs_show_the_documented_ports_only():
    """The private stack's random ports never reach the committed outputs (or the guide)."""
    for path in NOTEBOOKS:
        for cell in code_cells(path):
            shown = json.dumps(cell.outputs)
            ports = set(re.findall(r"(?:127\.0\.0\.1|localhost):(\d+)", shown))
            assert ports <= {"8080", "8081"}, (path.name, cell.metadata["firstapp"], ports)


def test_committed_notebooks_hold_no_secrets():
    for path in NOTEBOOKS:
        text = path.read_text()
        for pattern in SECRET_PATTERNS:
            assert not pattern.search(text), f"{path.name}: matches {pattern.pattern}"


def test_papermill_shows_the_parameters_types(monkeypatch):
    """`papermill --help-notebook` on each notebook, through papermill's own command (click's
    test runner: one process for the four)."""
    from click.testing import CliRunner
    from papermill.cli import papermill as papermill_command

    monkeypatch.chdir(ROOT)
    for path in NOTEBOOKS:
        done = CliRunner().invoke(papermill_command, ["--help-notebook", str(path)])
        assert done.exit_code == 0, done.output[-2000:]
        assert "Parameters inferred" in done.output, done.output
        assert "Unknown type" not in done.output, f"{path.name}:\n{done.output}"


@pytest.mark.parametrize("name", [t.name for t in build.TRACKS])
def test_papermill_runs_notebook_from_the_repository_root(name, notebook_runs):
    """The session's papermill run of the notebook (tests/notebooks/conftest.py): from the
    repository root, with parameters that win over what the environment says."""
    run = notebook_runs[name]
    run.check()
    nb = nbformat.read(run.output, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected, "papermill injected no parameters"
    for parameter, value in run.parameters.items():
        assert re.search(rf"^{parameter} = {re.escape(json.dumps(value))}$", injected[0].source,
                         re.M), injected[0].source
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert run.env["OS_PASSWORD"] not in outputs
    container = run.parameters["container_name"]
    assert container in outputs  # the container it was given, not the environment's
    if run.track.sdk:  # the SDK tracks back up every fractal, into the container they were given
        assert f"Backed up {stack.FRACTALS} fractals" in outputs
        assert run.decoys["TUTORIAL_CONTAINER"] not in outputs
        size, segment = run.parameters["large_object_size"], run.parameters["segment_size"]
        assert f"Uploaded {size} bytes as {size // segment} segments" in outputs
    # every notebook cleans up after itself, and touched no container the environment named
    names = run.containers
    assert container not in names and not set(run.decoys.values()) & set(names)


@pytest.mark.parametrize("name", [t.name for t in build.TRACKS])
def test_a_run_shows_the_committed_outputs(name, notebook_runs):
    """Strict comparison of the run with the committed notebook, cell by cell: every output
    the same but for what the sanitizer lists (nbval's rule), and pictures byte for byte."""
    from firstapp.notebooks.tidy import sanitized, sanitizer_patterns

    nb = as_built(notebook_runs[name])
    committed_cells = {c.id: c for c in committed(build.notebook_path(ROOT, name)).cells}
    patterns = sanitizer_patterns()
    differ = [(cell.metadata["firstapp"]["step"], sanitized(cell.outputs, patterns)[:3000],
               sanitized(committed_cells[cell.id].outputs, patterns)[:3000])
              for cell in nb.cells if cell.cell_type == "code"
              and cell.outputs != committed_cells[cell.id].outputs]
    assert not differ, "steps whose outputs differ (step, run, committed): " + repr(differ)


@pytest.mark.parametrize("name", [t.name for t in build.TRACKS])
def test_make_notebooks_twice_writes_the_same_bytes(name, notebook_runs):
    """What a rebuild would write after the session's run of the notebook (``make notebooks``
    renders, runs, tidies and settles; this test reads the run) is the committed file."""
    nb = as_built(notebook_runs[name])
    run = notebook_runs[name]
    assert build.leaked_secrets(nb, [run.env["OS_PASSWORD"]]) == []
    path = build.notebook_path(ROOT, name)
    assert (nbformat.writes(nb) + "\n").encode() == path.read_bytes(), (
        f"{path.name} would be rewritten by `make notebooks`")


@pytest.mark.ci
def test_pytest_nbval_passes_from_the_repository_root():
    """`pytest --nbval notebooks/` as nbval documents it: no stack started by hand, no
    sanitizer flag, strict comparison of every output with the committed ones. It runs every
    notebook a second time, so it runs in CI (`.ci/run`: `pytest -m ci`), not in `make test`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OS_", "ST_", "FRACTALS_", "PYTEST_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval", "notebooks/",
         "-q"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    cells = sum(len(code_cells(path)) for path in NOTEBOOKS)
    assert re.search(rf"\b{cells} passed", done.stdout), done.stdout[-2000:]


def test_builder_rejects_a_step_missing_from_the_narrative(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "samples" / "libcloud").mkdir(parents=True)
    (tmp_path / "samples" / "libcloud" / "durability.py").write_text(
        '"""x"""\n# step-1\na = 1\n# step-2\nb = 2\n# step-15\n')
    (tmp_path / "docs" / "durability.md").write_text(
        "# T\n\n```{sample-step} 1\n```\n")
    with pytest.raises(ValueError, match=r"steps not in the narrative \['2'\]"):
        build.render(tmp_path, build.Track("t", Path("docs/durability.md"), "libcloud", ""))


def _narrative(tmp_path: Path, text: str) -> nbformat.NotebookNode:
    (tmp_path / "docs").mkdir()
    (tmp_path / "samples" / "libcloud").mkdir(parents=True)
    (tmp_path / "samples" / "libcloud" / "durability.py").write_text(
        '"""x"""\n# step-1\na = 1\n# step-15\n')
    (tmp_path / "docs" / "durability.md").write_text(text)
    (tmp_path / "docs" / "backup.md").write_text("(fractals-backup)=\n# Backing `up`\n")
    return build.render(tmp_path, build.Track("t", Path("docs/durability.md"), "libcloud", ""))


def test_builder_gives_empty_links_their_targets_heading(tmp_path):
    nb = _narrative(tmp_path, "# T\n\nSee [](#three-copies) and [](#fractals-backup).\n\n"
                              "```{sample-step} 1\n```\n\n(three-copies)=\n## Three copies, "
                              "kept\n\nText.\n")
    text = "\n".join(c.source for c in nb.cells)
    assert "See [Three copies, kept](#Three-copies,-kept)" in text
    assert "[Backing up](../docs/backup.md)" in text
    assert "# step-1\na = 1" in [c.source for c in nb.cells if c.cell_type == "code"]


def test_builder_refuses_a_link_to_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"\[\]\(#nowhere\) links to no label"):
        _narrative(tmp_path, "# T\n\nSee [](#nowhere).\n\n```{sample-step} 1\n```\n")


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


def test_make_notebooks_says_in_one_line_what_stopped_it(tmp_path):
    """A stack that cannot start (here: a wrong FIRSTAPP_FREE_PORTS) ends `make notebooks`
    with one ``error:`` line and writes nothing."""
    env = {**os.environ, "FIRSTAPP_FREE_PORTS": "not-a-range"}
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "firstapp.notebooks.build", "--output-dir",
                           str(out)], cwd=project_root(), env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: FIRSTAPP_FREE_PORTS=not-a-range is not a range of ports LOW-HIGH between "
        "1024 and 65535 (e.g. 20000-32767); unset it for the default"]
    assert not out.exists() or list(out.iterdir()) == []
