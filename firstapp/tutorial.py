"""``firstapp tutorial`` and ``firstapp lab``: the tutorial end to end, or interactively.

``tutorial`` starts the local cloud and the Fractals app (with a few fractals), runs every
notebook with papermill into ``build/notebooks/``, builds the HTML guide into
``build/html/``, stops what it started, prints a summary table and the commands to try
next; exit status 1 when any stage failed. ``lab`` (:mod:`firstapp.lab`) starts the same
services, with the same fractals (:mod:`firstapp.stack`), and opens JupyterLab.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

from firstapp import stack
from firstapp.cloud import backends, ceph, control
from firstapp.cloud.client import connection
from firstapp.cloud.placement import account_of, replicas
from firstapp.errors import FirstappError
from firstapp.net import free_port, port_number
from firstapp.paths import project_root


@dataclass
class Result:
    stage: str
    ok: bool
    seconds: float
    detail: str
    steps: int | None = None


def add_parser(sub: argparse._SubParsersAction) -> None:
    from firstapp import lab

    for name, func, summary, build_help in (
        ("tutorial", run, "run the whole tutorial end to end and report",
         "where executed notebooks and the HTML guide go (default: build/ in the checkout)"),
        ("lab", lab.run, "start the local cloud and Fractals app, then JupyterLab on working "
         "copies of the notebooks", "the working copies go to BUILD_DIR/lab/ "
         "(default: build/lab/ in the checkout)"),
    ):
        parser = sub.add_parser(name, help=summary, description=summary)
        parser.add_argument("--data-dir", metavar="DIR",
                            help="the local cloud's data directory (default: the per-user one)")
        parser.add_argument("--port", type=port_number,
                            help="the local cloud's port (default: 8080, or what it was)")
        parser.add_argument("--fractals-port", type=port_number, default=stack.FRACTALS_PORT,
                            help=f"the Fractals app's port (default {stack.FRACTALS_PORT})")
        parser.add_argument("--build-dir", type=Path, default=None, help=build_help)
        # set by the Makefile, so that hints name its variables (CLOUD_PORT=...)
        parser.add_argument("--via-make", action="store_true", help=argparse.SUPPRESS)
        parser.set_defaults(func=func)
    sub.choices["lab"].add_argument(
        "jupyter_args", nargs=argparse.REMAINDER, metavar="-- JUPYTER-OPTION",
        help="options for `jupyter lab` after a `--`, e.g. -- --no-browser --port 8890")


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
        if getattr(cloud, "backend", "swift") == "ceph":  # RADOS objects, not files
            return f"1 MiB round trip, md5 {etag[:12]}..., {cloud.settings.replicas} replicas"
        copies = [r for r in replicas(cloud.layout, account_of(cloud.storage_url), name,
                                      "payload") if r.present]
        return f"1 MiB round trip, md5 {etag[:12]}..., {len(copies)} copies on disk"
    finally:
        conn.delete_object(name, "payload")
        conn.delete_container(name)


def run_notebook(root: Path, name: str, env: dict[str, str], build: Path) -> tuple[str, int]:
    """Execute one notebook with papermill into ``build/notebooks/``."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from firstapp.notebooks.build import notebook_path
    from firstapp.notebooks.kernel import IPCKernelManager

    source = notebook_path(root, name)
    target = build / "notebooks" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    container = f"tutorial-{uuid.uuid4().hex[:8]}"
    with stack.environment(env):
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


def build_docs(root: Path, build: Path) -> str:
    target = build / "html"
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-n", "--keep-going", "-q", "-b", "html",
         str(root), str(target)], capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise FirstappError("sphinx-build failed:\n" + done.stderr[-3000:])
    return str(target / "docs" / "index.html")


def run(args: argparse.Namespace) -> int:
    from firstapp.notebooks.build import TRACKS

    root = project_root()
    build = args.build_dir or root / "build"
    cloud_option, app_option = stack.port_options("tutorial" if args.via_make else None)
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
            cloud, state = stack.start_cloud(args.data_dir, args.port, cloud_option)
            clouds.append(cloud)
            env.update(cloud.env())
            if state == "started":
                cleanup.callback(backends.stop, args.data_dir)
            return f"{cloud.auth_url} ({backends.store_name(cloud.layout.root)}, {state})"

        def start_app() -> str:
            app = stack.start_app(args.fractals_port, app_option)
            if app.started:
                cleanup.callback(stack.stop_app)
            env["FRACTALS_ENDPOINT"] = app.endpoint
            return (f"{app.endpoint} ({'started' if app.started else 'already running'}, "
                    f"{app.fractals} fractals)")

        others: dict[str, dict[str, str]] = {}

        def run_track(t) -> str | tuple[str, int]:
            """An under-the-hood notebook looks inside its own kind of store: when the
            tutorial's cloud is another, it gets a private cloud of that kind."""
            if not t.backend or t.backend == backends.of(clouds[0].layout.root):
                return run_notebook(root, t.name, env, build)
            if t.backend == "ceph" and not ceph.installed():
                return f"not run: it needs Ceph ({ceph.INSTALL_HINT})"
            if t.backend not in others:
                data_dir = cleanup.enter_context(tempfile.TemporaryDirectory(
                    prefix=f"firstapp-tutorial-{t.backend}-"))
                cloud, _ = backends.start(data_dir, port=free_port(), backend=t.backend)
                cleanup.callback(backends.stop, data_dir)
                others[t.backend] = {**env, **cloud.env()}
            return run_notebook(root, t.name, others[t.backend], build)

        if stage("start the local cloud", start_cloud):
            stage("smoke round trip", lambda: smoke_round_trip(clouds[0]))
            if stage("start the Fractals app", start_app):
                for t in TRACKS:
                    stage(f"notebook {t.name}", lambda t=t: run_track(t))
        stage("build the HTML guide", lambda: build_docs(root, build))

    print_summary(results)
    print(f"\nExecuted notebooks: {build / 'notebooks'}/")
    print(f"The guide:          {build / 'html' / 'docs' / 'index.html'}")
    print_next_steps(args, root)
    return 0 if all(r.ok for r in results) else 1


def print_next_steps(args: argparse.Namespace, root: Path) -> None:
    """The commands to type next, as the README's quick start lists them."""
    lines = []
    activate = Path(sys.prefix) / "bin" / "activate"
    if activate.is_file():
        with suppress(ValueError):
            activate = activate.relative_to(Path.cwd())
        lines.append((f"source {activate}", "firstapp, swift, jupyter on your PATH"))
    data_dir = f" --data-dir {args.data_dir}" if args.data_dir else ""
    cloud_port = f" --port {args.port}" if args.port else ""
    lines += [
        (f"firstapp cloud start{data_dir}{cloud_port}", "the local cloud, left running"),
        (f'eval "$(firstapp cloud env{data_dir})"', "point swift and the samples at it"),
        ("swift stat", "your account, as python-swiftclient sees it"),
    ]
    make_args = ""
    if args.fractals_port == stack.FRACTALS_PORT:
        lines.append(("firstapp fractals serve --background", "the Fractals app, left running"))
    else:
        make_args = f" FRACTALS_PORT={args.fractals_port}"
        lines += [(f"firstapp fractals serve --background --port {args.fractals_port}",
                   "the Fractals app, left running"),
                  (f"export FRACTALS_ENDPOINT=http://127.0.0.1:{args.fractals_port}",
                   "where the samples find it")]
    lines += [
        ("python samples/openstacksdk/durability.py", "one SDK's steps, as a script"),
        (f"make lab{make_args}", "the notebooks in JupyterLab (working copies in build/lab/)"),
    ]
    width = max(len(command) for command, _ in lines)
    print(f"\nNext, in this shell (in {root}):")
    for command, why in lines:
        print(f"  {command:<{width}}  # {why}")


def print_summary(results: list[Result]) -> None:
    width = max(len(r.stage) for r in results)
    print(f"\n{'stage':<{width}}  steps  result  time")
    for r in results:
        steps = "" if r.steps is None else str(r.steps)
        print(f"{r.stage:<{width}}  {steps:>5}  {'ok' if r.ok else 'FAILED':<6}  "
              f"{r.seconds:5.1f} s")
