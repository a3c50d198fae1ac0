"""Move an app database's images into a Swift image store, or back: ``firstapp fractals
move-images``.

Each image is copied, read back and checked (its SHA-256 against the record's checksum,
its MD5 against the store's ETag) before the copy it came from is freed, one fractal at a
time, so an interrupted run loses nothing and a second run moves what is left.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from swiftclient import client as swift

from firstapp.errors import FirstappError
from firstapp.fractals.db import make_engine, make_sessionmaker, shown_url
from firstapp.fractals.imagestore import (
    DATABASE,
    ImageMissing,
    ImageStoreDown,
    SwiftImages,
    parse_image_store,
)
from firstapp.fractals.models import READY, Fractal
from firstapp.fractals.transfer import (
    DEFAULT_TIMEOUT,
    DEFAULT_WORKERS,
    ConnFactory,
    Result,
    Status,
    StoreUnavailable,
    Tally,
    check_timeout,
    check_workers,
    describe,
    run_pool,
)


@dataclass
class MoveReport(Tally):
    """Counts of one run: ``moved``, ``failed``; ``target`` is where the images went."""

    target: str = ""

    moved = property(lambda self: self.counts[Status.MOVED])
    failed = property(lambda self: self.counts[Status.FAILED])

    def summary(self) -> str:
        return (f"move images to {self.target}: {self.moved} moved, {self.failed} failed; "
                f"{self.bytes} bytes in {self.seconds:.1f} s"
                + ("" if self.stopped is None else " (stopped early)"))


def _read_all(store: SwiftImages, uuid: str, checksum: str) -> bytes:
    image = store.open(uuid, checksum)
    try:
        return b"".join(image.chunks)
    finally:
        image.close()


def _to_swift(sessions: sessionmaker[Session], store: SwiftImages, uuid: str,
              checksum: str) -> Result:
    """Copy one image into the store, read it back, check it, then free the database's copy."""
    with sessions() as session:
        image = session.scalar(select(Fractal.image).where(Fractal.uuid == uuid))
    if image is None:
        return Result(uuid, Status.SKIPPED)  # moved meanwhile
    if hashlib.sha256(image).hexdigest() != checksum:
        return Result(uuid, Status.FAILED, message="the database's image does not match its "
                      "checksum; left in the database")
    store.save(uuid, image, checksum)  # a PUT that Swift checks against the MD5
    back = _read_all(store, uuid, checksum)
    if back != image:
        return Result(uuid, Status.FAILED, message="the object read back differs from the "
                      "database's image; left in the database")
    with sessions.begin() as session:  # free it only if the record did not change meanwhile
        session.execute(update(Fractal).where(Fractal.uuid == uuid,
                                              Fractal.checksum == checksum)
                        .values(image=None))
    return Result(uuid, Status.MOVED, len(image))


def _to_database(sessions: sessionmaker[Session], store: SwiftImages, uuid: str,
                 checksum: str) -> Result:
    """Copy one image into its record, checked, then delete the object."""
    image = _read_all(store, uuid, checksum)
    if hashlib.sha256(image).hexdigest() != checksum:
        return Result(uuid, Status.FAILED, message=f"the object in {store.spec} does not match "
                      "the record's checksum; left in the store")
    with sessions.begin() as session:
        written = session.execute(
            update(Fractal).where(Fractal.uuid == uuid, Fractal.checksum == checksum,
                                  Fractal.image.is_(None)).values(image=image)).rowcount
    if not written:
        return Result(uuid, Status.SKIPPED)
    with sessions() as session:  # read back what the database holds now
        stored = session.scalar(select(Fractal.image).where(Fractal.uuid == uuid))
    if stored != image:
        return Result(uuid, Status.FAILED, message="the database's copy differs from the "
                      "object; the object is kept")
    store.delete(uuid)
    return Result(uuid, Status.MOVED, len(image))


def move_images(db_url: str, target: str, conn_factory: ConnFactory | None = None, *,
                source: str | None = None, workers: int = DEFAULT_WORKERS,
                timeout: float = DEFAULT_TIMEOUT, progress: bool = False) -> MoveReport:
    """Move every rendered image of the database at ``db_url`` to ``target``
    (``swift://CONTAINER``, or ``db`` from ``source``, a ``swift://CONTAINER``).

    The connections come from ``conn_factory`` (default: OS_CLOUD or the OS_* variables,
    each call bounded by ``timeout``). A store that stops answering stops the run
    (``report.stopped``); per-image failures are counted in the report.
    """
    check_workers(workers)
    check_timeout(timeout)
    kind, container = parse_image_store(target, "--to")
    if kind == DATABASE:
        if source is None:
            raise FirstappError("--to db needs --from swift://CONTAINER: the container the "
                                "app keeps its images in")
        source_kind, container = parse_image_store(source, "--from")
        if source_kind == DATABASE:
            raise FirstappError("--from db --to db: nothing to move")
    elif source not in (None, DATABASE):
        raise FirstappError(f"--to {target} moves images out of the database; "
                            f"--from {source} is not needed")
    assert container is not None
    started = time.perf_counter()
    shown = target if kind != DATABASE else f"the database (from {source})"
    report = MoveReport(container, target=shown)
    try:
        engine = make_engine(db_url)
    except (SQLAlchemyError, ImportError, OSError) as exc:
        raise FirstappError(f"cannot open the database {shown_url(db_url)}: {exc}") from None
    sessions = make_sessionmaker(engine)
    if conn_factory is None:
        from firstapp.fractals.transfer import connector_from_env

        conn_factory = connector_from_env(timeout)
    store = SwiftImages(container, conn_factory)
    try:
        if kind != DATABASE:
            try:
                store.ensure_container()
            except ImageStoreDown as exc:
                raise FirstappError(f"the image store {target} cannot be used: {exc}") from None
        has_image = Fractal.image.is_not(None) if kind != DATABASE else Fractal.image.is_(None)
        try:
            with sessions() as session:
                todo = session.execute(
                    select(Fractal.uuid, Fractal.checksum)
                    .where(Fractal.status == READY, Fractal.checksum.is_not(None), has_image)
                    .order_by(Fractal.created_at, Fractal.uuid)).all()
        except SQLAlchemyError as exc:
            raise FirstappError(f"cannot read the fractals in {shown_url(db_url)}: "
                                f"{getattr(exc, 'orig', None) or exc}") from None
        one: Callable[..., Result] = _to_swift if kind != DATABASE else _to_database

        def task(row) -> Result:
            try:
                return one(sessions, store, row.uuid, row.checksum)
            except ImageStoreDown as exc:
                raise StoreUnavailable(str(exc), "stopped here, nothing was lost: run the "
                                       "command again once the store answers") from None
            except ImageMissing as exc:
                return Result(row.uuid, Status.FAILED, message=str(exc))
            except (swift.ClientException, OSError) as exc:
                return Result(row.uuid, Status.FAILED, message=describe(exc))
            except SQLAlchemyError as exc:
                return Result(row.uuid, Status.FAILED,
                              message=f"writing to the database failed: {exc}")

        stopped = run_pool(todo, task, workers, report.add, desc="moving", unit="image",
                           progress=progress)
    finally:
        store.close()
        engine.dispose()
    if stopped is not None:
        report.stopped = str(stopped)
    report.seconds = time.perf_counter() - started
    return report
