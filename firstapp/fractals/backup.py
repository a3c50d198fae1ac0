"""Back up the Fractals app's images into a Swift container: ``firstapp fractals backup``.

Each rendered fractal becomes one object named by its uuid, with the record's
fields as ``X-Object-Meta-*`` metadata (:func:`object_metadata`), so that
:mod:`firstapp.fractals.restore` can rebuild the record.

How the copy stays trustworthy:

- The image streams from the app into the store (chunked transfer), hashed on
  the way. When the bytes' SHA-256 differs from the app's checksum, the upload is
  aborted before its final chunk, so Swift never stores it (a PUT is atomic).
- Swift's ETag must equal the MD5 of the bytes sent; if not, the object is deleted.
- An object already stored with the app's checksum and size is skipped. Together
  with atomic PUTs this makes a killed run resumable: running it again finishes it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from swiftclient import client as swift
from tqdm import tqdm

from firstapp.cloud.client import authenticate, not_reachable
from firstapp.errors import FirstappError
from firstapp.fractals import client
from firstapp.fractals.models import READY

#: A callable returning a new, authenticated swiftclient Connection.
ConnFactory = Callable[[], swift.Connection]

ENV_HINT = 'run `eval "$(firstapp cloud env)"` first'
DEFAULT_WORKERS = 8
CHUNK_SIZE = client.CHUNK_SIZE

META_PREFIX = "X-Object-Meta-"
#: Printable ASCII that passes through HTTP headers unchanged; everything else in a text
#: value (spaces, "%", non-ASCII) is percent-encoded, which swiftclient decodes on reading.
META_SAFE = "!#$&'()*+,-./:;<=>?@[]^_`{|}~"
#: Record fields stored as object metadata (the uuid is the object's name).
META_FIELDS = (
    "checksum", "size", "width", "height", "iterations", "xa", "xb", "ya", "yb",
    "duration", "generated_by", "created_at",
)

UPLOADED, SKIPPED, PENDING, FAILED = "uploaded", "skipped", "pending", "failed"


class VerificationError(FirstappError):
    """The bytes do not match their checksum."""


# --- credentials and connections --------------------------------------------------------


@dataclass(frozen=True)
class SwiftCredentials:
    """Swift v1 credentials: ``auth_url``, ``username``, ``password``."""

    auth_url: str
    username: str
    password: str = field(repr=False)


def credentials_from_env(environ: Mapping[str, str] | None = None) -> SwiftCredentials:
    """Read OS_AUTH_URL, OS_USERNAME and OS_PASSWORD (v1 auth, as `firstapp cloud env`)."""
    env = os.environ if environ is None else environ
    names = ("OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD")
    missing = [name for name in names if not env.get(name)]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise FirstappError(
            f"{', '.join(missing)} {verb} not set, so there are no object store credentials; "
            f"{ENV_HINT} (or export {', '.join(names)} for your cloud)"
        )
    auth_type = env.get("OS_AUTH_TYPE")
    if auth_type and auth_type != "v1password":
        raise FirstappError(
            f"OS_AUTH_TYPE={auth_type} is not supported here: this command uses Swift v1 auth "
            f"(OS_AUTH_TYPE=v1password); {ENV_HINT}"
        )
    return SwiftCredentials(env["OS_AUTH_URL"], env["OS_USERNAME"], env["OS_PASSWORD"])


def connector(creds: SwiftCredentials) -> ConnFactory:
    """Authenticate once (a mistake raises here), then make connections sharing the token."""
    storage_url, token = authenticate(creds.auth_url, creds.username, creds.password)

    def make() -> swift.Connection:
        return swift.Connection(
            authurl=creds.auth_url, user=creds.username, key=creds.password,
            preauthurl=storage_url, preauthtoken=token, retries=1, timeout=60,
        )

    return make


def connector_from_env(environ: Mapping[str, str] | None = None) -> ConnFactory:
    """:func:`connector` for the credentials in the OS_* variables."""
    return connector(credentials_from_env(environ))


def store_error(exc: Exception, what: str, url: str | None = None) -> FirstappError:
    """A clear error for a failed request to the store (outside the per-fractal work)."""
    if isinstance(exc, requests.ConnectionError) or (
        isinstance(exc, swift.ClientException) and exc.http_status is None
    ):
        return not_reachable(url or "the object store")
    if isinstance(exc, swift.ClientException):
        return FirstappError(f"{what} failed: {exc.http_status} {exc.http_reason}")
    return FirstappError(f"{what} failed: {exc}")


def check_container_name(container: str) -> None:
    if not container or "/" in container or len(container) > 256:
        raise FirstappError(
            f"invalid container name {container!r}: 1 to 256 characters, no '/'"
        )


class PerThread:
    """One swiftclient Connection and one requests Session per thread (neither is thread-safe)."""

    def __init__(self, conn_factory: ConnFactory) -> None:
        self._factory = conn_factory
        self._local = threading.local()
        self._lock = threading.Lock()
        self._made: list[tuple[swift.Connection, requests.Session]] = []

    def get(self) -> tuple[swift.Connection, requests.Session]:
        pair = getattr(self._local, "pair", None)
        if pair is None:
            pair = (self._factory(), requests.Session())
            self._local.pair = pair
            with self._lock:
                self._made.append(pair)
        return pair

    def close(self) -> None:
        with self._lock:
            for conn, session in self._made:
                conn.close()
                session.close()
            self._made.clear()


def run_pool(items: list[Any], task: Callable[[Any], Any], workers: int,
             on_result: Callable[[Any], None]) -> None:
    """Run ``task`` over ``items`` on ``workers`` threads; any exception stops the lot."""
    with ThreadPoolExecutor(workers, thread_name_prefix="firstapp") as executor:
        futures: list[Future] = [executor.submit(task, item) for item in items]
        try:
            for future in as_completed(futures):
                on_result(future.result())
        except BaseException:
            executor.shutdown(wait=True, cancel_futures=True)
            raise


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


# --- one fractal ------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What happened to one fractal: ``status`` is uploaded, skipped, pending or failed."""

    uuid: str
    status: str
    bytes: int = 0
    reason: str = ""


def already_stored(conn: swift.Connection, container: str, record: Mapping[str, Any]) -> bool:
    """True when the object exists with the app's checksum and size."""
    try:
        headers = conn.head_object(container, record["uuid"])
    except swift.ClientException as exc:
        if exc.http_status == 404:
            return False
        raise
    return (headers.get("x-object-meta-checksum") == record["checksum"]
            and headers.get("content-length") == str(record["size"]))


def upload_fractal(conn: swift.Connection, endpoint: str | None, container: str,
                   record: Mapping[str, Any], session: requests.Session | None = None) -> int:
    """Stream one image from the app into the store, verified; return the bytes sent."""
    uuid, expected = record["uuid"], record["checksum"]
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    sent = 0
    read_error: Exception | None = None

    def chunks(response: requests.Response) -> Iterator[bytes]:
        nonlocal sent, read_error
        try:
            for chunk in response.iter_content(CHUNK_SIZE):
                md5.update(chunk)
                sha256.update(chunk)
                sent += len(chunk)
                yield chunk
        except requests.RequestException as exc:
            read_error = exc  # swiftclient reports it as its own upload failure
            raise
        # Raising before the last chunk aborts the PUT: Swift stores nothing.
        if sha256.hexdigest() != expected or sent != record["size"]:
            raise VerificationError(
                f"the app sent {sent} bytes with SHA-256 {sha256.hexdigest()}, but its record "
                f"says {record['size']} bytes with {expected}; not stored"
            )

    with client.open_image(endpoint, uuid, session=session) as response:
        try:
            etag = conn.put_object(container, uuid, contents=chunks(response),
                                   content_type="image/png", headers=object_metadata(record))
        except BaseException:
            conn.close()  # an aborted request leaves the connection in an unknown state
            if read_error is not None:
                raise FirstappError(
                    f"reading the image from the app failed after {sent} of "
                    f"{record['size']} bytes ({read_error}); not stored"
                ) from None
            raise
    if etag != md5.hexdigest():
        try:
            conn.delete_object(container, uuid)
        except swift.ClientException as exc:
            raise VerificationError(
                f"the store's ETag {etag} is not the MD5 of the bytes sent "
                f"({md5.hexdigest()}), and deleting the bad copy failed: {exc}"
            ) from None
        raise VerificationError(
            f"the store's ETag {etag} is not the MD5 of the bytes sent ({md5.hexdigest()}); "
            "the bad copy was deleted"
        )
    return sent


def backup_fractal(conn: swift.Connection, endpoint: str | None, container: str,
                   record: Mapping[str, Any], *, maybe_stored: bool = True,
                   session: requests.Session | None = None) -> Outcome:
    """Back up one fractal unless it is pending or already stored; failures are returned."""
    uuid = record["uuid"]
    if record["status"] != READY:
        return Outcome(uuid, PENDING)
    try:
        if maybe_stored and already_stored(conn, container, record):
            return Outcome(uuid, SKIPPED)
        return Outcome(uuid, UPLOADED, upload_fractal(conn, endpoint, container, record, session))
    except FirstappError as exc:
        return Outcome(uuid, FAILED, reason=str(exc))
    except (swift.ClientException, requests.RequestException, OSError) as exc:
        return Outcome(uuid, FAILED, reason=transfer_error(exc))


def transfer_error(exc: Exception) -> str:
    """One line for a failed transfer: what the store or the network said."""
    if isinstance(exc, swift.ClientException):
        reason = f"{exc.http_status} {exc.http_reason}" if exc.http_status else str(exc)
        return f"the store refused it: {reason}"
    return f"transfer failed: {exc}"


# --- every fractal ----------------------------------------------------------------------


@dataclass
class BackupReport:
    """Counts of one backup run; ``failures`` lists ``(uuid, reason)``."""

    container: str
    uploaded: int = 0
    skipped: int = 0
    pending: int = 0
    failed: int = 0
    bytes_uploaded: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)
        self.bytes_uploaded += outcome.bytes
        if outcome.status == FAILED:
            self.failures.append((outcome.uuid, outcome.reason))

    def summary(self) -> str:
        return (
            f"backup to container {self.container!r}: {self.uploaded} uploaded, "
            f"{self.skipped} skipped (already stored), {self.pending} pending (not rendered), "
            f"{self.failed} failed; {self.bytes_uploaded} bytes uploaded in "
            f"{self.seconds:.1f} s"
        )


def list_ready_and_pending(endpoint: str | None) -> list[dict[str, Any]]:
    """Every fractal of the app, once each, in the app's order."""
    return client.list_fractals(endpoint)


def prepare_container(conn: swift.Connection, container: str) -> set[str]:
    """Create the container if missing; return the names of the objects it holds."""
    try:
        _, objects = conn.get_container(container, full_listing=True)
        return {obj["name"] for obj in objects}
    except swift.ClientException as exc:
        if exc.http_status != 404:
            raise store_error(exc, f"listing container {container!r}", conn.url) from None
    except requests.RequestException as exc:
        raise store_error(exc, "listing", conn.url) from None
    try:
        conn.put_container(container)
    except (swift.ClientException, requests.RequestException) as exc:
        raise store_error(exc, f"creating container {container!r}", conn.url) from None
    return set()


def backup(endpoint: str | None, conn_factory: ConnFactory, container: str,
           workers: int = DEFAULT_WORKERS, *, progress: bool = False) -> BackupReport:
    """Back up every fractal of the app at ``endpoint`` into ``container``.

    Uploads run on ``workers`` threads, each with its own connection from
    ``conn_factory``. Per-fractal failures are counted in the report; a missing
    app or store raises :class:`FirstappError`.
    """
    if workers < 1:
        raise FirstappError("--workers must be at least 1")
    check_container_name(container)
    started = time.perf_counter()
    report = BackupReport(container)
    conn = conn_factory()
    try:
        records = list_ready_and_pending(endpoint)
        stored = prepare_container(conn, container)
    finally:
        conn.close()
    todo = []
    for record in records:
        if record["status"] == READY:
            todo.append(record)
        else:
            report.add(Outcome(record["uuid"], PENDING))

    resources = PerThread(conn_factory)

    def task(record: dict[str, Any]) -> Outcome:
        thread_conn, session = resources.get()
        return backup_fractal(thread_conn, endpoint, container, record,
                              maybe_stored=record["uuid"] in stored, session=session)

    with tqdm(total=len(todo), desc="backing up", unit="fractal", disable=not progress) as bar:
        def done(outcome: Outcome) -> None:
            report.add(outcome)
            bar.update(1)

        try:
            run_pool(todo, task, workers, done)
        finally:
            resources.close()
    report.seconds = time.perf_counter() - started
    return report
