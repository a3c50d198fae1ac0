"""The tutorial's stack: one set of fractals for the builder, the tutorial, the lab and the CLI."""

from __future__ import annotations

import base64
import io
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import requests
from PIL import Image

from firstapp import stack
from firstapp.fractals import client
from firstapp.fractals.seed import seed_database, seeded_fractals
from firstapp.fractals.worker import render_fractal
from firstapp.paths import project_root

ROOT = project_root()
SDK_NOTEBOOKS = ("durability-libcloud", "durability-shade", "durability-openstacksdk")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> list[dict]:
    """The stack's fractals as seed_database writes them for its constants."""
    db = tmp_path_factory.mktemp("seeded") / "fractals.db"
    return seed_database(f"sqlite:///{db}", stack.FRACTALS, stack.SEED, stack.SIZE, stack.SIZE)


def test_the_private_stack_serves_the_seeded_fractals(tutorial_stack, seeded):
    env = tutorial_stack  # stack.local_stack, as the notebook builder starts it
    served = client.list_fractals(env["FRACTALS_ENDPOINT"])
    assert requests.get(env["OS_AUTH_URL"], headers={"X-Auth-User": env["OS_USERNAME"],
                        "X-Auth-Key": env["OS_PASSWORD"]}, timeout=10).status_code == 200
    assert [(f["uuid"], f["checksum"]) for f in served] == \
        [(f["uuid"], f["checksum"]) for f in seeded]
    assert len(seeded) == stack.FRACTALS
    assert {(f["width"], f["height"]) for f in seeded} == {(stack.SIZE, stack.SIZE)}


def test_the_documented_create_command_rebuilds_the_seeded_images(fractals_app_factory, seeded):
    readme = (ROOT / "README.md").read_text()
    assert stack.CREATE_COMMAND in readme  # the README documents exactly this command
    app = fractals_app_factory(0)  # an empty app
    program, *arguments = shlex.split(stack.CREATE_COMMAND)
    assert program == "firstapp"
    done = subprocess.run([sys.executable, "-m", "firstapp", *arguments,
                           "--endpoint", app.endpoint],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    made = client.list_fractals(app.endpoint)
    assert [f["checksum"] for f in made] == [f["checksum"] for f in seeded]
    assert {f["uuid"] for f in made}.isdisjoint(f["uuid"] for f in seeded)  # the app's own


def test_serving_the_fractals_twice_adds_nothing(fractals_app_factory):
    app = fractals_app_factory(0)
    assert stack.serve_fractals(app.endpoint) == stack.FRACTALS
    assert stack.serve_fractals(app.endpoint) == stack.FRACTALS


@pytest.mark.parametrize("name", SDK_NOTEBOOKS)
def test_the_committed_notebooks_show_the_stack_s_fractals(name):
    """Step 11 of each committed notebook shows the last fractal it backed up: the stack's."""
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    [cell] = [c for c in nb.cells if c.metadata.get("firstapp", {}).get("step") == "11"]
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    assert f"lists {stack.FRACTALS} fractals" in text
    [png] = [o.data["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})]
    shown = Image.open(io.BytesIO(base64.b64decode(png)))
    _, params = seeded_fractals(stack.FRACTALS, stack.SEED, width=stack.SIZE,
                                height=stack.SIZE)[-1]
    expected = Image.open(io.BytesIO(render_fractal(params).image))
    assert shown.size == expected.size
    assert shown.convert("RGB").tobytes() == expected.convert("RGB").tobytes()


def test_project_root_is_found_from_the_working_directory(tmp_path):
    checkout = tmp_path / "clone"
    for directory in ("samples", "notebooks", "docs/deep"):
        (checkout / directory).mkdir(parents=True)
    (checkout / "conf.py").write_text("")
    code = "from firstapp.paths import project_root; print(project_root())"
    found = subprocess.run([sys.executable, "-c", code], cwd=checkout / "docs" / "deep",
                           capture_output=True, text=True, timeout=60)
    assert Path(found.stdout.strip()) == checkout.resolve()
    wrong = subprocess.run([sys.executable, "-m", "firstapp", "lab"], capture_output=True,
                           text=True, timeout=60, env={"FIRSTAPP_ROOT": str(tmp_path),
                                                       "PATH": "/usr/bin:/bin"})
    assert wrong.returncode == 1
    assert wrong.stderr.startswith(f"error: FIRSTAPP_ROOT={tmp_path} is not a checkout")
    assert "Traceback" not in wrong.stderr
