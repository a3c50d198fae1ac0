"""Sphinx extension: the ``sample-step`` directive of the narrative.

Renders a step as a sphinx-design tab-set synced across the page (one tab per SDK),
each tab a ``literalinclude`` of that SDK's sample cut by the step markers, then what the
step printed and showed in the committed notebooks (see :mod:`firstapp.notebooks.outputs`),
then the SDK's notes. Output blocks wrap long lines and are never cut short
(``static/firstapp-outputs.css``).
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from firstapp import steps
from firstapp.notebooks.narrative import SDK_TITLES, SDKS, parse_notes, sample_path
from firstapp.notebooks.outputs import StepOutput, step_outputs

OUTPUTS = Path("docs/_generated/outputs")  # the pictures, copied out of the notebooks
STATIC = Path(__file__).with_name("static")
CSS = "firstapp-outputs.css"


@cache
def _outputs(notebooks: Path, stamp: tuple) -> dict[tuple[str, str], StepOutput]:
    return step_outputs(notebooks)


def committed_outputs(root: Path) -> dict[tuple[str, str], StepOutput]:
    """The step outputs of ``root``'s notebooks, read again whenever a notebook changed."""
    notebooks = root / "notebooks"
    stamp = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(notebooks.glob("*.ipynb")))
    return _outputs(notebooks, stamp)


def step_bounds(sample: Path, name: str) -> tuple[str, str]:
    """The marker lines that open and close step ``name`` in ``sample``."""
    names = [s.name for s in steps.load(sample)] + [steps.CLOSING]
    if name not in names[:-1]:
        raise ValueError(f"{sample} has no step {name!r} (steps: {', '.join(names[:-1])})")
    return f"# step-{name}", f"# step-{names[names.index(name) + 1]}"


class SampleStep(SphinxDirective):
    required_arguments = 1
    has_content = True
    option_spec = {"sample": directives.unchanged_required}

    def run(self):
        name = self.arguments[0]
        root = Path(self.env.srcdir)
        try:
            notes = parse_notes(list(self.content))
        except ValueError as exc:
            raise self.error(str(exc)) from None
        if "sample" in self.options:
            text = self.include(root / self.options["sample"], name)
        else:
            text = ["::::{tab-set}", ":sync-group: sdk", ""]
            for sdk in SDKS:
                text += [f":::{{tab-item}} {SDK_TITLES[sdk]}", f":sync: {sdk}", "",
                         *self.include(sample_path(root, sdk), name),
                         "", notes.get(sdk, ""), ":::", ""]
            text.append("::::")
        return self.parse_text_to_nodes("\n".join(text))

    def include(self, sample: Path, name: str) -> list[str]:
        """MyST lines that ``literalinclude`` step ``name`` of ``sample`` by its markers."""
        self.env.note_dependency(str(sample))
        try:
            start, end = step_bounds(sample, name)
        except (OSError, ValueError) as exc:
            raise self.error(str(exc)) from None
        docdir = Path(self.env.doc2path(self.env.docname)).parent
        return [f"```{{literalinclude}} {os.path.relpath(sample, docdir)}",
                ":language: python", f':start-after: "{start}"', f':end-before: "{end}"',
                "```", *self.output(sample, name, docdir)]

    def output(self, sample: Path, name: str, docdir: Path) -> list[str]:
        """MyST lines showing what step ``name`` of ``sample`` printed and showed."""
        root = Path(self.env.srcdir)
        key = (sample.relative_to(root).as_posix(), name)
        found = committed_outputs(root).get(key)
        if found is None:
            raise self.error(f"no notebook in notebooks/ has step {name} of {key[0]}: "
                             "run `make notebooks`")
        self.env.note_dependency(str(found.notebook))
        lines = []
        if found.text:
            fence = "`" * max(3, 1 + max(map(len, re.findall("`+", found.text)), default=0))
            lines += [f"{fence}{{code-block}} text", ":caption: Output",
                      ":class: firstapp-output", "",
                      found.text, fence]
        for index, picture in enumerate(found.pictures):
            target = root / OUTPUTS / f"{found.notebook.stem}-{name}-{index}.{picture.extension}"
            if not target.is_file() or target.read_bytes() != picture.data:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(picture.data)
            lines += [f"```{{image}} {os.path.relpath(target, docdir)}",
                      f":alt: what step {name} of {key[0]} showed", "```"]
        return lines


def _add_static(app: Sphinx) -> None:
    app.config.html_static_path.append(str(STATIC))


def setup(app: Sphinx) -> dict:
    app.add_directive("sample-step", SampleStep)
    app.connect("builder-inited", _add_static)
    app.add_css_file(CSS)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
