"""Restore fractals from a backup container into an app database: ``firstapp fractals restore``.

The app has no endpoint that accepts image bytes, so records are written directly
through SQLAlchemy with the app's model. Each object is downloaded (streamed),
its SHA-256 checked against the checksum in its metadata, and the record inserted
with exactly those bytes. A uuid already in the database is never overwritten:
with the same checksum it is skipped, with another it is reported as a conflict.
Objects without fractal metadata are skipped with a warning.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from swiftclient import client as swift
from tqdm import tqdm

from firstapp.errors import FirstappError
from firstapp.fractals.backup import (
    CHUNK_SIZE,
    DEFAULT_WORKERS,
    ConnFactory,
    PerThread,
    check_container_name,
    run_pool,
    store_error,
    transfer_error,
)
from firstapp.fractals.db import make_engine, make_sessionmaker, shown_url
from firstapp.fractals.models import READY, Fractal, utcnow
from firstapp.fractals.params import InvalidParameter, validate

RESTORED, SKIPPED, CONFLICT, IGNORED, FAILED = (
    "restored", "skipped", "conflicts", "ignored", "failed",
)

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
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
        raise NotABackup(f"object {name!r} has no checksum metadata: not a fractal backup")
    if not _UUID.match(name):
        raise NotABackup(f"object {name!r} is not named by a fractal uuid: not a fractal backup")
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


@dataclass(frozen=True)
class Outcome:
    """What happened to one object: restored, skipped, conflicts, ignored or failed."""

    name: str
    status: str
    bytes: int = 0
    message: str = ""


def _download(conn: swift.Connection, container: str, name: str) -> tuple[dict, bytes]:
    """The object's record and its bytes, checked against the checksum and Swift's ETag."""
    headers, body = conn.get_object(container, name, resp_chunk_size=CHUNK_SIZE)
    try:
        record = record_from_metadata(name, headers)
        md5, sha256, data = hashlib.md5(usedforsecurity=False), hashlib.sha256(), bytearray()
        for chunk in body:
            md5.update(chunk)
            sha256.update(chunk)
            data += chunk
    finally:
        body.close()
    if sha256.hexdigest() != record["checksum"]:
        raise BadBackup(
            f"its bytes have SHA-256 {sha256.hexdigest()}, not the checksum in its metadata "
            f"({record['checksum']}): the copy is damaged"
        )
    if len(data) != record["size"]:
        raise BadBackup(f"it holds {len(data)} bytes, its metadata says {record['size']}")
    plain = "x-static-large-object" not in headers and "x-object-manifest" not in headers
    if plain and headers.get("etag", "").strip('"') != md5.hexdigest():
        raise BadBackup(f"Swift's ETag {headers.get('etag')} is not the MD5 of the bytes read")
    return record, bytes(data)


def _insert(sessions: sessionmaker[Session], record: dict[str, Any], image: bytes,
            created: datetime) -> str:
    """Insert the record unless its uuid exists; return RESTORED, SKIPPED or CONFLICT."""
    try:
        with sessions.begin() as session:
            current = session.get(Fractal, record["uuid"])
            if current is not None:
                return SKIPPED if current.checksum == record["checksum"] else CONFLICT
            session.add(Fractal(
                **{**record, "created_at": record["created_at"] or created},
                status=READY, image=image,
            ))
    except IntegrityError:  # inserted meanwhile by someone else
        with sessions() as session:
            current = session.get(Fractal, record["uuid"])
            return SKIPPED if current and current.checksum == record["checksum"] else CONFLICT
    return RESTORED


def restore_object(conn: swift.Connection, sessions: sessionmaker[Session], container: str,
                   name: str, existing: str | None, created: datetime) -> Outcome:
    """Restore one object; ``existing`` is the database's checksum for this uuid, if any."""
    downloaded = 0
    try:
        if existing is not None:  # decide from the metadata alone: no download
            record = record_from_metadata(name, conn.head_object(container, name))
            status = SKIPPED if existing == record["checksum"] else CONFLICT
        else:
            record, image = _download(conn, container, name)
            downloaded = len(image)
            status = _insert(sessions, record, image, created)
        if status == CONFLICT:
            return Outcome(name, CONFLICT, downloaded, message=(
                f"the database already holds a fractal {name} that differs from the "
                f"backup (checksum {record['checksum']}); left as it is"
            ))
        return Outcome(name, status, downloaded)
    except NotABackup as exc:
        return Outcome(name, IGNORED, message=f"{exc}; skipped")
    except BadBackup as exc:
        return Outcome(name, FAILED, message=f"{exc}; not restored")
    except (swift.ClientException, requests.RequestException, OSError) as exc:
        return Outcome(name, FAILED, message=transfer_error(exc))
    except SQLAlchemyError as exc:
        return Outcome(name, FAILED, message=f"writing to the database failed: {exc}")


@dataclass
class RestoreReport:
    """Counts of one restore run, with the messages behind conflicts, ignored and failed."""

    container: str
    restored: int = 0
    skipped: int = 0
    conflicts: int = 0
    ignored: int = 0
    failed: int = 0
    bytes_downloaded: int = 0
    seconds: float = 0.0
    messages: list[tuple[str, str]] = field(default_factory=list)  # (status, message)

    @property
    def ok(self) -> bool:
        """No failures and no conflicts (ignored objects only warn)."""
        return self.failed == 0 and self.conflicts == 0

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)
        self.bytes_downloaded += outcome.bytes
        if outcome.message:
            self.messages.append((outcome.status, f"{outcome.name}: {outcome.message}"))

    def summary(self) -> str:
        return (
            f"restore from container {self.container!r}: {self.restored} restored, "
            f"{self.skipped} skipped (already in the database), {self.conflicts} conflicts, "
            f"{self.ignored} ignored (not fractal backups), {self.failed} failed; "
            f"{self.bytes_downloaded} bytes downloaded in {self.seconds:.1f} s"
        )


def list_container(conn: swift.Connection, container: str) -> list[str]:
    """The object names in ``container``; a clear error when it does not exist."""
    try:
        _, objects = conn.get_container(container, full_listing=True)
    except swift.ClientException as exc:
        if exc.http_status == 404:
            raise FirstappError(
                f"there is no container {container!r} in this account, so nothing to restore; "
                "check --container (`swift list` shows the containers)"
            ) from None
        raise store_error(exc, f"listing container {container!r}", conn.url) from None
    except requests.RequestException as exc:
        raise store_error(exc, "listing", conn.url) from None
    return [obj["name"] for obj in objects]


def restore(conn_factory: ConnFactory, container: str, db_url: str,
            workers: int = DEFAULT_WORKERS, *, progress: bool = False) -> RestoreReport:
    """Restore every fractal backed up in ``container`` into the database at ``db_url``.

    Fractals restored without a creation time in their metadata all get the
    time the restore started (the app then lists them in uuid order).
    """
    if workers < 1:
        raise FirstappError("--workers must be at least 1")
    check_container_name(container)
    started, created = time.perf_counter(), utcnow()
    report = RestoreReport(container)
    conn = conn_factory()
    try:
        names = list_container(conn, container)
    finally:
        conn.close()
    try:
        engine = make_engine(db_url)
    except (SQLAlchemyError, ImportError) as exc:  # ImportError: no driver for that database
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

        def task(name: str) -> Outcome:
            thread_conn, _ = resources.get()
            return restore_object(thread_conn, sessions, container, name, existing.get(name),
                                  created)

        with tqdm(total=len(names), desc="restoring", unit="object",
                  disable=not progress) as bar:
            def done(outcome: Outcome) -> None:
                report.add(outcome)
                bar.update(1)

            run_pool(names, task, workers, done)
    finally:
        resources.close()
        engine.dispose()
    report.seconds = time.perf_counter() - started
    return report
