"""The tutorial's narrative: MyST Markdown prose with ``sample-step`` blocks.

One file (``docs/durability.md``) is both the Sphinx chapter and the source of every
notebook. Prose is shared by all SDKs; a step block names a sample step and may carry
notes for particular SDKs::

    ::::{sample-step} 6
    :::{sdk} libcloud
    libcloud-only remark, shown in the libcloud tab and notebook.
    :::
    ::::

Sphinx renders a step block as a tab per SDK (``firstapp.notebooks.sphinx``); the
notebook builder turns it into the SDK's code cell, then the SDK's notes. A step block
with a ``:sample: samples/<path>.py`` option shows that one sample instead (no tabs):
narratives that are not about the three SDKs use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SDKS = ("libcloud", "shade", "openstacksdk")
SDK_TITLES = {"libcloud": "Apache Libcloud", "shade": "shade", "openstacksdk": "OpenStack SDK"}

_OPEN_STEP = re.compile(r"^(?P<fence>:{3,}|`{3,})\{sample-step\}\s+(?P<name>\S+)\s*$")
_OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*?)\s*$")
_OPEN_SDK = re.compile(r"^(?P<fence>:{3,})\{sdk\}\s+(?P<sdks>.+?)\s*$")


@dataclass(frozen=True)
class Prose:
    text: str


@dataclass(frozen=True)
class SampleStep:
    name: str
    notes: dict[str, str] = field(default_factory=dict)  # sdk -> Markdown
    sample: str | None = None  # a sample path relative to the repository root


Block = Prose | SampleStep


def sample_path(root: Path, sdk: str) -> Path:
    """The durability sample of ``sdk`` below the repository ``root``."""
    return root / "samples" / sdk / "durability.py"


def parse(text: str) -> list[Block]:
    """Split the narrative into prose and step blocks, in order."""
    blocks: list[Block] = []
    prose: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _OPEN_STEP.match(lines[i])
        if not match:
            prose.append(lines[i])
            i += 1
            continue
        end = _closing(lines, i, match["fence"])
        if "\n".join(prose).strip():
            blocks.append(Prose("\n".join(prose).strip("\n")))
        prose = []
        options, body = split_options(lines[i + 1:end])
        unknown = set(options) - {"sample"}
        if unknown:
            raise ValueError(f"line {i + 1}: unknown sample-step options {sorted(unknown)}")
        blocks.append(SampleStep(match["name"], parse_notes(body), options.get("sample")))
        i = end + 1
    if "\n".join(prose).strip():
        blocks.append(Prose("\n".join(prose).strip("\n")))
    return blocks


def split_options(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    """Leading ``:name: value`` lines of a directive body, and the rest."""
    options: dict[str, str] = {}
    rest = list(lines)
    while rest and (match := _OPTION.match(rest[0])):
        options[match["key"]] = match["value"]
        rest.pop(0)
    return options, rest


def parse_notes(lines: list[str]) -> dict[str, str]:
    """``{sdk}`` sub-blocks of a step block: SDK name -> Markdown."""
    notes: dict[str, str] = {}
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        match = _OPEN_SDK.match(lines[i])
        if not match:
            raise ValueError(f"only {{sdk}} blocks may stand in a step block, got {lines[i]!r}")
        end = _closing(lines, i, match["fence"])
        body = "\n".join(lines[i + 1:end]).strip("\n")
        for sdk in match["sdks"].split():
            if sdk not in SDKS:
                raise ValueError(f"unknown SDK {sdk!r} in {{sdk}} block; known: {SDKS}")
            notes[sdk] = f"{notes[sdk]}\n\n{body}" if sdk in notes else body
        i = end + 1
    return notes


def _closing(lines: list[str], start: int, fence: str) -> int:
    for j in range(start + 1, len(lines)):
        if lines[j].strip() == fence:
            return j
    raise ValueError(f"line {start + 1}: {lines[start]!r} is never closed by {fence!r}")
