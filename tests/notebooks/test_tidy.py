"""What the builder keeps of a kernel's outputs (firstapp.notebooks.tidy)."""

from __future__ import annotations

import base64
import io
import re

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output
from PIL import Image

from firstapp.notebooks import build, tidy

BARS = """\
from tqdm.auto import tqdm
print("listing")
for _ in tqdm(range(12), desc="backing up", unit="fractal"):
    pass
print("done")
with tqdm(total=3 << 20, desc="downloading", unit="B", unit_scale=True) as bar:
    bar.update(3 << 20)
"""


def test_a_tqdm_widget_is_kept_as_the_text_of_its_last_state(tmp_path):
    """A real kernel with ipywidgets: tqdm.auto draws widgets, whose own text is 0%."""
    nb = build.execute(new_notebook(cells=[new_code_cell(BARS)]), tmp_path, timeout=120)
    raw = nb.cells[0].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in raw)
    assert "widgets" in nb.metadata
    tidy.tidy(nb, {})
    outputs = nb.cells[0].outputs
    assert "widgets" not in nb.metadata
    assert [o.output_type for o in outputs] == ["stream", "display_data", "display_data"]
    assert outputs[0].text == "listing\ndone\n"
    first, second = (o.data for o in outputs[1:])
    assert list(first) == ["text/plain"] and list(second) == ["text/plain"]
    assert re.fullmatch(r"backing up: 100%\|█{10}\| 12/12 \[\S+<\S+, \S+fractal/s\]",
                        first["text/plain"]), first
    assert second["text/plain"].startswith("downloading: 100%|██████████| 3.15M/3.15M [")


def test_streams_are_coalesced_and_redraws_dropped():
    outputs = [new_output("stream", name="stdout", text="a\n"),
               new_output("stream", name="stderr", text="bar 1/3\rbar 2/3\r"),
               new_output("stream", name="stderr", text="bar 3/3\n"),
               new_output("stream", name="stdout", text="b\n"),
               new_output("display_data", data={"text/plain": "x"})]
    kept = tidy.coalesce_streams(outputs)
    assert [(o.output_type, o.get("name")) for o in kept] == [
        ("stream", "stdout"), ("stream", "stderr"), ("display_data", None)]
    assert kept[0].text == "a\nb\n"
    assert kept[1].text == "bar 3/3\n"


def _encoded(image: Image.Image, kind: str) -> str:
    data = io.BytesIO()
    image.save(data, format=kind)
    return base64.b64encode(data.getvalue()).decode()


def test_one_picture_per_output_the_smallest():
    # a photograph: thousands of colours, where JPEG wins
    noise = Image.merge("RGB", [Image.effect_noise((64, 64), sigma) for sigma in (40, 60, 80)])
    output = new_output("execute_result", execution_count=1, data={
        "image/png": _encoded(noise, "PNG"), "image/jpeg": _encoded(noise, "JPEG"),
        "text/plain": "<PIL.Image>"})
    tidy.one_picture(output)
    assert sorted(output.data) == ["image/jpeg", "text/plain"]
    flat = Image.new("RGB", (64, 64), "red")  # PNG wins on flat colour
    output.data = {"image/png": _encoded(flat, "PNG"), "image/jpeg": _encoded(flat, "JPEG")}
    tidy.one_picture(output)
    assert list(output.data) == ["image/png"]


def test_a_drawn_picture_keeps_its_png_even_when_jpeg_is_smaller():
    # a fractal-like picture: busy, but through a palette of 200 colours
    drawn = Image.effect_noise((128, 128), 90).quantize(200).convert("RGB")
    png, jpeg = _encoded(drawn, "PNG"), _encoded(drawn, "JPEG")
    assert len(jpeg) < len(png)
    output = new_output("display_data", data={"image/png": png, "image/jpeg": jpeg})
    tidy.one_picture(output)
    assert list(output.data) == ["image/png"]


def test_private_ports_are_shown_as_the_documented_ones():
    env = {"OS_AUTH_URL": "http://127.0.0.1:35475/auth/v1.0",
           "FRACTALS_ENDPOINT": "http://127.0.0.1:41234"}
    ports = tidy.private_ports(env)
    assert ports == {35475: 8080, 41234: 8081}
    cell = new_code_cell("x", outputs=[
        new_output("stream", name="stdout",
                   text="Connected to http://127.0.0.1:35475/v1/AUTH_t; app at "
                        "http://localhost:41234 (not 127.0.0.1:354750)\n")])
    nb = new_notebook(cells=[cell])
    tidy.show_documented_ports(nb, ports)
    assert nb.cells[0].outputs[0].text == (
        "Connected to http://127.0.0.1:8080/v1/AUTH_t; app at http://localhost:8081 "
        "(not 127.0.0.1:354750)\n")


def _run(text: str, count: int = 3) -> nbformat.NotebookNode:
    cell = new_code_cell("print(x)", id="c-001", execution_count=count,
                         outputs=[new_output("stream", name="stdout", text=text)])
    return new_notebook(cells=[cell])


def test_settle_keeps_the_previous_outputs_when_only_incidentals_differ():
    previous = _run("tx0123456789abcdef01234-0123456789 at 2026-12-04T15:13:12+00:00\n")
    new = _run("tx9999956789abcdef01234-0123456789 at 2027-01-01T00:00:00+00:00\n")
    assert tidy.settle(new, previous) == 0
    assert new.cells[0].outputs == previous.cells[0].outputs


def test_settle_takes_the_new_outputs_when_something_real_changed():
    previous = _run("Backed up 12 fractals\n")
    new = _run("Backed up 11 fractals\n")
    assert tidy.settle(new, previous) == 1
    assert new.cells[0].outputs[0].text == "Backed up 11 fractals\n"
    changed_source = _run("Backed up 12 fractals\n")
    changed_source.cells[0].source = "print(y)"
    assert tidy.settle(changed_source, previous) == 1
