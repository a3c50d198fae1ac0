"""Restore fractals from a backup container into an app database: ``firstapp fractals restore``.

The app has no endpoint that accepts image bytes, so records are written directly
through SQLAlchemy with the app's model. Each object is downloaded (streamed),
its SHA-256 checked against the checksum in its metadata (and the manifest's), and
the record inserted with exactly those bytes. A uuid already in the database is never
overwritten: with the same checksum it is skipped, with another it is reported as a
conflict. Objects without fractal metadata are skipped with a warning.

What complete means comes from the backup's manifest: every uuid it names must be
restored (or already be in the database). The container listing can lag behind the
objects under load, so it is read again until it shows every uuid of the manifest,
for at most ``settle`` seconds; each uuid is then fetched by name whether the listing
shows it or not, and one the store does not have is reported missing.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from swiftclient import client as swift

from firstapp.errors import FirstappError
from firstapp.fractals.db import check_db_url, make_engine, make_sessionmaker, shown_url
from firstapp.fractals.imagestore import (
    CHECKSUM_HEADER,
    CONTENT_TYPE,
    DATABASE,
    parse_image_store,
)
from firstapp.fractals.models import READY, Fractal, utcnow
from firstapp.fractals.params import InvalidParameter, validate
from firstapp.fractals.transfer import (
    DEFAULT_TIMEOUT,
    DEFAULT_WORKERS,
    MANIFEST_NAME,
    ConnFactory,
    DamagedManifest,
    Entry,
    Listed,
    PerThread,
    Result,
    Status,
    Tally,
    canonical_uuid,
    check_container_name,
    check_timeout,
    check_workers,
    describe,
    list_objects,
    read_manifest,
    run_pool,
    store_call,
    store_error,
    upper_case_uuid,
)

#: Seconds to wait for the container listing to show every uuid of the manifest.
DEFAULT_SETTLE = 10.0

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_META = "x-object-meta-"


class NotABackup(Exception):
    """The object carries no fractal backup metadata."""


class BadBackup(FirstappError):
    """The object claims to be a fractal backup but is damaged."""


def record_from_metadata(name: str, headers: Mapping[str, str]) -> dict[str, Any]:
    """The record described by an object's name and metadata (without the image).

    Raises :class:`NotABackup` for objects that are not fractal backups and
    :class:`BadBackup` for metadata that is present but invalid.
    """
    checksum = headers.get(_META + "checksum")
    if checksum is None:
        raise NotABackup("it has no checksum metadata: not a fractal backup")
    if canonical_uuid(name) is None:
        raise NotABackup("it is not named by a fractal uuid: not a fractal backup")
    if not _SHA256.match(checksum):
        raise BadBackup(f"its checksum metadata {checksum!r} is not a SHA-256 hex digest")

    def get(key: str, kind: type, required: bool = True) -> Any:
        raw = headers.get(_META + key.replace("_", "-"))
        if raw is None:
            if required:
                raise BadBackup(f"its metadata lacks {key}")
            return None
        try:
            return kind(raw)
        except ValueError:
            raise BadBackup(f"its metadata {key}={raw!r} is not a valid {kind.__name__}") from None

    record: dict[str, Any] = {"uuid": name, "checksum": checksum, "size": get("size", int)}
    for key in ("width", "height", "iterations"):
        record[key] = get(key, int)
    for key in ("xa", "xb", "ya", "yb"):
        record[key] = get(key, float)
    try:
        validate(record)
    except InvalidParameter as exc:
        raise BadBackup(f"its metadata is not a valid fractal: {exc.message}") from None
    record["duration"] = get("duration", float, required=False)
    record["generated_by"] = headers.get(_META + "generated-by")
    record["created_at"] = get("created_at", datetime.fromisoformat, required=False)
    return record


def _download(conn: swift.Connection, container: str, name: str,
              expected: Entry | None) -> tuple[dict, bytes]:
    """The object's record and its bytes, checked against the checksum in its metadata,
    Swift's ETag and, when the manifest names it, the manifest's SHA-256."""
    headers, data = store_call(conn, f"downloading object {name}", conn.get_object,
                               container, name)
    record = record_from_metadata(name, headers)
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 != record["checksum"]:
        raise BadBackup(
            f"its bytes have SHA-256 {sha256}, not the checksum in its metadata "
            f"({record['checksum']}): the copy is damaged"
        )
    if len(data) != record["size"]:
        raise BadBackup(f"it holds {len(data)} bytes, its metadata says {record['size']}")
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    plain = "x-static-large-object" not in headers and "x-object-manifest" not in headers
    if plain and headers.get("etag", "").strip('"') != md5:
        raise BadBackup(f"Swift's ETag {headers.get('etag')} is not the MD5 of the bytes read")
    if expected is not None and expected.sha256 != sha256:
        raise BadBackup(
            f"its bytes have SHA-256 {sha256}, but the backup's manifest says "
            f"{expected.sha256}: it was replaced after the backup was made"
        )
    return record, data


def _insert(sessions: sessionmaker[Session], record: dict[str, Any], image: bytes | None,
            created: datetime) -> Status:
    """Insert the record unless its uuid exists; return RESTORED, SKIPPED or CONFLICT."""
    try:
        with sessions.begin() as session:
            current = session.get(Fractal, record["uuid"])
            if current is not None:
                return Status.SKIPPED if current.checksum == record["checksum"] \
                    else Status.CONFLICT
            session.add(Fractal(
                **{**record, "created_at": record["created_at"] or created},
                status=READY, image=image,
            ))
    except IntegrityError:  # inserted meanwhile by someone else
        with sessions() as session:
            current = session.get(Fractal, record["uuid"])
            same = current is not None and current.checksum == record["checksum"]
            return Status.SKIPPED if same else Status.CONFLICT
    return Status.RESTORED


@dataclass
class _Waiting:
    record: dict[str, Any]
    image: bytes
    status: Status | None = None
    error: BaseException | None = None


class GroupWriter:
    """Inserts records for many threads, one writer at a time, each write a single
    transaction for every record queued meanwhile (group commit): SQLite then syncs its
    log once per group instead of once per fractal, and no thread waits in its busy
    handler. A group that fails as a whole is written again one record at a time, so
    each record gets its own outcome (:func:`_insert`)."""

    def __init__(self, sessions: sessionmaker[Session], created: datetime) -> None:
        self._sessions, self._created = sessions, created
        self._writing, self._queue_lock = threading.Lock(), threading.Lock()
        self._queue: list[_Waiting] = []

    def insert(self, record: dict[str, Any], image: bytes | None) -> Status:
        """RESTORED, SKIPPED or CONFLICT, as :func:`_insert`; raises what it raises."""
        mine = _Waiting(record, image)
        with self._queue_lock:
            self._queue.append(mine)
        with self._writing:
            if mine.status is None and mine.error is None:  # not written by another yet
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._write(group)
        if mine.error is not None:
            raise mine.error
        assert mine.status is not None
        return mine.status

    def _write(self, group: list[_Waiting]) -> None:
        try:
            with self._sessions.begin() as session:
                statuses = []
                for item in group:
                    current = session.get(Fractal, item.record["uuid"])
                    if current is not None:
                        statuses.append(Status.SKIPPED if current.checksum ==
                                        item.record["checksum"] else Status.CONFLICT)
                        continue
                    session.add(Fractal(**{**item.record, "created_at":
                                           item.record["created_at"] or self._created},
                                        status=READY, image=item.image))
                    session.flush()  # a duplicate uuid in the group fails here, not later
                    statuses.append(Status.RESTORED)
        except SQLAlchemyError:
            for item in group:  # one at a time: each record gets its own outcome
                try:
                    item.status = _insert(self._sessions, item.record, item.image,
                                          self._created)
                except SQLAlchemyError as exc:
                    item.error = exc
            return
        for item, status in zip(group, statuses, strict=True):
            item.status = status


def _not_named_by_a_uuid(conn: swift.Connection, container: str, name: str) -> Result:
    """An object whose name is not a canonical uuid: ignored unless it claims to be a
    backup (checksum metadata), then refused, saying why."""
    headers = store_call(conn, f"reading object {name}",
                                              conn.head_object, container, name)
    if _META + "checksum" not in headers:
        return Result(name, Status.IGNORED, message="not a fractal backup; skipped")
    lower = upper_case_uuid(name)
    if lower is not None:
        return Result(name, Status.REFUSED, message=(
            "named by an upper-case uuid, but backups name objects by the canonical "
            f"lower-case form: not written by `firstapp fractals backup`, so not restored "
            f"(copy it to {lower} to restore it)"
        ))
    return Result(name, Status.REFUSED, message=(
        "it carries fractal metadata but its name is not a uuid in canonical form; "
        "not restored"
    ))


# [start restore-into-store]
def copy_into_store(conn: swift.Connection, container: str, name: str, image: bytes,
                    checksum: str, store: str) -> None:
    """Copy the (checked) backup object ``name`` into the app's image container ``store``,
    server-side, and check the copy: its ETag must be the MD5 of ``image``."""
    md5 = hashlib.md5(image, usedforsecurity=False).hexdigest()
    store_call(conn, f"copying object {name} into {store!r}", conn.copy_object, container,
               name, f"/{store}/{name}", headers={"Content-Type": CONTENT_TYPE,
                                                   CHECKSUM_HEADER: checksum})
    headers = store_call(conn, f"checking object {name} in {store!r}", conn.head_object,
                         store, name)
    if (headers.get("etag", "").strip('"') != md5
            or headers.get(CHECKSUM_HEADER.lower()) != checksum):
        raise BadBackup(f"its copy in the app's container {store!r} has ETag "
                        f"{headers.get('etag')}, not the MD5 of the backup ({md5})")
# [end restore-into-store]


def restore_object(conn: swift.Connection, sessions: sessionmaker[Session], container: str,
                   name: str, existing: str | None, created: datetime, *,
                   expected: Entry | None = None, store: str | None = None,
                   writer: GroupWriter | None = None) -> Result:
    """Restore one object; ``existing`` is the database's checksum for this uuid, if any,
    ``expected`` the manifest's entry for it; ``store`` the app's image container (None:
    the image goes into the database); ``writer``, when given, writes the record (with
    those of other threads). :class:`StoreUnavailable` is raised (the run stops)."""
    downloaded = 0
    try:
        if canonical_uuid(name) is None:
            return _not_named_by_a_uuid(conn, container, name)
        if existing is not None and expected is not None and existing == expected.sha256:
            return Result(name, Status.SKIPPED)  # the manifest says it is the same image
        if existing is not None:  # decide from the metadata alone: no download
            headers = store_call(conn, f"reading object {name}", conn.head_object,
                                 container, name)
            record = record_from_metadata(name, headers)
            status = Status.SKIPPED if existing == record["checksum"] else Status.CONFLICT
        else:
            record, image = _download(conn, container, name, expected)
            downloaded = len(image)
            if store is not None:
                copy_into_store(conn, container, name, image, record["checksum"], store)
            kept = image if store is None else None
            status = writer.insert(record, kept) if writer else \
                _insert(sessions, record, kept, created)
        if status == Status.CONFLICT:
            return Result(name, status, downloaded, message=(
                f"the database already holds a fractal {name} that differs from the "
                f"backup (checksum {record['checksum']}); left as it is"
            ))
        return Result(name, status, downloaded)
    except NotABackup as exc:
        return Result(name, Status.IGNORED, message=f"{exc}; skipped")
    except BadBackup as exc:
        return Result(name, Status.FAILED, downloaded, message=f"{exc}; not restored")
    except swift.ClientException as exc:
        if exc.http_status == 404 and expected is not None:
            return Result(name, Status.MISSING, message=(
                "the backup's manifest names it, but the container does not hold it; "
                "not restored"
            ))
        if exc.http_status == 404:
            return Result(name, Status.FAILED, message="it was deleted while the restore ran")
        return Result(name, Status.FAILED, message=f"downloading failed: {describe(exc)}")
    except (requests.RequestException, OSError) as exc:
        return Result(name, Status.FAILED, message=f"downloading failed: {describe(exc)}")
    except SQLAlchemyError as exc:
        return Result(name, Status.FAILED, message=f"writing to the database failed: {exc}")


@dataclass
class RestoreReport(Tally):
    """Counts of one restore run (``restored``, ``skipped``, ``conflicts``, ``ignored``,
    ``refused``, ``missing``, ``failed``), with the messages behind them and
    ``manifest``: whether the container had a (valid) manifest."""

    manifest: bool = False

    restored = property(lambda self: self.counts[Status.RESTORED])
    skipped = property(lambda self: self.counts[Status.SKIPPED])
    conflicts = property(lambda self: self.counts[Status.CONFLICT])
    ignored = property(lambda self: self.counts[Status.IGNORED])
    refused = property(lambda self: self.counts[Status.REFUSED])
    missing = property(lambda self: self.counts[Status.MISSING])
    failed = property(lambda self: self.counts[Status.FAILED])
    bytes_downloaded = property(lambda self: self.bytes)

    def summary(self) -> str:
        return (
            f"restore from container {self.container!r}: {self.restored} restored, "
            f"{self.skipped} skipped (already in the database), {self.conflicts} conflicts, "
            f"{self.ignored} ignored (not fractal backups), {self.refused} refused "
            f"(not canonical uuids), {self.missing} missing (in the manifest, not in the "
            f"container), {self.failed} failed; {self.bytes_downloaded} bytes downloaded in "
            f"{self.seconds:.1f} s" + ("" if self.stopped is None else " (stopped early)")
        )


def list_container(conn: swift.Connection, container: str) -> dict[str, Listed]:
    """The objects in ``container`` but the manifest; a clear error when it does not exist."""
    try:
        return list_objects(conn, container)
    except swift.ClientException as exc:
        if exc.http_status == 404:
            raise FirstappError(
                f"there is no container {container!r} in this account, so nothing to restore; "
                "check --container (`swift list` shows the containers)"
            ) from None
        raise store_error(exc, conn, f"listing container {container!r}") from None


def settled_listing(conn: swift.Connection, container: str, listing: dict[str, Listed],
                    manifest: Mapping[str, Entry], settle: float) -> dict[str, Listed]:
    """Read the listing again until it shows every object of the manifest with its ETag,
    for at most ``settle`` seconds; return the last reading."""
    deadline = time.monotonic() + settle
    delay = 0.2
    while any(uuid not in listing or listing[uuid].hash != entry.md5
              for uuid, entry in manifest.items()) and time.monotonic() < deadline:
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 2.0)
        listing = list_container(conn, container)
    return listing


def restore(conn_factory: ConnFactory, container: str, db_url: str,
            workers: int = DEFAULT_WORKERS, *, progress: bool = False,
            timeout: float = DEFAULT_TIMEOUT, settle: float = DEFAULT_SETTLE,
            image_store: str = DATABASE) -> RestoreReport:
    """Restore every fractal backed up in ``container`` into the database at ``db_url``.

    Works from the backup's manifest plus the container listing (the listing alone for
    a backup without a manifest, with a note saying so). Fractals restored without a
    creation time in their metadata all get the time the restore started (the app then
    lists them in uuid order). ``timeout`` is only checked here: the connections from
    ``conn_factory`` carry their own.
    """
    check_workers(workers)
    check_container_name(container)
    check_timeout(timeout)
    check_db_url(db_url)
    _, store = parse_image_store(image_store)
    started, created = time.perf_counter(), utcnow()
    report = RestoreReport(container)
    conn = conn_factory()
    try:
        if store is not None:  # the app's image container, created if missing
            doing = f"creating container {store!r}"
            try:
                store_call(conn, doing, conn.put_container, store)
            except (swift.ClientException, requests.RequestException, OSError) as exc:
                raise store_error(exc, conn, doing) from None
        listing = list_container(conn, container)
        try:
            manifest = read_manifest(conn, container)
        except DamagedManifest as exc:
            manifest = None
            report.add(Result(MANIFEST_NAME, Status.FAILED, message=(
                f"the backup's manifest is damaged ({exc}): restoring what the listing shows, "
                "so objects missing from it could not be noticed"
            )))
        else:
            if manifest is None:
                report.notes.append(
                    f"container {container!r} has no backup manifest (a backup made before "
                    "manifests, or one that never finished): restoring what the listing "
                    "shows, so objects missing from it cannot be noticed"
                )
            else:
                report.manifest = True
                listing = settled_listing(conn, container, listing, manifest, settle)
                lagging = sorted(set(manifest) - set(listing))
                if lagging:
                    report.notes.append(
                        f"after {settle:g} s the container listing still lacks {len(lagging)} "
                        "object(s) the manifest names; fetching them by name"
                    )
    finally:
        conn.close()
    manifest = manifest or {}
    names = sorted(set(listing) | set(manifest))
    try:
        engine = make_engine(db_url)
    except (SQLAlchemyError, ImportError, OSError) as exc:  # ImportError: no driver
        raise FirstappError(f"cannot open the database {shown_url(db_url)}: {exc}") from None
    sessions = make_sessionmaker(engine)
    resources = PerThread(conn_factory)
    try:
        try:
            with sessions() as session:
                existing = dict(session.execute(select(Fractal.uuid, Fractal.checksum)).all())
        except SQLAlchemyError as exc:
            raise FirstappError(
                f"cannot read the fractals in {shown_url(db_url)}: "
                f"{getattr(exc, 'orig', None) or exc}; "
                "is it a Fractals app database? (--db a new file creates one)"
            ) from None

        writer = GroupWriter(sessions, created)

        def task(name: str) -> Result:
            thread_conn, _ = resources.get()
            return restore_object(thread_conn, sessions, container, name, existing.get(name),
                                  created, expected=manifest.get(name), store=store,
                                  writer=writer)

        stopped = run_pool(names, task, workers, report.add, desc="restoring", unit="object",
                           progress=progress)
    finally:
        resources.close()
        engine.dispose()
    if stopped is not None:
        report.stopped = str(stopped)
    report.seconds = time.perf_counter() - started
    return report
