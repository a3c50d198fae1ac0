"""Generate the notebooks from the narrative and the samples (``make notebooks``).

Each notebook is the narrative (``docs/durability.md``) with every ``sample-step`` block
replaced by that SDK's step as one code cell (its first line the sample's ``# step-N``
marker; metadata: sample and step; step 1 tagged ``parameters`` for papermill), followed
by the SDK's notes. ``make notebooks`` then runs them against a private local stack, and
keeps of each run what :mod:`firstapp.notebooks.tidy` says, so the committed notebooks
show real outputs and a second ``make notebooks`` writes the same bytes.

    python -m firstapp.notebooks.build                 # generate and execute
    python -m firstapp.notebooks.build --output-dir D  # write into D, not notebooks/
    python -m firstapp.notebooks.build --check         # fail if notebooks/ drifted
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from firstapp import steps
from firstapp.errors import FirstappError
from firstapp.notebooks.narrative import (
    SDK_TITLES,
    SDKS,
    Prose,
    SampleStep,
    parse,
    sample_path,
)
from firstapp.paths import project_root

NARRATIVE = Path("docs/durability.md")
CELL_TIMEOUT = 900

_LABEL = re.compile(r"^\((?P<label>[\w-]+)\)=\s*$")
_HEADING = re.compile(r"^(?P<level>#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\(#(?P<target>[\w-]+)\)")
_ROLE = re.compile(r"\{(?:doc|ref)\}`([^`<]+?)\s*(?:<[^`>]+>)?`")
_ADMONITION = re.compile(
    r"^(?P<fence>:{3,}|`{3,})\{(?P<kind>note|tip|warning|important)\}\s*(?P<title>.*)$"
)
_DIRECTIVE = re.compile(r"^(:{3,}|`{3,})\{(?P<name>[\w-]+)\}")


@dataclass(frozen=True)
class Track:
    """One generated notebook: a narrative shown with one SDK's samples (or with the
    samples its step blocks name, when ``sdk`` is None)."""

    name: str
    narrative: Path
    sdk: str | None
    intro: str
    #: the local store it must run on (it looks inside it); None: ``FIRSTAPP_BACKEND``'s
    backend: str | None = None


TRACKS = tuple(
    Track(f"durability-{sdk}", NARRATIVE, sdk, f"The {SDK_TITLES[sdk]} track of the guide.")
    for sdk in SDKS
) + (
    Track("durability-under-the-hood", Path("docs/under-the-hood.md"), None,
          "How the local cloud keeps three copies.", backend="swift"),
    Track("durability-under-the-hood-ceph", Path("docs/under-the-hood-ceph.md"), None,
          "How a local Ceph keeps three copies.", backend="ceph"),
    Track("app-on-swift", Path("docs/app-on-swift-steps.md"), None,
          "The Fractals app keeping its images in Swift."),
)


def track(name: str) -> Track:
    """The track called ``name`` (e.g. ``durability-openstacksdk``)."""
    return next(t for t in TRACKS if t.name == name)


def notebook_path(root: Path, name: str) -> Path:
    return root / "notebooks" / f"{name}.ipynb"


@dataclass(frozen=True)
class Target:
    """Where a MyST ``(label)=`` or heading anchor points: a page and a heading."""

    doc: str  # the page's path from the repository root
    title: str  # the heading's text (Markdown)


def targets(root: Path) -> dict[str, Target]:
    """Every label and heading anchor (levels 1-3, as ``myst_heading_anchors``) in docs/."""
    found: dict[str, Target] = {}
    for path in sorted((root / "docs").glob("*.md")):
        doc = path.relative_to(root).as_posix()
        lines = path.read_text().splitlines()
        for index, line in enumerate(lines):
            heading = _HEADING.match(line)
            if heading and len(heading["level"]) <= 3:
                found.setdefault(_slug(heading["title"]), Target(doc, heading["title"]))
            label = _LABEL.match(line)
            if label:
                after = next((x for x in lines[index + 1:] if x.strip()), "")
                heading = _HEADING.match(after)
                if heading:
                    found[label["label"]] = Target(doc, heading["title"])
    return found


def _text_of(markdown: str) -> str:
    """Inline Markdown as the text a reader sees (links, code and emphasis unwrapped)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    return re.sub(r"[`*]|(?<!\w)_|_(?!\w)", "", text)


def _slug(title: str) -> str:
    """MyST's anchor for a heading (GitHub's rule)."""
    return re.sub(r"[^\w\- ]", "", _text_of(title).strip().lower()).replace(" ", "-")


def resolve_links(text: str, links: dict[str, Target], narrative: str) -> str:
    """MyST ``[text](#label)`` links as links a notebook can follow: to the heading's anchor
    in this notebook (as JupyterLab names it) or to the page that holds it; an empty link
    text becomes the heading's text. A link to nothing known is an error."""
    def link(match: re.Match) -> str:
        target = links.get(match["target"])
        if target is None:
            raise ValueError(f"{narrative}: {match[0]} links to no label or heading in docs/; "
                             f"add ({match['target']})= above a heading, or fix the link")
        title = _text_of(target.title)
        shown = match["text"] or title
        if target.doc == narrative:
            return f"[{shown}](#{title.replace(' ', '-')})"
        return f"[{shown}](../{target.doc})"

    return _LINK.sub(link, text)


def to_markdown(text: str, links: dict[str, Target] | None = None,
                narrative: str = "") -> str:
    """MyST prose to plain Jupyter Markdown: labels dropped, roles and admonitions unwrapped,
    links to labels resolved (see :func:`resolve_links`)."""
    if links is not None:
        text = resolve_links(text, links, narrative)
    elif _LINK.search(text):
        raise ValueError(f"{narrative or 'the narrative'}: links to labels need the targets")
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        admonition = _ADMONITION.match(line)
        if admonition:
            fence = admonition["fence"]
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == fence)
            title = admonition["title"] or admonition["kind"].capitalize()
            body = [f"> **{title}**", ">"] + [f"> {b}".rstrip() for b in lines[i + 1:end]]
            out += [_ROLE.sub(r"\1", b) for b in body]
            i = end + 1
            continue
        directive = _DIRECTIVE.match(line)
        if directive and directive["name"] not in ("code-block", "code"):
            raise ValueError(f"the notebooks cannot show the {{{directive['name']}}} directive: "
                             f"{line!r}")
        if not _LABEL.match(line):
            out.append(_ROLE.sub(r"\1", line))
        i += 1
    return "\n".join(out).strip("\n")


def render(root: Path, track: Track) -> NotebookNode:
    """The (unexecuted) notebook of ``track``."""
    blocks = parse((root / track.narrative).read_text())
    steps_of: dict[str, dict[str, str]] = {}  # sample (relative path) -> step -> code
    used: list[tuple[str, str]] = []
    for block in blocks:
        if isinstance(block, SampleStep):
            if block.sample is None and track.sdk is None:
                raise ValueError(f"{track.narrative}: step {block.name} names no :sample:")
            sample = block.sample or sample_path(root, track.sdk).relative_to(root).as_posix()
            if sample not in steps_of:
                steps_of[sample] = {s.name: s.code for s in steps.load(root / sample)}
            used.append((sample, block.name))
    for sample, code in steps_of.items():
        names = [name for s, name in used if s == sample]
        missing = [name for name in code if name not in names]
        unknown = [name for name in names if name not in code]
        twice = sorted({name for name in names if names.count(name) > 1})
        if missing or unknown or twice:
            raise ValueError(f"{track.narrative} and {sample} disagree: steps not in the "
                             f"narrative {missing}, unknown steps {unknown}, steps shown "
                             f"twice {twice}")

    links = targets(root)
    narrative = track.narrative.as_posix()
    samples = ", ".join(f"`{s}`" for s in steps_of)
    cells = [new_markdown_cell(
        f"*{track.intro}* Run the cells in order, from the top. Each code cell is one step "
        f"of {samples}, and its first line names the step (`# step-4` is step 4).")]
    steps_used = iter(used)
    for block in blocks:
        if isinstance(block, Prose):
            cells.append(new_markdown_cell(to_markdown(block.text, links, narrative)))
            continue
        sample, name = next(steps_used)
        meta = {"firstapp": {"sample": sample, "step": name}}
        if name == "1":
            meta["tags"] = ["parameters"]
        cells.append(new_code_cell(cell_source(name, steps_of[sample][name]), metadata=meta))
        if track.sdk in block.notes:
            cells.append(new_markdown_cell(to_markdown(block.notes[track.sdk], links,
                                                       narrative)))
    for index, cell in enumerate(cells):
        cell["id"] = f"{track.name}-{index:03d}"  # stable ids: regenerating changes nothing
    return new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        # for contributors: where this notebook comes from
        "firstapp": {"generated_by": "make notebooks", "sources": [narrative, *steps_of],
                     "note": "Generated from the sources above: edit those, not this "
                             "notebook (make notebooks overwrites it)."},
    })


def cell_source(name: str, code: str) -> str:
    """A step's code cell: the sample's marker line (``# step-4``), then the step's code."""
    return f"# step-{name}\n{code}"


def source_view(nb: NotebookNode) -> list[tuple]:
    """What the generator decides: cell kinds, sources and step metadata (not outputs)."""
    return [(c["cell_type"], c["source"], c["metadata"].get("firstapp"),
             c["metadata"].get("tags")) for c in nb.cells]


def drift(root: Path | None = None) -> list[str]:
    """Notebooks whose cells differ from what the narrative and samples generate (in the
    checkout ``root``, by default :func:`~firstapp.paths.project_root`)."""
    root = root or project_root()
    stale = []
    for t in TRACKS:
        path = notebook_path(root, t.name)
        if not path.exists() or source_view(nbformat.read(path, as_version=4)) != source_view(
                render(root, t)):
            stale.append(path.relative_to(root).as_posix())
    return stale


def execute(nb: NotebookNode, cwd: Path, timeout: int = CELL_TIMEOUT) -> NotebookNode:
    """Run every cell in a fresh kernel whose working directory is ``cwd``."""
    from nbclient import NotebookClient

    from firstapp.notebooks.kernel import IPCKernelManager

    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   kernel_manager_class=IPCKernelManager,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def leaked_secrets(nb: NotebookNode, secrets: list[str]) -> list[int]:
    """Indices of cells whose source or outputs contain any of ``secrets``."""
    found = []
    for index, cell in enumerate(nb.cells):
        text = cell["source"] + "".join(str(o) for o in cell.get("outputs", []))
        if any(secret and secret in text for secret in secrets):
            found.append(index)
    return found


def build(root: Path | None = None, run: bool = True,
          output_dir: Path | None = None) -> list[Path]:
    """Write every track's notebook into ``output_dir`` (default: ``root``'s notebooks/);
    with ``run``, execute them first against a private local stack, tidy their outputs and
    keep the outputs already in ``output_dir`` of every cell whose new ones differ only
    incidentally. Files whose bytes would not change are left alone; return the paths
    written."""
    from firstapp.notebooks.tidy import private_ports, settle, tidy
    from firstapp.stack import environment, local_stacks

    root = root or project_root()
    output_dir = output_dir or root / "notebooks"
    notebooks = {t.name: render(root, t) for t in TRACKS}
    if run:
        with tempfile.TemporaryDirectory(prefix="firstapp-notebooks-") as tmp, \
                local_stacks(Path(tmp)) as stacks:
            for name, nb in notebooks.items():
                print(f"executing {name} ...", flush=True)
                env = stacks.env(track(name).backend)
                with environment(env):
                    execute(nb, root / "notebooks")
                leaks = leaked_secrets(nb, [env["OS_PASSWORD"]])
                if leaks:
                    raise RuntimeError(f"{name}: cells {leaks} show a secret; not written")
                tidy(nb, private_ports(env))
                previous = output_dir / f"{name}.ipynb"
                if previous.exists():
                    settle(nb, nbformat.read(previous, as_version=4))
    written = []
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, nb in notebooks.items():
        path = output_dir / f"{name}.ipynb"
        text = nbformat.writes(nb) + "\n"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report drift (exit 1)")
    parser.add_argument("--no-execute", action="store_true", help="write without running")
    parser.add_argument("--output-dir", type=Path, metavar="DIR",
                        help="write the notebooks into DIR instead of notebooks/")
    args = parser.parse_args(argv)
    try:
        root = project_root()
    except FirstappError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.check:
        stale = drift(root)
        for path in stale:
            print(f"{path} is out of date: run `make notebooks`", file=sys.stderr)
        return 1 if stale else 0
    try:
        written = build(root, run=not args.no_execute, output_dir=args.output_dir)
    except FirstappError as exc:  # a stack that could not start, a wrong setting
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    if not written:
        print("the notebooks were up to date: nothing written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
