"""``firstapp tutorial`` and ``firstapp lab``: the tutorial end to end, or interactively.

``tutorial`` starts the local cloud and the Fractals app (with a few fractals), runs every
notebook with papermill into ``build/notebooks/``, builds the HTML guide into
``build/html/``, stops what it started and prints a summary table; exit status 1 when any
stage failed. ``lab`` starts the same services and opens JupyterLab with their settings.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from firstapp.cloud import control
from firstapp.cloud.client import connection
from firstapp.cloud.placement import account_of, replicas
from firstapp.errors import FirstappError
from firstapp.net import LOOPBACK, port_number

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
FRACTALS_PORT = 8081
TUTORIAL_FRACTALS = 12  # more than one page of the app's API
TUTORIAL_SEED = 2015
TUTORIAL_SIZE = 192


@dataclass
class Result:
    stage: str
    ok: bool
    seconds: float
    detail: str
    steps: int | None = None


def add_parser(sub: argparse._SubParsersAction) -> None:
    for name, func, summary in (
        ("tutorial", run, "run the whole tutorial end to end and report"),
        ("lab", lab, "start the local cloud and Fractals app, then JupyterLab"),
    ):
        parser = sub.add_parser(name, help=summary, description=summary)
        parser.add_argument("--data-dir", metavar="DIR",
                            help="the local cloud's data directory (default: the per-user one)")
        parser.add_argument("--port", type=port_number,
                            help="the local cloud's port (default: 8080, or what it was)")
        parser.add_argument("--fractals-port", type=port_number, default=FRACTALS_PORT,
                            help=f"the Fractals app's port (default {FRACTALS_PORT})")
        parser.set_defaults(func=func)
    sub.choices["lab"].add_argument(
        "jupyter_args", nargs=argparse.REMAINDER, metavar="-- JUPYTER-OPTION",
        help="options for `jupyter lab` after a `--`, e.g. -- --no-browser --port 8890")
    sub.choices["tutorial"].add_argument(
        "--build-dir", type=Path, default=BUILD,
        help="where executed notebooks and the HTML guide go (default: build/)")


def smoke_round_trip(cloud: control.CloudInfo) -> str:
    """Upload 1 MiB, read it back, compare checksums, count the copies on disk."""
    conn = connection(cloud.auth_url, cloud.username, cloud.password)
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    data = os.urandom(1 << 20)
    conn.put_container(name)
    try:
        etag = conn.put_object(name, "payload", data)
        _, body = conn.get_object(name, "payload")
        if hashlib.md5(body).hexdigest() != etag or body != data:
            raise RuntimeError("downloaded bytes differ from the uploaded ones")
        copies = [r for r in replicas(cloud.layout, account_of(cloud.storage_url), name,
                                      "payload") if r.present]
        return f"1 MiB round trip, md5 {etag[:12]}..., {len(copies)} copies on disk"
    finally:
        conn.delete_object(name, "payload")
        conn.delete_container(name)


def start_fractals_app(cleanup: ExitStack, port: int = FRACTALS_PORT) -> str:
    """The Fractals app on ``port`` with its default database and at least a few fractals.

    Reuses an app that already answers there; stops only one it started itself.
    """
    from firstapp.fractals import client
    from firstapp.fractals.db import resolve_db_url
    from firstapp.fractals.process import is_fractals_app, start_background, stop_background

    endpoint = f"http://{LOOPBACK}:{port}"
    started = not is_fractals_app(endpoint)
    if started:
        db_url = resolve_db_url(None)
        start_background(db_url, LOOPBACK, port, workers=2)
        cleanup.callback(stop_background, db_url)
    have = client.list_page(endpoint, 1)["num_results"]
    if have < TUTORIAL_FRACTALS:
        client.create_fractals(endpoint, TUTORIAL_FRACTALS - have, seed=TUTORIAL_SEED,
                               width=TUTORIAL_SIZE, height=TUTORIAL_SIZE, progress=False)
    return f"{endpoint} ({'started' if started else 'already running'}, " \
           f"{max(have, TUTORIAL_FRACTALS)} fractals)"


def run_notebook(name: str, env: dict[str, str], build: Path) -> tuple[str, int]:
    """Execute one notebook with papermill into ``build/notebooks/``."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from firstapp.notebooks.build import notebook_path
    from firstapp.notebooks.kernel import IPCKernelManager
    from firstapp.stack import environment

    source = notebook_path(ROOT, name)
    target = build / "notebooks" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    container = f"tutorial-{uuid.uuid4().hex[:8]}"
    with environment(env):
        try:
            nb = papermill.execute_notebook(
                str(source), str(target), parameters={"container_name": container},
                cwd=str(source.parent), progress_bar=False, kernel_name="python3",
                kernel_manager_class=IPCKernelManager,
            )
        except PapermillExecutionError as exc:
            raise FirstappError(
                f"{source.name}: cell {exc.cell_index} failed: {exc.ename}: {exc.evalue}"
            ) from None
    executed = sum(1 for c in nb.cells if "firstapp" in c.metadata)  # sample steps only
    return f"{target} (container {container})", executed


def build_docs(build: Path) -> str:
    target = build / "html"
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-n", "--keep-going", "-q", "-b", "html",
         str(ROOT), str(target)], capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise FirstappError("sphinx-build failed:\n" + done.stderr[-3000:])
    return str(target / "docs" / "index.html")


def run(args: argparse.Namespace) -> int:
    from firstapp.notebooks.build import TRACKS

    results: list[Result] = []

    def stage(name: str, func: Callable[[], str | tuple[str, int]]) -> bool:
        began = time.perf_counter()
        steps = None
        try:
            detail = func()
            if isinstance(detail, tuple):
                detail, steps = detail
            ok = True
        except Exception as exc:  # a stage failure is reported, the rest still runs
            detail, ok = f"{type(exc).__name__}: {exc}", False
            if not isinstance(exc, FirstappError):
                traceback.print_exc()
        results.append(Result(name, ok, time.perf_counter() - began, detail, steps))
        print(f"[{'ok' if ok else 'FAILED'}] {name}: {detail}", flush=True)
        return ok

    with ExitStack() as cleanup:
        clouds: list[control.CloudInfo] = []
        env: dict[str, str] = {}

        def start_cloud() -> str:
            cloud, started = control.start(args.data_dir, port=args.port)
            clouds.append(cloud)
            env.update(cloud.env())
            if started:
                cleanup.callback(control.stop, args.data_dir)
            return f"{cloud.auth_url} ({'started' if started else 'already running'})"

        def start_app() -> str:
            detail = start_fractals_app(cleanup, args.fractals_port)
            env["FRACTALS_ENDPOINT"] = f"http://{LOOPBACK}:{args.fractals_port}"
            return detail

        if stage("start the local cloud", start_cloud):
            stage("smoke round trip", lambda: smoke_round_trip(clouds[0]))
            if stage("start the Fractals app", start_app):
                for t in TRACKS:
                    stage(f"notebook {t.name}",
                          lambda name=t.name: run_notebook(name, env, args.build_dir))
        stage("build the HTML guide", lambda: build_docs(args.build_dir))

    print_summary(results)
    print(f"\nExecuted notebooks: {args.build_dir / 'notebooks'}/   "
          f"Guide: {args.build_dir / 'html' / 'docs' / 'index.html'}")
    print("To explore on your own: `make lab` starts the cloud, the Fractals app and "
          "JupyterLab.")
    return 0 if all(r.ok for r in results) else 1


def print_summary(results: list[Result]) -> None:
    width = max(len(r.stage) for r in results)
    print(f"\n{'stage':<{width}}  steps  result  time")
    for r in results:
        steps = "" if r.steps is None else str(r.steps)
        print(f"{r.stage:<{width}}  {steps:>5}  {'ok' if r.ok else 'FAILED':<6}  "
              f"{r.seconds:5.1f} s")


def lab(args: argparse.Namespace) -> int:
    """Start the services (left running), then replace this process with JupyterLab."""
    cloud, _ = control.start(args.data_dir, port=args.port)
    print(start_fractals_app(ExitStack(), args.fractals_port))  # the app keeps running
    env = {**os.environ, **cloud.env(),
           "FRACTALS_ENDPOINT": f"http://{LOOPBACK}:{args.fractals_port}"}
    print("The cloud and the Fractals app keep running after JupyterLab exits; stop them "
          "with `firstapp cloud stop` and `firstapp fractals stop`.")
    jupyter = Path(sys.executable).with_name("jupyter")
    extra = args.jupyter_args[1:] if args.jupyter_args[:1] == ["--"] else args.jupyter_args
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Jupyter refuses to start as root unless told; as root is how containers run
        print("Running as root: JupyterLab is started with --allow-root.")
        extra = ["--allow-root", *extra]
    # JupyterLab runs code as you: like the other servers, it listens on loopback only
    os.execve(jupyter, [str(jupyter), "lab", f"--ServerApp.ip={LOOPBACK}",
                        str(ROOT / "notebooks"), *extra], env)
    return 0  # not reached
