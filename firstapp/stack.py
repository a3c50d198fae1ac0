"""The tutorial's stack: a local cloud plus a Fractals app serving a known set of fractals.

One set of constants and one module that starts it, for ``make tutorial``, ``make lab``,
the notebook builder and the tests, so what a learner sees in JupyterLab matches the
committed notebooks' outputs. :data:`CREATE_COMMAND` rebuilds the same images in any app.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from firstapp.cloud import backends, control
from firstapp.errors import FirstappError
from firstapp.fractals.defaults import DEFAULT_PORT as FRACTALS_PORT
from firstapp.net import LOOPBACK, free_port

#: How many fractals the stack serves: more than one page of the API's 10 per page.
FRACTALS = 12
#: The seed of their parameters and uuids.
SEED = 2015
#: Their width and height in pixels.
SIZE = 192
#: The command that asks any Fractals app for the same images (same parameters, same
#: SHA-256 checksums; the app picks new uuids).
CREATE_COMMAND = (f"firstapp fractals create -n {FRACTALS} --seed {SEED} "
                  f"--width {SIZE} --height {SIZE}")
#: Seconds to wait for the app to render the stack's fractals.
RENDER_TIMEOUT = 300.0


def serve_fractals(endpoint: str, n: int = FRACTALS, seed: int = SEED,
                   size: int = SIZE) -> int:
    """Make the app at ``endpoint`` serve the stack's fractals; return how many it lists.

    Creates the ones it lacks through the API, with the uuids and parameters of
    :func:`~firstapp.fractals.seed.seeded_fractals` (fractals already there are left
    alone, so it is safe to repeat), and waits until all are rendered.
    """
    from firstapp.fractals import client
    from firstapp.fractals.seed import seeded_fractals

    wanted = seeded_fractals(n, seed, width=size, height=size)
    for uuid, params in wanted:
        try:
            client.get_fractal(endpoint, uuid)
        except client.FractalsAPIError as exc:
            if exc.status != 404:
                raise
            client.create_fractal(endpoint, params, uuid=uuid)
    client.wait_until_rendered(endpoint, [uuid for uuid, _ in wanted], timeout=RENDER_TIMEOUT)
    return client.list_page(endpoint, 1)["num_results"]


@contextmanager
def local_stack(workdir: Path, fractals: int = FRACTALS, seed: int = SEED,
                size: int = SIZE, backend: str | None = None) -> Iterator[dict[str, str]]:
    """A private stack below ``workdir`` on free ports, stopped afterwards; its cloud runs
    ``backend`` (default: ``FIRSTAPP_BACKEND``'s).

    Yields the environment (``OS_*`` and ``FRACTALS_ENDPOINT``) that points the samples
    at it. The notebook builder and the tests use it; ``make tutorial`` and ``make lab``
    start the same services, with the same fractals, with :func:`start_cloud` and
    :func:`start_app`.
    """
    from firstapp.fractals.db import resolve_db_url
    from firstapp.fractals.server import ThreadedServer

    cloud_dir = workdir / "cloud"
    cloud, _ = backends.start(cloud_dir, port=free_port(), backend=backend)
    server = None
    try:
        server = ThreadedServer(resolve_db_url(workdir / "fractals.db"), workers=1)
        serve_fractals(server.endpoint, fractals, seed, size)
        yield {**cloud.env(), "FRACTALS_ENDPOINT": server.endpoint}
    finally:
        if server is not None:
            server.stop()
        backends.stop(cloud_dir)


class Stacks:
    """Private stacks below one directory, one per backend, each started the first time a
    notebook that needs it asks (see :func:`local_stacks`)."""

    def __init__(self, workdir: Path, exits: ExitStack) -> None:
        self._workdir, self._exits = workdir, exits
        self._envs: dict[str, dict[str, str]] = {}

    def env(self, backend: str | None = None) -> dict[str, str]:
        """The environment of the stack whose cloud runs ``backend`` (default:
        ``FIRSTAPP_BACKEND``'s), started now unless it runs."""
        backend = backend or backends.default()
        if backend not in self._envs:
            workdir = self._workdir / backend
            workdir.mkdir(parents=True, exist_ok=True)
            self._envs[backend] = self._exits.enter_context(
                local_stack(workdir, backend=backend))
        return self._envs[backend]


@contextmanager
def local_stacks(workdir: Path) -> Iterator[Stacks]:
    """Private stacks below ``workdir``, by backend (:class:`Stacks`); all stopped
    afterwards. The notebook builder and ``pytest --nbval`` use it: the SDK notebooks run on
    ``FIRSTAPP_BACKEND``'s store, an under-the-hood notebook on the store it looks inside."""
    with ExitStack() as exits:
        yield Stacks(workdir, exits)


def port_options(make_target: str | None = None) -> tuple[str, str]:
    """How a user sets the cloud's and the app's ports: options, or ``make`` variables."""
    if make_target:
        return (f"`make {make_target} CLOUD_PORT=N`", f"`make {make_target} FRACTALS_PORT=N`")
    return "--port N", "--fractals-port N"


def _naming(exc: FirstappError, option: str) -> FirstappError:
    """``exc`` with its ``--port`` hint naming ``option`` (how the caller sets that port)."""
    return FirstappError(re.sub(r"--port\b(?: N)?", option, str(exc)))


def start_cloud(data_dir: str | os.PathLike[str] | None = None, port: int | None = None,
                port_option: str = "--port N") -> tuple[control.CloudInfo, str]:
    """The local cloud in ``data_dir``, started unless it runs; returns it and what happened.

    A port conflict's hint names ``port_option``, the way the caller's user sets the port.
    """
    try:
        cloud, started = backends.start(data_dir, port=port)
    except FirstappError as exc:
        raise _naming(exc, port_option) from None
    if started:
        return cloud, "started"
    note = f"; port {port} ignored" if port is not None and port != cloud.port else ""
    return cloud, f"already running{note}"


@dataclass(frozen=True)
class App:
    """A Fractals app serving the stack's fractals: where, whether started now, how many."""

    endpoint: str
    started: bool
    fractals: int


def start_app(port: int = FRACTALS_PORT, port_option: str = "--fractals-port N") -> App:
    """The Fractals app on ``port`` with the default database, serving the stack's fractals.

    Reuses an app that already answers there (and adds the stack's fractals it lacks);
    one started here runs in the background until :func:`stop_app`. A port conflict's
    hint names ``port_option``.
    """
    from firstapp.fractals.db import resolve_db_url
    from firstapp.fractals.process import endpoint_url, is_fractals_app, start_background

    endpoint = endpoint_url(LOOPBACK, port)
    started = not is_fractals_app(endpoint)
    if started:
        try:
            start_background(resolve_db_url(None), LOOPBACK, port, workers=2)
        except FirstappError as exc:
            raise _naming(exc, port_option) from None
    try:
        listed = serve_fractals(endpoint)
    except BaseException:
        if started:
            stop_app()
        raise
    return App(endpoint, started, listed)


def stop_app() -> None:
    """Stop the background Fractals app that serves the default database, if it runs."""
    from firstapp.fractals.db import resolve_db_url
    from firstapp.fractals.process import stop_background

    stop_background(resolve_db_url(None))


@contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    """Set ``variables`` in os.environ for the duration, then restore what was there."""
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
