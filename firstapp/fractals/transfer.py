"""What backup and restore share: store connections, checks of names and inputs, the
manifest, a worker pool that stops on a store-wide failure, retries, and outcome counts.

Every call to the store is bounded: connections are made with a connect and a read
timeout, swiftclient does not retry on its own (a hung store would cost a timeout per
retry), and :func:`store_call` retries only answers that say "try again" (5xx other
than 507). A timeout, a refused connection or a full store (507) is a
:class:`StoreUnavailable`, and an app that does not answer an :class:`Unavailable`: the
pool stops, since every other item would fail the same way.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import uuid as uuidlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

import requests
import urllib3
from swiftclient import client as swift
from tqdm import tqdm

from firstapp.cloud.client import not_reachable
from firstapp.errors import FirstappError, printable

#: A callable returning a new, authenticated swiftclient Connection.
ConnFactory = Callable[[], swift.Connection]
T = TypeVar("T")

#: Transfers at a time: a backup needs about as many requests in flight as the store's
#: ceiling in bench/backup.py (16) to keep a 2-process local Swift busy; 8 left it idle.
DEFAULT_WORKERS = 16
#: Seconds to wait for each answer from the store or the app (``--timeout``).
DEFAULT_TIMEOUT = 30.0
#: Extra attempts for an answer that says "try again" (500, 502, 503, 504).
RETRIES = 2
RETRY_BACKOFF = 0.5
#: Container names both stores accept, in bytes of UTF-8: Ceph's RADOS Gateway refuses
#: names under 3 bytes (400 InvalidBucketName) and over 255, Swift over 256.
MIN_CONTAINER_BYTES = 3
MAX_CONTAINER_BYTES = 255

#: The object holding a backup's manifest: a name no uuid can have.
MANIFEST_NAME = ".firstapp-backup-manifest.json"
MANIFEST_FORMAT = "firstapp-fractals-backup"
MANIFEST_VERSION = 1
_HEX = {"sha256": re.compile(r"^[0-9a-f]{64}$"), "md5": re.compile(r"^[0-9a-f]{32}$")}


class Status(StrEnum):
    """What happened to one fractal or object."""

    UPLOADED = "uploaded"
    RESTORED = "restored"
    MOVED = "moved"
    COPIED = "copied"
    SKIPPED = "skipped"
    PENDING = "pending"
    CONFLICT = "conflict"
    IGNORED = "ignored"
    REFUSED = "refused"
    MISSING = "missing"
    FAILED = "failed"


#: Statuses that make a run's exit status non-zero.
PROBLEMS = frozenset({Status.CONFLICT, Status.REFUSED, Status.MISSING, Status.FAILED})


@dataclass(frozen=True)
class Result:
    """The outcome for one item: its ``name`` (uuid or object name), ``status``, bytes moved,
    and a message for anything but plain success."""

    name: str
    status: Status
    bytes: int = 0
    message: str = ""


class Unavailable(FirstappError):
    """The store or the app as a whole failed: the run stops, since every other item
    would fail the same way."""


class StoreUnavailable(Unavailable):
    """The store as a whole failed: no answer in time, connection refused, full.

    ``reason`` says what failed; the message adds ``advice`` for a run that stops there (the
    app, which goes on serving, reports the ``reason`` alone)."""

    def __init__(self, reason: str, advice: str = "stopped here, nothing was lost") -> None:
        super().__init__(f"{reason}; {advice}")
        self.reason = reason


# --- credentials and connections --------------------------------------------------------


@dataclass(frozen=True)
class SwiftCredentials:
    """Swift v1 credentials: ``auth_url``, ``username``, ``password``."""

    auth_url: str
    username: str
    password: str = field(repr=False)


def connector(creds: SwiftCredentials, timeout: float = DEFAULT_TIMEOUT) -> ConnFactory:
    """Sign in once with Swift v1 credentials (a mistake raises here), then make
    connections sharing the session, each with a connect timeout and a read timeout of
    ``timeout`` seconds, and no retries of their own (:func:`store_call` retries what is
    worth retrying)."""
    from firstapp.fractals import connection  # openstacksdk's config: only to sign in

    return connection.from_values(timeout, auth_type="v1password", auth={
        "auth_url": creds.auth_url, "username": creds.username, "password": creds.password})


def connector_from_env(timeout: float = DEFAULT_TIMEOUT) -> ConnFactory:
    """:func:`connector` for the cloud the ``openstack`` command would use: the clouds.yaml
    entry OS_CLOUD names, else the OS_* variables (Keystone v3, or Swift v1 auth)."""
    from firstapp.fractals import connection

    return connection.from_env(timeout)


def _read_timeout(conn: swift.Connection) -> str:
    limit = conn.timeout[1] if isinstance(conn.timeout, tuple) else conn.timeout
    return f"{limit:g} s" if limit else "its timeout"


def store_unavailable(exc: BaseException, conn: swift.Connection,
                      doing: str) -> StoreUnavailable | None:
    """The :class:`StoreUnavailable` behind ``exc`` (raised by a call made while ``doing``),
    or None when it concerns one object only."""
    url = conn.url or "the object store"
    cause = exc.args[0] if isinstance(exc, requests.ConnectionError) and exc.args else None
    if isinstance(exc, requests.Timeout) or isinstance(cause, urllib3.exceptions.TimeoutError):
        return StoreUnavailable(
            f"the object store at {url} did not answer within {_read_timeout(conn)} while "
            f"{doing} (is it overloaded, or stopped?)",
            "stopped here, nothing was lost: run the command again once the store answers",
        )
    if isinstance(exc, requests.ConnectionError | ConnectionError) or (
        isinstance(exc, swift.ClientException) and exc.http_status is None
    ):
        reason = not_reachable(url)
        return StoreUnavailable(f"{reason} (while {doing})")
    if isinstance(exc, swift.ClientException) and exc.http_status == 507:
        return StoreUnavailable(
            f"the store is full: the object store at {url} answered 507 Insufficient Storage "
            f"while {doing}",
            "stopped here, nothing was lost: free space in the store (or use another), then "
            "run the command again",
        )
    return None


def store_error(exc: BaseException, conn: swift.Connection, doing: str) -> FirstappError:
    """A clear error for a request to the store that failed while ``doing``."""
    unavailable = store_unavailable(exc, conn, doing)
    if unavailable is not None:
        return unavailable
    return FirstappError(f"{doing} failed: {describe(exc)}")


def describe(exc: BaseException) -> str:
    """What the store or the network said, in one line, for any failure of a transfer."""
    if isinstance(exc, swift.ClientException):
        if exc.http_status:
            return f"the store answered {exc.http_status} {exc.http_reason}"
        return f"the store failed: {exc.msg}"
    return f"{type(exc).__name__}: {exc}"


def store_call(conn: swift.Connection, doing: str, call: Callable[..., T], *args: Any,
               **kwargs: Any) -> T:
    """``call(*args, **kwargs)`` (a method of ``conn``), retried after a "try again" answer.

    Raises :class:`StoreUnavailable` when the store as a whole failed; other failures
    (404, 422, a 503 that outlasted the retries) are raised as they came.
    """
    for attempt in range(RETRIES + 1):
        try:
            return call(*args, **kwargs)
        except (swift.ClientException, requests.RequestException, OSError) as exc:
            unavailable = store_unavailable(exc, conn, doing)
            if unavailable is not None:
                conn.close()
                raise unavailable from None
            retry = (isinstance(exc, swift.ClientException)
                     and exc.http_status in (500, 502, 503, 504) and attempt < RETRIES)
            if not retry:
                raise
            conn.close()  # a fresh connection for the next attempt
            time.sleep(RETRY_BACKOFF * 2 ** attempt)
    raise AssertionError("unreachable")


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


def run_pool(items: Iterable[Any], task: Callable[[Any], Result], workers: int,
             on_result: Callable[[Result], None], *, desc: str, unit: str,
             progress: bool) -> Unavailable | None:
    """Run ``task`` over ``items`` on ``workers`` threads, with a progress bar on stderr.

    Returns None once every item is done, or the :class:`Unavailable` a task raised:
    the items not started yet are dropped, those running finish (each call is bounded by
    its timeout) and are reported. Any other exception stops the lot and is raised.
    """
    items = list(items)
    stopped: Unavailable | None = None
    stopping = threading.Event()

    def guarded(item: Any) -> Result | None:
        if stopping.is_set():  # the store failed meanwhile: do not start anything new
            return None
        try:
            return task(item)
        except Unavailable:
            stopping.set()
            raise

    with tqdm(total=len(items), desc=desc, unit=unit, disable=not progress) as bar, \
            ThreadPoolExecutor(workers, thread_name_prefix="firstapp") as executor:
        futures: list[Future] = [executor.submit(guarded, item) for item in items]
        seen: set[Future] = set()

        def report(future: Future) -> None:
            seen.add(future)
            result = future.result()
            if result is not None:
                on_result(result)
                bar.update(1)

        try:
            for future in as_completed(futures):
                try:
                    report(future)
                except Unavailable as exc:
                    stopped = exc
                    break
        except BaseException:
            stopping.set()
            executor.shutdown(wait=True, cancel_futures=True)
            raise
        if stopped is not None:
            executor.shutdown(wait=True, cancel_futures=True)
            for future in futures:
                if future not in seen and future.done() and not future.cancelled():
                    with contextlib.suppress(Unavailable):
                        report(future)
    return stopped


# --- checks of input --------------------------------------------------------------------


def check_workers(workers: int) -> None:
    if workers < 1:
        raise FirstappError(f"--workers must be at least 1 (got {workers})")


def check_timeout(timeout: float) -> None:
    if not timeout > 0:  # also refuses NaN
        raise FirstappError(f"--timeout must be a number of seconds above 0 (got {timeout})")


def check_container_name(container: str, given_as: str = "--container NAME") -> None:
    """A clear error unless ``container`` is a name both Swift and Ceph's RADOS Gateway
    accept: 3 to 255 bytes of valid UTF-8, without '/'. ``given_as``: how a user passes it."""
    if not container:
        raise FirstappError(f"the container name is empty; pass {given_as}")
    try:
        size = len(container.encode("utf-8"))
    except UnicodeEncodeError:
        raise FirstappError(
            f"the container name '{printable(container)}' is not valid UTF-8 (it came from "
            "undecodable bytes); use a name in your terminal's UTF-8 encoding"
        ) from None
    if not MIN_CONTAINER_BYTES <= size <= MAX_CONTAINER_BYTES:
        raise FirstappError(
            f"the container name is {size} bytes of UTF-8; use {MIN_CONTAINER_BYTES} to "
            f"{MAX_CONTAINER_BYTES} (Ceph's RADOS Gateway refuses shorter names, Swift and "
            "Ceph longer ones)"
        )
    if "/" in container:
        raise FirstappError(
            f"the container name '{printable(container)}' contains '/', which Swift does not "
            "allow in container names"
        )


def canonical_uuid(text: Any) -> str | None:
    """``text`` if it is a uuid in canonical form (36 characters, lower-case hex and
    hyphens), else None: only such names ever become object names."""
    if not isinstance(text, str) or len(text) != 36:
        return None
    try:
        return text if str(uuidlib.UUID(text)) == text else None
    except ValueError:
        return None


def upper_case_uuid(text: str) -> str | None:
    """The canonical form of ``text`` when it is a uuid that differs from it only by case."""
    lower = text.lower()
    return lower if lower != text and canonical_uuid(lower) else None


# --- the manifest -----------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """What the manifest records of one fractal's object."""

    sha256: str
    md5: str
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "md5": self.md5, "size": self.size}


def manifest_bytes(entries: Mapping[str, Entry]) -> bytes:
    """The manifest object's body: JSON naming every uuid with its SHA-256, MD5 and size."""
    body = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "count": len(entries),
        "objects": {name: entries[name].as_dict() for name in sorted(entries)},
    }
    return json.dumps(body, indent=1).encode()


class DamagedManifest(FirstappError):
    """The manifest object exists but is not one this program wrote."""


def parse_manifest(data: bytes) -> dict[str, Entry]:
    """The entries of a manifest; :class:`DamagedManifest` when it is not one."""
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DamagedManifest(f"it is not JSON ({exc})") from None
    if not (isinstance(body, dict) and body.get("format") == MANIFEST_FORMAT
            and isinstance(body.get("objects"), dict)):
        raise DamagedManifest(f"it is not a {MANIFEST_FORMAT} manifest")
    if body.get("version") != MANIFEST_VERSION:
        raise DamagedManifest(f"its version {body.get('version')!r} is not "
                              f"{MANIFEST_VERSION}; a newer firstapp wrote it?")
    entries = {}
    for name, entry in body["objects"].items():
        if not (canonical_uuid(name) and isinstance(entry, dict)
                and all(isinstance(entry.get(k), str) and pattern.match(entry[k])
                        for k, pattern in _HEX.items())
                and isinstance(entry.get("size"), int) and entry["size"] >= 0):
            raise DamagedManifest(f"its entry {printable(str(name))!r} is not valid")
        entries[name] = Entry(entry["sha256"], entry["md5"], entry["size"])
    return entries


def read_manifest(conn: swift.Connection, container: str) -> dict[str, Entry] | None:
    """The container's manifest, or None when it has none; :class:`DamagedManifest`
    when it is not valid, :class:`StoreUnavailable` when the store failed."""
    try:
        _, data = store_call(conn, "reading the backup's manifest", conn.get_object,
                             container, MANIFEST_NAME)
    except swift.ClientException as exc:
        if exc.http_status == 404:
            return None
        raise store_error(exc, conn, "reading the backup's manifest") from None
    except (requests.RequestException, OSError) as exc:
        raise store_error(exc, conn, "reading the backup's manifest") from None
    return parse_manifest(data)


@dataclass(frozen=True)
class Listed:
    """One object of a container listing: its ETag (``hash``) and size."""

    hash: str
    bytes: int


def list_objects(conn: swift.Connection, container: str) -> dict[str, Listed]:
    """Every object in ``container`` (one listing, which carries each ETag) but the
    manifest. A missing container raises swiftclient's 404 ClientException."""
    doing = f"listing container {container!r}"
    try:
        _, objects = store_call(conn, doing, conn.get_container, container, full_listing=True)
    except swift.ClientException as exc:
        if exc.http_status == 404:
            raise
        raise store_error(exc, conn, doing) from None
    except (requests.RequestException, OSError) as exc:
        raise store_error(exc, conn, doing) from None
    return {obj["name"]: Listed(str(obj.get("hash", "")), int(obj.get("bytes", -1)))
            for obj in objects if obj.get("name") != MANIFEST_NAME and "name" in obj}


def prepare_container(conn: swift.Connection, container: str) -> dict[str, Listed]:
    """Create the container if missing; return its listing (name -> ETag and size)."""
    try:
        return list_objects(conn, container)
    except swift.ClientException as exc:
        if exc.http_status != 404:
            raise store_error(exc, conn, f"listing container {container!r}") from None
    doing = f"creating container {container!r}"
    try:
        store_call(conn, doing, conn.put_container, container)
    except (swift.ClientException, requests.RequestException, OSError) as exc:
        raise store_error(exc, conn, doing) from None
    return {}



# --- counting outcomes ------------------------------------------------------------------


@dataclass
class Tally:
    """Counts of a run's outcomes, bytes moved and the messages to show.

    ``stopped`` holds the reason when the store failed and the run stopped early.
    """

    container: str
    counts: Counter[Status] = field(default_factory=Counter)
    bytes: int = 0
    seconds: float = 0.0
    messages: list[tuple[Status, str, str]] = field(default_factory=list)  # status, name, why
    notes: list[str] = field(default_factory=list)
    stopped: str | None = None

    @property
    def ok(self) -> bool:
        """Nothing failed, conflicted, was refused or missing, and the run was not stopped."""
        return self.stopped is None and not any(self.counts[s] for s in PROBLEMS)

    def add(self, result: Result) -> None:
        self.counts[result.status] += 1
        self.bytes += result.bytes
        if result.message:
            self.messages.append((result.status, result.name, result.message))

    def change(self, name: str, old: Status, new: Status, message: str) -> None:
        """Count an item first counted as ``old`` as ``new`` (a check after the fact)."""
        self.counts[old] -= 1
        self.counts[new] += 1
        self.messages.append((new, name, message))

    def lines(self) -> list[str]:
        """The per-item lines for stderr (``failed: <name>: <why>``...), escaped."""
        labels = {Status.IGNORED: "warning"}
        return ([printable(f"warning: {note}") for note in self.notes]
                + [printable(f"{labels.get(status, status.value)}: {name}: {message}")
                   for status, name, message in self.messages])
