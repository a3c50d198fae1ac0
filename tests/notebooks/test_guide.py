"""The guide: every step's output comes from the committed notebooks."""

from __future__ import annotations

import base64
import html
import io

import nbformat
from PIL import Image

from firstapp.notebooks.outputs import as_terminal_shows, step_outputs
from firstapp.paths import project_root

ROOT = project_root()


def test_a_progress_bar_redrawn_in_place_ends_as_its_last_state():
    drawn = "backing up:   0%|  | 0/3\rbacking up:  33%|# | 1/3\rbacking up: 100%|##| 3/3\nok\n"
    assert as_terminal_shows(drawn) == "backing up: 100%|##| 3/3\nok\n"


def test_step_outputs_keep_text_and_pictures_in_order(tmp_path):
    picture = io.BytesIO()
    Image.new("RGB", (2, 2), "red").save(picture, format="PNG")
    png = base64.b64encode(picture.getvalue()).decode()
    cell = nbformat.v4.new_code_cell("x", metadata={"firstapp": {"sample": "s.py", "step": "6"}})
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="Downloaded 3 bytes\n"),
        nbformat.v4.new_output("stream", name="stderr", text="0/1\r1/1"),
        nbformat.v4.new_output("stream", name="stdout", text="Checked\n"),
        nbformat.v4.new_output("stream", name="stderr", text="\n"),
        nbformat.v4.new_output("execute_result", data={"image/png": png, "text/plain": "<I>"},
                               execution_count=1),
        nbformat.v4.new_output("execute_result", data={"text/plain": "42"}, execution_count=1),
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), tmp_path / "t.ipynb")
    found = step_outputs(tmp_path)[("s.py", "6")]
    assert found.text == "Downloaded 3 bytes\n1/1\nChecked\n\n42"
    assert [p.extension for p in found.pictures] == ["png"]
    assert found.pictures[0].data == picture.getvalue()


def test_the_built_guide_shows_what_each_step_printed(guide_html):
    """The guide as `make docs` builds it (tests/conftest.py: built once per session)."""
    outputs = step_outputs(ROOT / "notebooks")
    page = html.unescape((guide_html / "docs" / "durability.html").read_text())
    for sdk in ("libcloud", "shade", "openstacksdk"):
        md5_check = outputs[f"samples/{sdk}/durability.py", "7"].text
        assert "ETag the store returned" in md5_check
        for line in md5_check.splitlines():  # the highlighter splits lines into spans
            assert line.split()[-1] in page
        goat = outputs[f"samples/{sdk}/durability.py", "6"].pictures
        assert len(goat) == 1, "the goat is shown once"
        assert f'src="../_images/durability-{sdk}-6-0.{goat[0].extension}"' in page
    # outputs wrap long lines and are not cut short (the extension's style sheet)
    assert 'class="firstapp-output' in page or "firstapp-output " in page
    assert 'href="../_static/firstapp-outputs.css' in page
    css = (guide_html / "_static" / "firstapp-outputs.css").read_text()
    assert "white-space: pre-wrap" in css and "overflow-y: visible" in css
    hood = (guide_html / "docs" / "under-the-hood.html").read_text()
    chart = outputs["samples/under-the-hood/durability.py", "13"].pictures[0].data
    assert (guide_html / "_images" / "durability-under-the-hood-13-0.png").read_bytes() == chart
    assert 'src="../_images/durability-under-the-hood-13-0.png"' in hood
