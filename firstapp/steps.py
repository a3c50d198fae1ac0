"""Step-numbered samples: parse ``# step-N`` markers and run steps in one namespace.

A sample is a plain script. Its code is cut into steps by marker lines::

    # step-1            settings (the notebooks' papermill ``parameters`` cell)
    # step-1-connect    the connection, made from those settings
    # step-2 ... # step-14
    # step-15           closing marker: nothing after it belongs to a step

Anything before ``# step-1`` (a module docstring) is not part of any step. Sphinx
``literalinclude``s a step with ``:start-after: step-N`` / ``:end-before: step-M``; the
notebook builder turns each step into one code cell; tests run the steps in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = re.compile(r"^# step-(?P<name>\d+(?:-connect)?)\s*$")
CLOSING = "15"


@dataclass(frozen=True)
class Step:
    """One step of a sample: its name ("1", "1-connect", "2", ...) and code."""

    name: str
    code: str
    first_line: int  # line number of the step's first code line in the sample

    @property
    def number(self) -> int:
        return int(self.name.split("-", 1)[0])


def load(path: str | Path) -> list[Step]:
    """The steps of the sample at ``path``, in file order (the closing marker excluded)."""
    lines = Path(path).read_text().splitlines()
    steps: list[Step] = []
    name: str | None = None
    start = 0
    for index, line in enumerate(lines + ["# step-end"]):
        match = MARKER.match(line)
        if not match and line != "# step-end":
            continue
        if name is not None:
            body = lines[start:index]
            lead = next((i for i, text in enumerate(body) if text.strip()), len(body))
            steps.append(Step(name, _trim(body), start + lead + 1))
        name = match["name"] if match else None
        start = index + 1
        if name == CLOSING:
            break
    else:
        raise ValueError(f"{path}: no closing '# step-{CLOSING}' marker")
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate step markers in {names}")
    return steps


def run(path: str | Path, namespace: dict[str, Any] | None = None) -> Iterator[Step]:
    """Execute the sample's steps in order in one namespace, yielding after each step.

    The namespace gets ``__file__`` and ``__name__ = "__main__"`` as when the sample
    runs as a script; tracebacks point at the sample's own line numbers.
    """
    path = Path(path).resolve()
    ns = namespace if namespace is not None else {}
    ns.setdefault("__file__", str(path))
    ns.setdefault("__name__", "__main__")
    for step in load(path):
        padded = "\n" * (step.first_line - 1) + step.code
        exec(compile(padded, str(path), "exec"), ns)  # noqa: S102 - running the sample is the point
        yield step


def _trim(lines: list[str]) -> str:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return "\n".join(lines)
