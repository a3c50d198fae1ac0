"""``firstapp lab``: the tutorial's stack, then JupyterLab on working copies of the notebooks.

JupyterLab opens ``build/lab/``, never ``notebooks/``: a learner's runs and autosaves stay
out of the project's sources. A copy is made when it is missing. When the committed
notebook changes later, a copy the learner never touched is replaced by the new version;
an edited copy is kept as it is, and every start says that a newer version exists and
how to get it (delete or rename the copy).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from firstapp import stack
from firstapp.cloud import backends
from firstapp.net import LOOPBACK

#: Beside the copies: the SHA-256 of the committed notebook each copy was made from.
SOURCES = ".copied-from.json"


@dataclass(frozen=True)
class Copy:
    """What :func:`working_copies` did with one notebook: ``copied``, ``updated``,
    ``kept`` (edited by the learner, while a newer version exists) or ``current``."""

    path: Path
    source: Path
    action: str


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def working_copies(root: Path, target: Path) -> list[Copy]:
    """Bring ``target`` up to date with the notebooks in ``root/notebooks/``.

    Never overwrites a copy whose bytes differ from the committed notebook it was made
    from: the learner's edits and outputs are theirs.
    """
    target.mkdir(parents=True, exist_ok=True)
    record = target / SOURCES
    try:
        made_from: dict[str, str] = json.loads(record.read_text())
    except (OSError, ValueError):
        made_from = {}
    done = []
    for source in sorted((root / "notebooks").glob("*.ipynb")):
        copy = target / source.name
        now = _sha256(source)
        if not copy.exists():
            action = "copied"
        else:
            mine = _sha256(copy)
            if now in (mine, made_from.get(source.name)):
                action = "current"  # the same bytes, or the committed one did not change
            elif mine == made_from.get(source.name):
                action = "updated"  # untouched since copied: nothing of the learner's is lost
            else:
                action = "kept"
        if action in ("copied", "updated"):
            shutil.copyfile(source, copy)
        if action != "kept":
            made_from[source.name] = now
        done.append(Copy(copy, source, action))
    record.write_text(json.dumps(made_from, indent=1, sort_keys=True) + "\n")
    return done


def run(args: argparse.Namespace) -> int:
    """Start the stack (left running), copy the notebooks, then become JupyterLab."""
    from firstapp.paths import project_root

    root = project_root()
    cloud_option, app_option = stack.port_options("lab" if args.via_make else None)
    cloud, cloud_state = stack.start_cloud(args.data_dir, args.port, cloud_option)
    app = stack.start_app(args.fractals_port, app_option)
    lab_dir = (args.build_dir or root / "build") / "lab"
    copies = working_copies(root, lab_dir)

    label = "{:<14} {}".format
    store = backends.store_name(cloud.layout.root)
    print(label("Local cloud:", f"{cloud.auth_url} ({store}, {cloud_state}; "
                                f"data in {cloud.layout.root})"))
    app_state = "started" if app.started else "already running"
    print(label("Fractals app:", f"{app.endpoint} ({app_state}, {app.fractals} fractals)"))
    print(label("Notebooks:", f"{lab_dir}/ (working copies of {root / 'notebooks'}/)"))
    for c in copies:
        if c.action == "kept":
            print(f"  {c.path.name}: a newer version is in {c.source}; your copy, with your "
                  f"edits, is kept. To start over from the new one, delete or rename {c.path} "
                  "and run this again.")
        elif c.action != "current":
            print(f"  {c.path.name}: {c.action} from {c.source}")
    print(label("JupyterLab:", f"the http://{LOOPBACK}:... address it prints below (with its "
                               "login token)"))
    print("The cloud and the Fractals app keep running after JupyterLab exits; stop them "
          "with `firstapp cloud stop` and `firstapp fractals stop`.", flush=True)

    # the kernels inherit the stack's settings, and where the checkout is (for samples/):
    # step 4 finds goat.jpg through TUTORIAL_DIR (unless set already) wherever the copies are
    env = {"TUTORIAL_DIR": str(root / "samples"), **os.environ, **cloud.env(),
           "FRACTALS_ENDPOINT": app.endpoint, "FIRSTAPP_ROOT": str(root)}
    jupyter = Path(sys.executable).with_name("jupyter")
    extra = args.jupyter_args[1:] if args.jupyter_args[:1] == ["--"] else args.jupyter_args
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Jupyter refuses to start as root unless told; as root is how containers run
        print("Running as root: JupyterLab is started with --allow-root.")
        extra = ["--allow-root", *extra]
    sys.stdout.flush()
    # JupyterLab runs code as you: like the other servers, it listens on loopback only
    os.execve(jupyter, [str(jupyter), "lab", f"--ServerApp.ip={LOOPBACK}", str(lab_dir),
                        *extra], env)
    return 0  # not reached
