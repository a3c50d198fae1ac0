"""What each sample step printed and showed, read from the committed notebooks.

The committed notebooks carry the outputs of a real run (and the tests keep them in step
with the samples), so the guide can show them under each step without running anything.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import nbformat

# Picture formats in order of preference: lossless first.
IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg"}


@dataclass(frozen=True)
class Picture:
    extension: str
    data: bytes


@dataclass(frozen=True)
class StepOutput:
    """One step's output: the text it wrote (stdout and stderr, as a terminal shows them)
    and the pictures it displayed, each in the order they came."""

    notebook: Path
    text: str
    pictures: tuple[Picture, ...]


def as_terminal_shows(text: str) -> str:
    """Text with carriage returns applied: a progress bar redrawn in place ends as its
    last state."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def _picture(data: dict) -> Picture | None:
    for mime, extension in IMAGE_TYPES.items():
        if mime in data:
            return Picture(extension, base64.b64decode(data[mime]))
    return None


def cell_output(cell: nbformat.NotebookNode, notebook: Path) -> StepOutput:
    """The text and pictures of one executed code cell."""
    text: list[str] = []
    pictures: list[Picture] = []
    stream = None
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            # stdout and stderr arrive separately: a progress bar on stderr has no newline
            # of its own until it closes, which may come after the next line on stdout
            if stream not in (None, output.name) and text and not text[-1].endswith("\n"):
                text.append("\n")
            stream = output.name
            text.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            picture = _picture(output.data)
            if picture:
                pictures.append(picture)
            elif "text/plain" in output.data:
                text.append(output.data["text/plain"] + "\n")
    return StepOutput(notebook, as_terminal_shows("".join(text)).rstrip("\n"), tuple(pictures))


def step_outputs(notebooks: Path) -> dict[tuple[str, str], StepOutput]:
    """Every step cell of the notebooks in ``notebooks``, keyed by (sample, step): the
    sample's path from the repository root, as the cells' ``firstapp`` metadata names it."""
    found: dict[tuple[str, str], StepOutput] = {}
    for path in sorted(notebooks.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            where = cell.metadata.get("firstapp")
            if cell.cell_type == "code" and where:
                found[where["sample"], where["step"]] = cell_output(cell, path)
    return found
