"""Rendering fractals into database records, and the in-process pool that does it."""

from __future__ import annotations

import hashlib
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from firstapp.fractals.models import FAILED, PENDING, READY, Fractal
from firstapp.fractals.params import FractalParams
from firstapp.fractals.render import render_png

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    """A finished image and the fields that describe it."""

    image: bytes
    checksum: str
    size: int
    duration: float
    generated_by: str

    def columns(self) -> dict[str, object]:
        return {
            "status": READY, "image": self.image, "checksum": self.checksum,
            "size": self.size, "duration": self.duration, "generated_by": self.generated_by,
        }


def render_fractal(params: FractalParams) -> Rendered:
    """Render ``params`` to PNG and describe it: sha256 hex, size, seconds taken, host."""
    started = time.perf_counter()
    image = render_png(params)
    duration = time.perf_counter() - started
    return Rendered(
        image=image,
        checksum=hashlib.sha256(image).hexdigest(),
        size=len(image),
        duration=duration,
        generated_by=socket.gethostname(),
    )


def params_of(fractal: Fractal) -> FractalParams:
    """The parameters stored in a row."""
    return FractalParams(
        fractal.width, fractal.height, fractal.iterations,
        fractal.xa, fractal.xb, fractal.ya, fractal.yb,
    )


class RenderPool:
    """Threads that render pending fractals and store the results (no broker needed)."""

    def __init__(self, sessions: sessionmaker[Session], workers: int) -> None:
        self._sessions = sessions
        self._executor = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fractal-render")
            if workers > 0 else None
        )

    def submit(self, uuid: str) -> None:
        """Queue a fractal for rendering (nothing happens when the pool has no workers)."""
        if self._executor is not None:
            self._executor.submit(self._render, uuid)

    def resume(self) -> int:
        """Queue every fractal still pending, e.g. after a restart; returns how many."""
        with self._sessions() as session:
            pending = session.scalars(
                select(Fractal.uuid).where(Fractal.status == PENDING)
                .order_by(Fractal.created_at, Fractal.uuid)
            ).all()
        for uuid in pending:
            self.submit(uuid)
        return len(pending)

    def shutdown(self) -> None:
        """Stop the threads; queued work is dropped and resumed at the next start."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def _render(self, uuid: str) -> None:
        with self._sessions() as session:
            fractal = session.get(Fractal, uuid)
            if fractal is None or fractal.status != PENDING:
                return  # deleted, or already rendered by an earlier job
            params, revision = params_of(fractal), fractal.revision
        try:
            columns = render_fractal(params).columns()
        except Exception:
            log.exception("rendering fractal %s failed", uuid)
            columns = {"status": FAILED}
        with self._sessions.begin() as session:
            # Store only if nobody changed the parameters (or deleted it) meanwhile.
            session.execute(
                update(Fractal)
                .where(Fractal.uuid == uuid, Fractal.revision == revision)
                .values(**columns)
            )
