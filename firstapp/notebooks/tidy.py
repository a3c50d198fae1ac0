"""What the committed notebooks keep of a run (``make notebooks``).

A kernel's raw outputs are noisy: a progress bar redrawn in place arrives as many stream
outputs (or, in JupyterLab's kernel, as a widget whose state lives elsewhere), a picture
comes in two encodings, the private stack's ports are random. The builder keeps:

- at most two stream outputs per cell, stdout and stderr, with carriage returns applied
  (as nbval compares them);
- a tqdm widget as the text of its final state (``text/plain``, what JupyterLab, nbval
  and the guide all show), and no widget state in the notebook's metadata;
- one picture per output: the lossless PNG for drawn pictures, else the smallest encoding;
- the documented ports (8080 for the cloud, 8081 for the Fractals app) in place of the
  private stack's;
- the previous outputs of a cell when the new ones differ only in what
  ``nbval-sanitize.cfg`` calls incidental (timings, transaction ids, random data), so
  running ``make notebooks`` twice writes the same bytes.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nbformat import NotebookNode
from tqdm import tqdm

from firstapp.cloud.config import DEFAULT_PORT as CLOUD_PORT
from firstapp.fractals.defaults import DEFAULT_PORT as FRACTALS_PORT
from firstapp.notebooks.outputs import IMAGE_TYPES

#: What legitimately differs between two runs: used by nbval and by :func:`settle`.
SANITIZER = Path(__file__).with_name("nbval-sanitize.cfg")
#: The ports the README documents for the local cloud and the Fractals app (8080, 8081).
DOCUMENTED_PORTS = {"OS_AUTH_URL": CLOUD_PORT, "FRACTALS_ENDPOINT": FRACTALS_PORT}

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_CARRIAGE_RETURN = re.compile(r"^.*\r(?=[^\n])", re.MULTILINE)  # as nbval applies it
_BACKSPACE = re.compile(r"[^\n]\x08")


def coalesce_streams(outputs: list[NotebookNode]) -> list[NotebookNode]:
    """One stdout and one stderr output at most, each where its first part was, with
    backspaces and carriage returns applied (a redrawn bar keeps its last state)."""
    kept: list[NotebookNode] = []
    streams: dict[str, NotebookNode] = {}
    for output in outputs:
        if output.output_type != "stream":
            kept.append(output)
        elif output.name in streams:
            streams[output.name].text += output.text
        else:
            streams[output.name] = output
            kept.append(output)
    for stream in streams.values():
        text = stream.text
        while (shorter := _BACKSPACE.sub("", text)) != text:
            text = shorter
        stream.text = _CARRIAGE_RETURN.sub("", text)
    return kept


def _plain(value: str) -> str:
    """An ipywidgets HTML value as text: entities decoded, tqdm's padding spaces normal."""
    text = html.unescape(value)
    return "".join(" " if unicodedata.category(c) == "Zs" else c for c in text)


def widget_text(model_id: str, state: dict[str, Any]) -> str | None:
    """The final state of a tqdm bar widget as the line tqdm prints in a terminal, or None
    when ``model_id`` is not a tqdm bar (an HBox of HTML, progress, HTML)."""
    model = state.get(model_id, {})
    children = model.get("state", {}).get("children", [])
    if model.get("model_name") != "HBoxModel" or len(children) != 3:
        return None
    parts = [state.get(c.removeprefix("IPY_MODEL_"), {}) for c in children]
    names = [p.get("model_name") for p in parts]
    if names[0] != "HTMLModel" or names[2] != "HTMLModel" or "Progress" not in str(names[1]):
        return None
    left, right = (_plain(p["state"].get("value", "")) for p in (parts[0], parts[2]))
    if not left:  # no total: tqdm draws no bar, only the counter
        return right
    progress = parts[1]["state"]
    bar = tqdm.format_meter(progress.get("value", 0), progress.get("max") or 1, 0,
                            bar_format="{bar}")
    return f"{left}|{bar}|{right}"


def widgets_as_text(nb: NotebookNode) -> None:
    """Replace each tqdm widget output by the text of its final state; drop widget state."""
    state = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                continue
            text = widget_text(view.get("model_id", ""), state)
            del output.data[WIDGET_VIEW]
            if text is not None:
                output.data = {"text/plain": text}


def drawn(png: bytes) -> bool:
    """True for a picture of at most 256 colours (a fractal, a chart): JPEG would blur it."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return image.getcolors(256) is not None


def one_picture(output: NotebookNode) -> None:
    """Keep one of an output's picture encodings: the lossless PNG for a drawn picture, the
    smallest for a photograph (the goat stays a JPEG)."""
    data = output.get("data", {})
    pictures = [mime for mime in IMAGE_TYPES if mime in data]
    if len(pictures) < 2:
        return
    if "image/png" in pictures and drawn(base64.b64decode(data["image/png"])):
        keep = "image/png"
    else:
        keep = min(pictures, key=lambda mime: len(base64.b64decode(data[mime])))
    for mime in pictures:
        if mime != keep:
            del data[mime]
            output.get("metadata", {}).pop(mime, None)


def private_ports(env: dict[str, str]) -> dict[int, int]:
    """Private stack port -> documented port, from the stack's environment."""
    return {urlsplit(env[key]).port: port for key, port in DOCUMENTED_PORTS.items()
            if key in env and urlsplit(env[key]).port}


def _map_strings(value: Any, change) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_map_strings(v, change) for v in value]
    if isinstance(value, dict):
        return type(value)((k, _map_strings(v, change)) for k, v in value.items())
    return value


def show_documented_ports(nb: NotebookNode, ports: dict[int, int]) -> None:
    """Write the documented ports where the outputs show the private stack's."""
    if not ports:
        return
    numbers = "|".join(map(str, ports))
    pattern = re.compile(rf"\b(127\.0\.0\.1|localhost):({numbers})\b")

    def change(text: str) -> str:
        return pattern.sub(lambda m: f"{m[1]}:{ports[int(m[2])]}", text)

    for cell in nb.cells:
        if "outputs" in cell:
            cell.outputs = [NotebookNode(_map_strings(o, change)) for o in cell.outputs]


def tidy(nb: NotebookNode, ports: dict[int, int]) -> None:
    """Everything above, in place, on an executed notebook."""
    widgets_as_text(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
            for output in cell.outputs:
                one_picture(output)
    show_documented_ports(nb, ports)


def sanitizer_patterns(path: Path = SANITIZER) -> list[tuple[str, str]]:
    """(regex, replacement) pairs, read as nbval reads ``--nbval-sanitize-with``."""
    return re.findall(r"^regex: (.*)$\n^replace: (.*)$", path.read_text(), flags=re.MULTILINE)


def sanitized(outputs: list, patterns: list[tuple[str, str]]) -> str:
    """Outputs as JSON with their text (streams, ``text/*`` data) passed through the
    sanitizer's patterns; pictures and everything else as they are."""
    def change(text: str) -> str:
        for regex, replacement in patterns:
            text = re.sub(regex, replacement, text)
        return text

    view = []
    for output in outputs:
        output = dict(output)
        if isinstance(output.get("text"), str):
            output["text"] = change(output["text"])
        if "data" in output:
            output["data"] = {mime: change(value) if mime.startswith("text/") else value
                              for mime, value in output["data"].items()}
        view.append(output)
    return json.dumps(view, sort_keys=True)


def settle(nb: NotebookNode, previous: NotebookNode, path: Path = SANITIZER) -> int:
    """Keep ``previous``'s outputs in each cell (same id and source) whose new outputs
    differ only in what the sanitizer replaces; return how many cells changed."""
    patterns = sanitizer_patterns(path)
    before = {c.get("id"): c for c in previous.cells if c.cell_type == "code"}
    changed = 0
    for cell in nb.cells:
        old = before.get(cell.get("id"))
        if cell.cell_type != "code":
            continue
        if (old is not None and old.source == cell.source
                and sanitized(old.outputs, patterns) == sanitized(cell.outputs, patterns)):
            cell.outputs = old.outputs
            cell.execution_count = old.execution_count
        else:
            changed += 1
    return changed
