"""Sphinx extension: the ``sample-step`` directive of the narrative.

Renders a step as a sphinx-design tab-set synced across the page (one tab per SDK),
each tab a ``literalinclude`` of that SDK's sample cut by the step markers, followed by
the SDK's notes.
"""

from __future__ import annotations

import os
from pathlib import Path

from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from firstapp import steps
from firstapp.notebooks.narrative import SDK_TITLES, SDKS, parse_notes, sample_path


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
                "```"]


def setup(app: Sphinx) -> dict:
    app.add_directive("sample-step", SampleStep)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
