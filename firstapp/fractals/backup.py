"""Back up the Fractals app's images into a Swift container: ``firstapp fractals backup``.

Each rendered fractal becomes one object named by its uuid, with the record's
fields as ``X-Object-Meta-*`` metadata (:func:`object_metadata`), so that
:mod:`firstapp.fractals.restore` can rebuild the record.

How the copy stays trustworthy:

- Only a uuid in canonical form becomes an object name; anything else the app lists
  is refused (an app answering ``../victim/pwned`` cannot write outside the container).
- Each image is read from the app into memory (images are small; up to 100 in one
  request, :class:`ImageBatches`, with a request of its own for any the batch lacks) and
  its SHA-256 and size checked against the app's record *before* anything is sent;
  then the bytes are PUT with their MD5 as the expected ETag, so Swift refuses a body
  that arrives damaged, and a PUT that gets "try again" can be sent again.
- At the end every object written is checked again: the container listing (one request)
  must show it with the MD5 of the bytes sent as its ETag, and their size; an object it
  does not show so yet (listings can lag) gets a HEAD of its own. Then a manifest object
  (:data:`~firstapp.fractals.transfer.MANIFEST_NAME`)
  records each uuid with its SHA-256, MD5 and size, so a restore knows what complete is.
- A re-run skips a fractal only when the stored object's ETag is the MD5 of the app's
  current image: proven by the container listing plus the manifest (the ETag equals the
  manifest's MD5, and the manifest's SHA-256 is the app's checksum), or else by reading
  the image from the app and hashing it. Anything else is uploaded again.
- An app that keeps its images in a container of the same account
  (``GET /v1/image-store``) is backed up server-side: Swift copies each object
  (``COPY``), and no image byte passes through this client. The source object's checksum
  metadata must be the app's checksum; its ETag (the MD5 Swift checked when the app
  stored it) must then be the copy's.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from swiftclient import client as swift

from firstapp.errors import FirstappError
from firstapp.fractals import client
from firstapp.fractals.imagestore import CHECKSUM_HEADER
from firstapp.fractals.models import READY
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
    Unavailable,
    canonical_uuid,
    check_container_name,
    check_timeout,
    check_workers,
    describe,
    list_objects,
    manifest_bytes,
    prepare_container,
    read_manifest,
    run_pool,
    store_call,
    store_error,
)

META_PREFIX = "X-Object-Meta-"
#: Where the app's image store keeps each image's SHA-256 (lower case, as read back).
IMAGE_CHECKSUM = CHECKSUM_HEADER.lower()
#: Printable ASCII that passes through HTTP headers unchanged; everything else in a text
#: value (spaces, "%", non-ASCII) is percent-encoded, which swiftclient decodes on reading.
META_SAFE = "!#$&'()*+,-./:;<=>?@[]^_`{|}~"
#: Record fields stored as object metadata (the uuid is the object's name).
META_FIELDS = (
    "checksum", "size", "width", "height", "iterations", "xa", "xb", "ya", "yb",
    "duration", "generated_by", "created_at",
)
_SHA256_CHARS = frozenset("0123456789abcdef")
#: Images read from the app in one request: at most the API's page size, and at most
#: this many bytes by their records (so that a batch of big images stays small in memory).
BATCH_IMAGES = client.PAGE_SIZE
BATCH_BYTES = 8 * 1024 * 1024


class VerificationError(FirstappError):
    """The bytes do not match their checksum."""


# --- metadata ---------------------------------------------------------------------------


def meta_header(name: str) -> str:
    """``generated_by`` -> ``X-Object-Meta-Generated-By``."""
    return META_PREFIX + name.replace("_", "-").title()


def object_metadata(record: Mapping[str, Any]) -> dict[str, str]:
    """The record's fields as object metadata headers (floats in round-trip form, text
    percent-encoded so that it comes back exactly)."""
    headers = {}
    for name in META_FIELDS:
        value = record.get(name)
        if value is not None:
            text = repr(value) if isinstance(value, float) else str(value)
            headers[meta_header(name)] = quote(text, safe=META_SAFE)
    return headers


def check_record(record: Mapping[str, Any]) -> str | None:
    """Why the app's ``record`` cannot be backed up as it is, or None.

    The uuid must be canonical (it becomes the object's name); a rendered record needs
    a SHA-256 hex checksum and a size.
    """
    if canonical_uuid(record.get("uuid")) is None:
        return ("the app gave this as a fractal's uuid, but it is not a uuid in canonical "
                "form; not backed up (an object name must never come from anything else)")
    if record.get("status") == READY:
        checksum, size = record.get("checksum"), record.get("size")
        if not (isinstance(checksum, str) and len(checksum) == 64
                and set(checksum) <= _SHA256_CHARS):
            return "the app's record has no SHA-256 checksum; not backed up"
        if not (isinstance(size, int) and not isinstance(size, bool) and size >= 0):
            return "the app's record has no valid size; not backed up"
    return None


# --- one fractal ------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One fractal's result, and what the manifest learns from it (``entry``, when the
    object is known to hold the image)."""

    result: Result
    entry: Entry | None = None


class ImageBatches:
    """The images a backup reads from the app, fetched many at a time
    (``GET /v1/fractal-images``) instead of one request each.

    ``records`` are cut, in order, into batches of at most :data:`BATCH_IMAGES` images and
    :data:`BATCH_BYTES` bytes (by their records' sizes). The first worker to need an image
    of a batch reads the whole batch; the others take theirs from it. An image the batch
    lacks (or damaged, or any at all from an app without that route) is left to a request
    of its own, which says what is wrong with it.
    """

    def __init__(self, endpoint: str | None, records: list[Mapping[str, Any]],
                 timeout: float | None = None) -> None:
        self._endpoint, self._timeout = endpoint, timeout
        self._batch_of: dict[str, int] = {}
        self._batches: list[dict[str, int]] = []  # uuid: size, a batch each
        size = 0
        for record in records:
            if (not self._batches or len(self._batches[-1]) == BATCH_IMAGES
                    or size + record["size"] > BATCH_BYTES):
                self._batches.append({})
                size = 0
            self._batches[-1][record["uuid"]] = record["size"]
            self._batch_of[record["uuid"]] = len(self._batches) - 1
            size += record["size"]
        self._locks = [threading.Lock() for _ in self._batches]
        self._read: dict[int, dict[str, bytes]] = {}
        self._served = True  # until the app answers that it has no such route

    def take(self, uuid: str, session: requests.Session | None = None) -> bytes | None:
        """``uuid``'s image from its batch (read now if it is the first asked for), or None:
        not in a batch, taken already, or left out by the app."""
        index = self._batch_of.pop(uuid, None)
        if index is None:
            return None
        with self._locks[index]:
            if index not in self._read:
                self._read[index] = self._fetch(self._batches[index], session)
            images = self._read[index]
            return images.pop(uuid, None)

    def _fetch(self, limits: dict[str, int], session: requests.Session | None,
               ) -> dict[str, bytes]:
        if not self._served:
            return {}
        try:
            return client.read_images(self._endpoint, limits, session=session,
                                      timeout=self._timeout)
        except client.AppNotAnswering:
            raise
        except client.FractalsAPIError as exc:
            if exc.status in (404, 405):  # an app without the route: one request each
                self._served = False
            return {}


def fetch_image(endpoint: str | None, record: Mapping[str, Any], *,
                session: requests.Session | None = None, timeout: float | None = None,
                batches: ImageBatches | None = None) -> tuple[bytes, Entry]:
    """The image from the app, checked against its record's SHA-256 and size: from its
    batch when ``batches`` has it as the record says, else read on its own."""
    uuid, size = record["uuid"], record["size"]
    data = batches.take(uuid, session) if batches is not None else None
    sha256 = None if data is None else hashlib.sha256(data).hexdigest()
    if sha256 != record["checksum"]:  # not in a batch, or not as the record says: alone
        data = client.read_image(endpoint, uuid, size, session=session, timeout=timeout)
        sha256 = hashlib.sha256(data).hexdigest()
    if sha256 != record["checksum"] or len(data) != size:
        raise VerificationError(
            f"the app sent {len(data)} bytes with SHA-256 {sha256}, but its record says "
            f"{size} bytes with {record['checksum']}; not stored"
        )
    return data, Entry(sha256, hashlib.md5(data, usedforsecurity=False).hexdigest(), len(data))


def upload_fractal(conn: swift.Connection, endpoint: str | None, container: str,
                   record: Mapping[str, Any], session: requests.Session | None = None, *,
                   timeout: float | None = None, batches: ImageBatches | None = None) -> Entry:
    """Read one image from the app, verify it, PUT it (retried when the store says "try
    again"); return what the manifest records of it."""
    data, entry = fetch_image(endpoint, record, session=session, timeout=timeout,
                              batches=batches)
    return store_image(conn, container, record, data, entry)


def store_image(conn: swift.Connection, container: str, record: Mapping[str, Any],
                data: bytes, entry: Entry) -> Entry:
    """PUT the checked image ``data`` of ``record`` with its MD5 as the expected ETag
    (retried when the store says "try again"); return ``entry``."""
    uuid = record["uuid"]
    etag = store_call(conn, f"uploading fractal {uuid}", conn.put_object, container, uuid,
                      contents=data, etag=entry.md5, content_type="image/png",
                      headers=object_metadata(record))
    if etag != entry.md5:
        try:
            conn.delete_object(container, uuid)
        except swift.ClientException as exc:
            raise VerificationError(
                f"the store's ETag {etag} is not the MD5 of the bytes sent ({entry.md5}), "
                f"and deleting the bad copy failed: {describe(exc)}"
            ) from None
        raise VerificationError(
            f"the store's ETag {etag} is not the MD5 of the bytes sent ({entry.md5}); "
            "the bad copy was deleted"
        )
    return entry


def proven_stored(record: Mapping[str, Any], listed: Listed | None,
                  known: Entry | None) -> bool:
    """Whether the container listing (``listed``) and the manifest (``known``) prove that
    the store holds the image of the app's ``record``: no need to read it."""
    return (listed is not None and known is not None and listed.hash == known.md5
            and listed.bytes == known.size == record["size"]
            and known.sha256 == record["checksum"])


def backup_fractal(conn: swift.Connection, endpoint: str | None, container: str,
                   record: Mapping[str, Any], *, listed: Listed | None = None,
                   known: Entry | None = None, session: requests.Session | None = None,
                   timeout: float | None = None,
                   batches: ImageBatches | None = None) -> Outcome:
    """Back up one (checked, rendered) fractal unless the store provably holds its image.

    ``listed`` is the container listing's entry for its uuid, ``known`` the manifest's;
    ``batches`` reads images from the app many at a time.
    Per-fractal failures are returned; :class:`Unavailable` is raised when the store or
    the app does not answer at all (the run stops).
    """
    uuid = record["uuid"]
    try:
        if proven_stored(record, listed, known):
            return Outcome(Result(uuid, Status.SKIPPED), known)
        if listed is not None:  # not provable from the manifest: hash the app's bytes
            data, entry = fetch_image(endpoint, record, session=session, timeout=timeout,
                                      batches=batches)
            if listed.hash == entry.md5 and listed.bytes == entry.size:
                return Outcome(Result(uuid, Status.SKIPPED), entry)
            entry = store_image(conn, container, record, data, entry)
        else:
            entry = upload_fractal(conn, endpoint, container, record, session,
                                   timeout=timeout, batches=batches)
        return Outcome(Result(uuid, Status.UPLOADED, entry.size), entry)
    except Unavailable:
        raise
    except client.AppNotAnswering as exc:  # every other fractal would wait as long
        raise Unavailable(f"{exc}; stopped here, nothing was lost: run the command again "
                          "once the app answers") from None
    except FirstappError as exc:
        return Outcome(Result(uuid, Status.FAILED, message=str(exc)))
    except (swift.ClientException, requests.RequestException, OSError) as exc:
        return Outcome(Result(uuid, Status.FAILED, message=f"uploading failed: {describe(exc)}"))


def listed_as_written(conn: swift.Connection, container: str,
                      written: Mapping[str, Entry]) -> set[str]:
    """The uuids of ``written`` that one container listing shows with the MD5 and size of
    the bytes sent; the others need a HEAD each (:func:`check_stored`)."""
    try:
        listing = list_objects(conn, container)
    except swift.ClientException:  # the container is gone: each HEAD will say so
        return set()
    return {uuid for uuid, entry in written.items()
            if listing.get(uuid) == Listed(entry.md5, entry.size)}


def check_stored(conn: swift.Connection, container: str, uuid: str, entry: Entry) -> str | None:
    """Why the object for ``uuid`` does not hold the bytes sent, or None (one HEAD)."""
    try:
        headers = store_call(conn, f"checking fractal {uuid}", conn.head_object, container,
                             uuid)
    except swift.ClientException as exc:
        return f"checking it after the upload failed: {describe(exc)}"
    except (requests.RequestException, OSError) as exc:
        return f"checking it after the upload failed: {describe(exc)}"
    etag = headers.get("etag", "").strip('"')
    if etag != entry.md5 or headers.get("content-length") != str(entry.size):
        return (f"after the upload the store holds {headers.get('content-length')} bytes "
                f"with ETag {etag}, not the {entry.size} bytes sent (MD5 {entry.md5})")
    return None


# --- every fractal ----------------------------------------------------------------------


# [start copy-server-side]
def copy_fractal(conn: swift.Connection, source: str, container: str,
                 record: Mapping[str, Any], *, listed: Listed | None = None,
                 known: Entry | None = None) -> Outcome:
    """Back up one fractal whose image is object ``uuid`` of the app's container
    ``source`` in the same account: a server-side COPY, checked by ETag."""
    uuid, checksum, size = record["uuid"], record["checksum"], record["size"]
    try:
        if proven_stored(record, listed, known):
            return Outcome(Result(uuid, Status.SKIPPED), known)
        headers = store_call(conn, f"reading fractal {uuid} in {source!r}",
                             conn.head_object, source, uuid)
        md5 = headers.get("etag", "").strip('"')
        if (headers.get(IMAGE_CHECKSUM) != checksum
                or headers.get("content-length") != str(size)):
            return Outcome(Result(uuid, Status.FAILED, message=(
                f"the app's container {source!r} holds {headers.get('content-length')} bytes "
                f"with checksum {headers.get(IMAGE_CHECKSUM)} for it, not the record's "
                f"{size} bytes with {checksum}; not copied")))
        entry = Entry(checksum, md5, size)
        if listed is not None and listed.hash == md5 and listed.bytes == size:
            return Outcome(Result(uuid, Status.SKIPPED), entry)
        answer: dict[str, Any] = {}
        store_call(conn, f"copying fractal {uuid}", conn.copy_object, source, uuid,
                   f"/{container}/{uuid}", headers={"Content-Type": "image/png",
                                                    **object_metadata(record)},
                   response_dict=answer)
        etag = str(answer.get("headers", {}).get("etag", md5)).strip('"')
        if etag != md5:
            raise VerificationError(f"the copy's ETag {etag} is not the app's object's {md5}")
        return Outcome(Result(uuid, Status.COPIED, 0), entry)
    except Unavailable:
        raise
    except FirstappError as exc:
        return Outcome(Result(uuid, Status.FAILED, message=str(exc)))
    except (swift.ClientException, requests.RequestException, OSError) as exc:
        return Outcome(Result(uuid, Status.FAILED, message=f"copying failed: {describe(exc)}"))
# [end copy-server-side]


def server_side_source(conn: swift.Connection, endpoint: str | None,
                       timeout: float | None) -> tuple[str | None, str | None]:
    """The app's image container when a server-side copy can reach it (same storage URL
    as ``conn``), else None; and a note saying why the images go through this client."""
    where = client.image_store(endpoint, timeout=timeout)
    if where is None or where.get("image_store") == "db":
        return None, None
    source, url = where.get("container"), where.get("storage_url")
    if not isinstance(source, str) or url != conn.url:
        return None, (f"the app keeps its images in {where.get('image_store')} at {url}, "
                      f"not in this account ({conn.url}): copying them through this client")
    return source, None


@dataclass
class BackupReport(Tally):
    """Counts of one backup run (``uploaded``, ``skipped``, ``pending``, ``refused``,
    ``failed``), ``failures`` as ``(uuid, reason)``, and ``manifest``: the entries of
    the manifest written (empty when none was)."""

    manifest: dict[str, Entry] | None = None
    #: The app's image container, when the images were copied server-side.
    source: str | None = None

    uploaded = property(lambda self: self.counts[Status.UPLOADED])
    copied = property(lambda self: self.counts[Status.COPIED])
    skipped = property(lambda self: self.counts[Status.SKIPPED])
    pending = property(lambda self: self.counts[Status.PENDING])
    refused = property(lambda self: self.counts[Status.REFUSED])
    failed = property(lambda self: self.counts[Status.FAILED])
    bytes_uploaded = property(lambda self: self.bytes)

    @property
    def failures(self) -> list[tuple[str, str]]:
        return [(name, message) for status, name, message in self.messages
                if status in (Status.FAILED, Status.REFUSED)]

    def summary(self) -> str:
        return (
            f"backup to container {self.container!r}: {self.uploaded} uploaded, "
            + (f"{self.copied} copied in the store (server-side), " if self.source else "")
            + f"{self.skipped} skipped (already stored), {self.pending} pending (not rendered), "
            f"{self.refused} refused (not uuids), {self.failed} failed; "
            f"{self.bytes_uploaded} bytes uploaded in {self.seconds:.1f} s"
            + ("" if self.stopped is None else " (stopped early)")
        )


def list_ready_and_pending(endpoint: str | None,
                           timeout: float | None = None) -> list[dict[str, Any]]:
    """Every fractal of the app, once each, in the app's order."""
    return client.list_fractals(endpoint, timeout=timeout)


def previous_manifest(conn: swift.Connection, container: str) -> dict[str, Entry]:
    """The manifest of the last backup into ``container``, or {} (none, or damaged: a
    damaged one is replaced at the end of this run)."""
    try:
        return read_manifest(conn, container) or {}
    except DamagedManifest:
        return {}


def write_manifest(conn: swift.Connection, container: str, entries: Mapping[str, Entry]) -> None:
    doing = f"writing the manifest {MANIFEST_NAME}"
    data = manifest_bytes(entries)
    try:
        store_call(conn, doing, conn.put_object, container, MANIFEST_NAME, contents=data,
                   etag=hashlib.md5(data, usedforsecurity=False).hexdigest(),
                   content_type="application/json")
    except (swift.ClientException, requests.RequestException, OSError) as exc:
        raise store_error(exc, conn, doing) from None


def backup(endpoint: str | None, conn_factory: ConnFactory, container: str,
           workers: int = DEFAULT_WORKERS, *, progress: bool = False,
           timeout: float = DEFAULT_TIMEOUT) -> BackupReport:
    """Back up every fractal of the app at ``endpoint`` into ``container``.

    Uploads run on ``workers`` threads, each with its own connection from
    ``conn_factory``; every call to the app waits at most ``timeout`` seconds for an
    answer (the connections' own timeout bounds the store's). Per-fractal failures are
    counted in the report; a failure of the whole store stops the run and is in
    ``report.stopped``; a missing app or store raises :class:`FirstappError`.
    """
    check_workers(workers)
    check_container_name(container)
    check_timeout(timeout)
    started = time.perf_counter()
    report = BackupReport(container)
    conn = conn_factory()
    try:
        records = list_ready_and_pending(endpoint, timeout)
        listing = prepare_container(conn, container)
        known = previous_manifest(conn, container)
        report.source, note = server_side_source(conn, endpoint, timeout)
        if note:
            report.notes.append(note)
    finally:
        conn.close()
    todo = []
    for record in records:
        problem = check_record(record)
        if problem is not None:
            report.add(Result(record["uuid"], Status.REFUSED, message=problem))
        elif record.get("status") != READY:
            report.add(Result(record["uuid"], Status.PENDING))
        else:
            todo.append(record)

    resources = PerThread(conn_factory)
    written: dict[str, Entry] = {}
    verified: dict[str, Entry] = {}

    batches = None if report.source is not None else ImageBatches(
        endpoint, [r for r in todo
                   if not proven_stored(r, listing.get(r["uuid"]), known.get(r["uuid"]))],
        timeout)

    def task(record: dict[str, Any]) -> Result:
        thread_conn, session = resources.get()
        uuid = record["uuid"]
        if report.source is not None:
            outcome = copy_fractal(thread_conn, report.source, container, record,
                                   listed=listing.get(uuid), known=known.get(uuid))
        else:
            outcome = backup_fractal(thread_conn, endpoint, container, record,
                                     listed=listing.get(uuid), known=known.get(uuid),
                                     session=session, timeout=timeout, batches=batches)
        if outcome.entry is not None:
            fresh = outcome.result.status in (Status.UPLOADED, Status.COPIED)
            (written if fresh else verified)[uuid] = outcome.entry
        return outcome.result

    def check(uuid: str) -> Result:
        thread_conn, _ = resources.get()
        problem = check_stored(thread_conn, container, uuid, written[uuid])
        return Result(uuid, Status.FAILED if problem else Status.UPLOADED, message=problem or "")

    def checked(result: Result) -> None:
        if result.status == Status.FAILED:
            del written[result.name]
            before = Status.COPIED if report.source is not None else Status.UPLOADED
            report.change(result.name, before, Status.FAILED, result.message)

    stopped: FirstappError | None = None
    try:
        stopped = run_pool(todo, task, workers, report.add, desc="backing up", unit="fractal",
                           progress=progress)
        confirmed: set[str] = set()
        if stopped is None and written:
            conn = conn_factory()
            try:
                confirmed = listed_as_written(conn, container, written)
            except FirstappError as exc:
                confirmed, stopped = set(), exc
            finally:
                conn.close()
        if stopped is None and set(written) - confirmed:
            stopped = run_pool(sorted(set(written) - confirmed), check, workers, checked,
                               desc="checking", unit="object", progress=progress)
        if stopped is None:
            current = {r["uuid"] for r in todo}
            entries = {**{uuid: entry for uuid, entry in known.items()  # still there, as was
                          if uuid not in current and uuid in listing
                          and listing[uuid].hash == entry.md5},
                       **verified, **written}
            conn = conn_factory()
            try:
                write_manifest(conn, container, entries)
            except FirstappError as exc:
                stopped = exc
            finally:
                conn.close()
            if stopped is None:
                report.manifest = entries
    finally:
        resources.close()
    if stopped is not None:
        report.stopped = str(stopped)
    report.seconds = time.perf_counter() - started
    return report
