"""Rendering fractals into database records, and the in-process pool that does it.

The pool hands each image to the app's image store (:mod:`firstapp.fractals.imagestore`):
into the record itself, or into a Swift container. When the store does not answer, the
fractal stays pending and is rendered and stored again later, with growing pauses.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from firstapp.fractals.imagestore import DatabaseImages, ImageStore, ImageStoreDown
from firstapp.fractals.models import FAILED, PENDING, READY, Fractal
from firstapp.fractals.params import FractalParams
from firstapp.fractals.render import render_png

log = logging.getLogger(__name__)

#: Seconds before fractals whose image could not be stored are tried again: the first
#: pause, then doubled after each failure up to the last.
RETRY_FIRST, RETRY_MOST = 1.0, 30.0
#: Locks shared by uuids with the same hash: one image of a uuid is stored at a time.
LOCK_STRIPES = 64


@dataclass(frozen=True)
class Rendered:
    """A finished image and the fields that describe it."""

    image: bytes
    checksum: str
    size: int
    duration: float
    generated_by: str

    def record_columns(self) -> dict[str, object]:
        """The record's fields that describe the image, without the image."""
        return {
            "status": READY, "checksum": self.checksum, "size": self.size,
            "duration": self.duration, "generated_by": self.generated_by,
        }

    def columns(self) -> dict[str, object]:
        """The record's fields with the image itself (the database image store)."""
        return {**self.record_columns(), "image": self.image}


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

    def __init__(self, sessions: sessionmaker[Session], workers: int,
                 store: ImageStore | None = None) -> None:
        self._sessions = sessions
        self._store = store or DatabaseImages(sessions)
        self._executor = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fractal-render")
            if workers > 0 else None
        )
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        self._retry_lock = threading.Lock()
        self._waiting: set[str] = set()  # uuids whose image could not be stored yet
        self._retry_delay = RETRY_FIRST
        self._timer: threading.Timer | None = None
        self._closed = False

    def submit(self, uuid: str) -> None:
        """Queue a fractal for rendering (nothing happens when the pool has no workers)."""
        if self._executor is not None and not self._closed:
            self._executor.submit(self._render, uuid)

    def forget(self, uuid: str) -> None:
        """Delete a deleted fractal's image from the store, in the background (here and
        now when the pool has no threads)."""
        if self._executor is None:
            self._forget(uuid)
        elif not self._closed:
            self._executor.submit(self._forget, uuid)

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

    @property
    def waiting(self) -> int:
        """Fractals rendered but not stored yet, because the image store was down."""
        with self._retry_lock:
            return len(self._waiting)

    def shutdown(self) -> None:
        """Stop the threads; queued work is dropped and resumed at the next start."""
        self._closed = True
        with self._retry_lock:
            if self._timer is not None:
                self._timer.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def _lock(self, uuid: str) -> threading.Lock:
        return self._locks[zlib.crc32(uuid.encode()) % LOCK_STRIPES]

    def _render(self, uuid: str) -> None:
        with self._sessions() as session:
            fractal = session.get(Fractal, uuid)
            if fractal is None or fractal.status != PENDING:
                self._done(uuid)
                return  # deleted, or already rendered by an earlier job
            params, revision = params_of(fractal), fractal.revision
        try:
            rendered = render_fractal(params)
        except Exception:
            log.exception("rendering fractal %s failed", uuid)
            self._store_record(uuid, revision, {"status": FAILED})
            return
        # [start render-and-store]
        with self._lock(uuid):  # one image of this uuid at a time goes to the store
            with self._sessions() as session:
                current = session.get(Fractal, uuid)
                if current is None or current.revision != revision:
                    self._done(uuid)
                    return  # deleted or changed meanwhile: a newer job renders it
            try:
                columns = {**rendered.record_columns(),
                           **self._store.save(uuid, rendered.image, rendered.checksum)}
            except ImageStoreDown as exc:
                log.warning("fractal %s stays pending: %s", uuid, exc)
                self._retry_later(uuid)
                return
            stored = self._store_record(uuid, revision, columns)
        # [end render-and-store]
        self._done(uuid)
        if not stored:
            with self._sessions() as session:
                gone = session.get(Fractal, uuid) is None
            if gone:  # deleted while its image was being stored
                self._forget(uuid)

    def _store_record(self, uuid: str, revision: int, columns: dict[str, object]) -> bool:
        """Write ``columns`` unless the parameters changed (or the fractal was deleted)
        meanwhile; True when written."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(Fractal)
                .where(Fractal.uuid == uuid, Fractal.revision == revision)
                .values(**columns)
            )
        return result.rowcount == 1

    def _forget(self, uuid: str) -> None:
        with self._lock(uuid):
            try:
                self._store.delete(uuid)
            except ImageStoreDown as exc:
                log.warning("the image of deleted fractal %s stays in %s: %s", uuid,
                            self._store.spec, exc)

    def _retry_later(self, uuid: str) -> None:
        """Render ``uuid`` again after a pause, all such fractals together."""
        with self._retry_lock:
            self._waiting.add(uuid)
            if self._timer is None and not self._closed:
                self._timer = threading.Timer(self._retry_delay, self._retry)
                self._timer.daemon = True
                self._timer.start()
                self._retry_delay = min(self._retry_delay * 2, RETRY_MOST)

    def _retry(self) -> None:
        with self._retry_lock:
            self._timer = None
            waiting = sorted(self._waiting)
        for uuid in waiting:
            self.submit(uuid)

    def _done(self, uuid: str) -> None:
        with self._retry_lock:
            self._waiting.discard(uuid)
            self._retry_delay = RETRY_FIRST
