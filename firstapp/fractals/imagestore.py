"""Where the Fractals app keeps its images: in its database, or in a Swift container.

``--image-store db`` (the default) keeps each PNG in the ``image`` column of its record,
as the original faafo did. ``--image-store swift://CONTAINER`` keeps the records in the
database and each image as one object of ``CONTAINER``, named by the fractal's uuid, with
its content type and its SHA-256 (``X-Object-Meta-Checksum``) beside it. The Swift store
signs in with the same settings as backup (:mod:`firstapp.fractals.connection`: OS_CLOUD
or the OS_* variables, Swift's v1 auth or Keystone), and every call it makes is bounded
by a connect and a read timeout (:func:`firstapp.fractals.transfer.store_call`).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
from keystoneauth1 import exceptions as ksa
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from swiftclient import client as swift

from firstapp.errors import FirstappError
from firstapp.fractals import transfer
from firstapp.fractals.models import Fractal

#: The default image store: the app's database.
DATABASE = "db"
SWIFT_SCHEME = "swift://"
#: Seconds the app waits for any answer from its image store (``--image-store-timeout``).
DEFAULT_STORE_TIMEOUT = 10.0
#: Bytes read from the store at a time while an image is streamed to a client.
CHUNK_SIZE = 64 * 1024
CONTENT_TYPE = "image/png"
#: The object metadata holding the image's SHA-256 (hex), as the app's ``checksum``.
CHECKSUM_HEADER = "X-Object-Meta-Checksum"


class ImageStoreDown(FirstappError):
    """The image store as a whole did not answer (in time), or refused to store: the
    request is answered 503 and a render is tried again later."""


class ImageMissing(FirstappError):
    """The store answered, but does not hold the image the record describes."""


@dataclass
class StoredImage:
    """An image on its way out of a store: its ``size`` and its bytes in ``chunks``;
    ``close`` releases what reading it holds (call it when done, read to the end or not)."""

    size: int
    chunks: Iterator[bytes]
    close: Callable[[], None]


def parse_image_store(spec: str, option: str = "--image-store") -> tuple[str, str | None]:
    """``("db", None)`` or ``("swift", CONTAINER)`` for ``--image-store`` (or another
    ``option``); a FirstappError saying what is accepted otherwise."""
    if spec in (DATABASE, "database"):
        return DATABASE, None
    if spec.startswith(SWIFT_SCHEME):
        container = spec[len(SWIFT_SCHEME):]
        try:
            transfer.check_container_name(container, f"{option} {SWIFT_SCHEME}CONTAINER")
        except FirstappError as exc:
            raise FirstappError(f"{option} {spec}: {exc}") from None
        return "swift", container
    raise FirstappError(f"{option} {spec!r}: use db (the app's database, the default) "
                        "or swift://CONTAINER (a container of the object store that "
                        "OS_CLOUD or the OS_* variables name)")


class ImageStore(ABC):
    """One place the app's images live."""

    #: ``--image-store`` as given: ``db`` or ``swift://CONTAINER``.
    spec: str

    @abstractmethod
    def save(self, uuid: str, image: bytes, checksum: str) -> dict[str, Any]:
        """Store ``image`` (SHA-256 ``checksum``) as fractal ``uuid``'s; return the record's
        columns that go with it. Raises :class:`ImageStoreDown` when it could not."""

    @abstractmethod
    def open(self, uuid: str, checksum: str) -> StoredImage:
        """The stored image of ``uuid``, whose record says ``checksum``; raises
        :class:`ImageStoreDown` or :class:`ImageMissing`."""

    @abstractmethod
    def delete(self, uuid: str) -> None:
        """Forget ``uuid``'s image (nothing when it has none)."""

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/image-store`` answers: where the images are."""
        return {"image_store": self.spec}

    def close(self) -> None:  # noqa: B027 (a store without connections has nothing to do)
        """Release connections."""


class DatabaseImages(ImageStore):
    """Images in the ``image`` column of their records (faafo's way, the default)."""

    spec = DATABASE

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def save(self, uuid: str, image: bytes, checksum: str) -> dict[str, Any]:
        return {"image": image}  # written with the record, in the same transaction

    def open(self, uuid: str, checksum: str) -> StoredImage:
        with self._sessions() as session:
            image = session.scalar(select(Fractal.image).where(Fractal.uuid == uuid))
        if image is None:
            raise ImageMissing(f"the database holds no image for fractal {uuid} (moved to an "
                               "object store? serve with --image-store swift://CONTAINER)")
        return StoredImage(len(image), iter([image]), lambda: None)

    def delete(self, uuid: str) -> None:
        pass  # deleting the record deleted the image


class SwiftImages(ImageStore):
    """Images as objects of one Swift container, named by uuid.

    ``conn_factory`` makes authenticated python-swiftclient connections, each with its
    timeouts (:func:`firstapp.fractals.connection.connector`); one is kept per thread.
    """

    def __init__(self, container: str, conn_factory: transfer.ConnFactory) -> None:
        self.container = container
        self.spec = SWIFT_SCHEME + container
        self._connections = transfer.PerThread(conn_factory)
        self.storage_url = self._conn().url or ""

    def _conn(self) -> swift.Connection:
        return self._connections.get()[0]

    def _call(self, doing: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """One call to the store (:func:`~firstapp.fractals.transfer.store_call`: retried
        after "try again"); a store that does not answer, refuses the connection, is full
        or keeps failing (5xx) raises :class:`ImageStoreDown`."""
        conn = self._conn()
        try:
            return transfer.store_call(conn, doing, getattr(conn, method), *args, **kwargs)
        except transfer.StoreUnavailable as exc:
            raise ImageStoreDown(exc.reason) from None
        except ksa.ClientException as exc:  # signing in again failed
            conn.close()
            raise ImageStoreDown(f"signing in to the object store failed while {doing}: "
                                 f"{exc}") from None
        except swift.ClientException as exc:
            if exc.http_status is not None and exc.http_status >= 500:
                raise ImageStoreDown(f"the object store at {conn.url} answered "
                                     f"{exc.http_status} {exc.http_reason} while {doing}"
                                     ) from None
            raise

    def ensure_container(self) -> None:
        """Create the container unless it exists (a FirstappError when the store refuses)."""
        doing = f"creating container {self.container!r}"
        try:
            self._call(doing, "head_container", self.container)
        except swift.ClientException as exc:
            if exc.http_status != 404:
                raise FirstappError(f"{doing} failed: {transfer.describe(exc)}") from None
            try:
                self._call(doing, "put_container", self.container)
            except swift.ClientException as exc:
                raise FirstappError(f"{doing} failed: {transfer.describe(exc)}") from None

    # [start store-image]
    def save(self, uuid: str, image: bytes, checksum: str) -> dict[str, Any]:
        """PUT the image as object ``uuid``; Swift checks the body against its MD5."""
        md5 = hashlib.md5(image, usedforsecurity=False).hexdigest()
        doing = f"storing fractal {uuid}"
        headers = {CHECKSUM_HEADER: checksum}
        try:
            etag = self._call(doing, "put_object", self.container, uuid, contents=image,
                              etag=md5, content_type=CONTENT_TYPE, headers=headers)
        except swift.ClientException as exc:
            if exc.http_status != 404:  # 404: the container was deleted meanwhile
                raise ImageStoreDown(f"{doing} failed: {transfer.describe(exc)}") from None
            self.ensure_container()
            etag = self._call(doing, "put_object", self.container, uuid, contents=image,
                              etag=md5, content_type=CONTENT_TYPE, headers=headers)
        if etag != md5:
            raise ImageStoreDown(f"{doing}: the store's ETag {etag} is not the MD5 of the "
                                 f"image ({md5})")
        return {"image": None}  # the database keeps the record only
    # [end store-image]

    # [start open-image]
    def open(self, uuid: str, checksum: str) -> StoredImage:
        """Start reading object ``uuid``: its headers now, its bytes as they are read."""
        try:
            headers, body = self._call(f"reading fractal {uuid}", "get_object",
                                       self.container, uuid, resp_chunk_size=CHUNK_SIZE)
        except swift.ClientException as exc:
            raise ImageMissing(f"the image store {self.spec} does not hold fractal {uuid}'s "
                               f"image: {transfer.describe(exc)}") from None
        stored = headers.get(CHECKSUM_HEADER.lower())
        if stored != checksum:  # never serve bytes under another image's ETag
            body.close()
            raise ImageMissing(f"the object {uuid} in {self.spec} holds an image with "
                               f"checksum {stored}, not the record's {checksum}")
        return StoredImage(int(headers["content-length"]), iter(body), body.close)
    # [end open-image]

    def delete(self, uuid: str) -> None:
        try:
            self._call(f"deleting fractal {uuid}", "delete_object", self.container, uuid)
        except swift.ClientException as exc:
            if exc.http_status != 404:
                raise ImageStoreDown(f"deleting fractal {uuid}'s image failed: "
                                     f"{transfer.describe(exc)}") from None
        except (requests.RequestException, OSError) as exc:
            raise ImageStoreDown(f"deleting fractal {uuid}'s image failed: {exc}") from None

    def describe(self) -> dict[str, Any]:
        return {"image_store": self.spec, "container": self.container,
                "storage_url": self.storage_url}

    def close(self) -> None:
        self._connections.close()


def open_image_store(spec: str, sessions: sessionmaker[Session] | None, *,
                     timeout: float = DEFAULT_STORE_TIMEOUT,
                     conn_factory: transfer.ConnFactory | None = None) -> ImageStore:
    """The image store ``spec`` names (see :func:`parse_image_store`). For Swift, signs in
    (from OS_CLOUD or the OS_* variables unless ``conn_factory`` is given, every call
    bounded by ``timeout`` seconds) and creates the container if missing; a FirstappError
    in one line when the store cannot be used."""
    kind, container = parse_image_store(spec)
    if kind == DATABASE:
        if sessions is None:
            raise ValueError("the database image store needs the app's sessions")
        return DatabaseImages(sessions)
    assert container is not None
    transfer.check_timeout(timeout)
    store = SwiftImages(container, conn_factory or transfer.connector_from_env(timeout))
    try:
        store.ensure_container()
    except ImageStoreDown as exc:
        store.close()
        raise FirstappError(f"the image store {spec} cannot be used: {exc}") from None
    except BaseException:
        store.close()
        raise
    return store
