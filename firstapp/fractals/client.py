"""A small client for the Fractals app's API, for the CLI, backup/restore and the tutorial.

Every function takes the app's base URL first; ``None`` means
:func:`default_endpoint`. Failures raise :class:`FractalsAPIError` (a
:class:`~firstapp.errors.FirstappError`) with a message meant for people.
"""

from __future__ import annotations

import os
import tarfile
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import requests
import urllib3
from tqdm import tqdm

from firstapp.errors import FirstappError
from firstapp.fractals.defaults import DEFAULT_ENDPOINT
from firstapp.fractals.params import FractalParams, seeded_params

#: Page size used when iterating (the API's maximum).
PAGE_SIZE = 100
CHUNK_SIZE = 64 * 1024
#: Seconds to wait for a connection to the app, and then for each read from it.
CONNECT_TIMEOUT = 5.0
TIMEOUT = 30.0


class FractalsAPIError(FirstappError):
    """The app answered with an error (``status`` is the HTTP status) or not at all (0)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class AppNotAnswering(FractalsAPIError):
    """Nothing answered at the app's address, or not within the timeout."""


def default_endpoint() -> str:
    """``$FRACTALS_ENDPOINT``, or ``http://127.0.0.1:8081``."""
    return os.environ.get("FRACTALS_ENDPOINT") or DEFAULT_ENDPOINT


def _base(endpoint: str | None) -> str:
    return (endpoint or default_endpoint()).rstrip("/")


def timeouts(timeout: float | None) -> tuple[float, float]:
    """``(connect, read)`` timeouts for requests: ``timeout`` (default :data:`TIMEOUT`)
    bounds each read, and the connection too when it is shorter than CONNECT_TIMEOUT."""
    read = TIMEOUT if timeout is None else timeout
    return min(CONNECT_TIMEOUT, read), read


def _request(method: str, endpoint: str | None, path: str,
             session: requests.Session | None = None, *, timeout: float | None = None,
             **kwargs: Any) -> requests.Response:
    base = _base(endpoint)
    limits = timeouts(timeout)
    try:
        response = (session or requests).request(method, base + path, timeout=limits,
                                                 **kwargs)
    except requests.Timeout:
        raise AppNotAnswering(
            f"the Fractals app at {base} did not answer {method} {path} within {limits[1]:g} s "
            "(is it overloaded, or stopped?)"
        ) from None
    except requests.ConnectionError:
        raise AppNotAnswering(
            f"the Fractals app is not running at {base}; "
            "start it with `firstapp fractals serve` (or pass --endpoint)"
        ) from None
    except requests.RequestException as exc:
        raise FractalsAPIError(f"{method} {base}{path} failed: {exc}") from None
    if response.status_code >= 400:
        try:
            message = response.json()["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        response.close()
        raise FractalsAPIError(
            f"{method} {base}{path}: {response.status_code} {message}", response.status_code
        )
    return response


def _json(response: requests.Response, endpoint: str | None, what: str) -> Any:
    """The response's JSON body, or a clear error naming the app and what was asked."""
    try:
        return response.json()
    except (ValueError, requests.RequestException) as exc:
        raise FractalsAPIError(
            f"the Fractals app at {_base(endpoint)} answered {what} "
            f"with something that is not JSON ({response.headers.get('Content-Type')!r}, "
            f"{exc.__class__.__name__}); is --endpoint a Fractals app?"
        ) from None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def list_page(endpoint: str | None, page: int = 1, results_per_page: int = PAGE_SIZE, *,
              session: requests.Session | None = None,
              timeout: float | None = None) -> dict[str, Any]:
    """One page of the listing: ``num_results``, ``page``, ``total_pages``, ``objects``.

    A page that is not shaped like the API's (counts, a list of records each with a
    text ``uuid``) raises :class:`FractalsAPIError`.
    """
    params = {"page": page, "results_per_page": results_per_page}
    listing = _json(_request("GET", endpoint, "/v1/fractal", session, params=params,
                             timeout=timeout), endpoint, "the listing")
    if not (isinstance(listing, dict)
            and all(_is_count(listing.get(key)) for key in ("num_results", "total_pages"))
            and isinstance(listing.get("objects"), list)
            and all(isinstance(r, dict) and isinstance(r.get("uuid"), str)
                    for r in listing["objects"])):
        raise FractalsAPIError(
            f"the Fractals app at {_base(endpoint)} answered the listing with JSON that is "
            "not a Fractals listing (num_results, total_pages, objects with uuids); "
            "is --endpoint a Fractals app?"
        )
    return listing


def iter_pages(endpoint: str | None, *, results_per_page: int = PAGE_SIZE,
               session: requests.Session | None = None,
               timeout: float | None = None) -> Iterator[dict[str, Any]]:
    """Every page of the listing, from page 1 up to ``total_pages``."""
    page = 1
    while True:
        listing = list_page(endpoint, page, results_per_page, session=session, timeout=timeout)
        yield listing
        if page >= listing["total_pages"]:
            return
        page += 1


def iter_fractals(endpoint: str | None, *, results_per_page: int = PAGE_SIZE,
                  session: requests.Session | None = None) -> Iterator[dict[str, Any]]:
    """Every fractal record, reading page after page up to ``total_pages``."""
    for listing in iter_pages(endpoint, results_per_page=results_per_page, session=session):
        yield from listing["objects"]


LISTING_ATTEMPTS = 5


def list_fractals(endpoint: str | None, *, results_per_page: int = PAGE_SIZE,
                  session: requests.Session | None = None,
                  timeout: float | None = None) -> list[dict[str, Any]]:
    """Every fractal record exactly once, even while fractals come and go.

    The API pages by offset, so a fractal created or deleted while the pages are read
    shifts the rest: one could be missed, another seen twice. The listing is read until
    two readings in a row agree and each holds together (one total on every page, and
    that many different uuids).
    """
    previous: dict[str, dict[str, Any]] | None = None
    for _ in range(LISTING_ATTEMPTS):
        records: dict[str, dict[str, Any]] = {}
        totals = set()
        for listing in iter_pages(endpoint, results_per_page=results_per_page,
                                  session=session, timeout=timeout):
            totals.add(listing["num_results"])
            for record in listing["objects"]:
                records.setdefault(record["uuid"], record)
        whole = totals == {len(records)}
        if whole and previous is not None and previous.keys() == records.keys():
            return list(records.values())
        previous = records if whole else None
    raise FirstappError(
        f"the Fractals app's list of fractals kept changing while it was read "
        f"({LISTING_ATTEMPTS} times); try again when fewer fractals are being created or "
        "deleted"
    )


def get_fractal(endpoint: str | None, uuid: str, *,
                session: requests.Session | None = None) -> dict[str, Any]:
    """One fractal's record."""
    return _json(_request("GET", endpoint, f"/v1/fractal/{uuid}", session), endpoint, "a record")


def image_store(endpoint: str | None, *, timeout: float | None = None) -> dict[str, Any] | None:
    """Where the app keeps its images (``GET /v1/image-store``): ``{"image_store": "db"}``
    or ``{"image_store": "swift://C", "container": C, "storage_url": URL}``; None for an
    app that does not say (faafo, or an older version of this app)."""
    try:
        answer = _json(_request("GET", endpoint, "/v1/image-store", timeout=timeout),
                       endpoint, "where its images are")
    except FractalsAPIError as exc:
        if exc.status in (404, 405):
            return None
        raise
    return answer if isinstance(answer, dict) and isinstance(
        answer.get("image_store"), str) else None


def delete_fractal(endpoint: str | None, uuid: str, *,
                   session: requests.Session | None = None) -> None:
    """Delete one fractal."""
    _request("DELETE", endpoint, f"/v1/fractal/{uuid}", session).close()


def open_image(endpoint: str | None, uuid: str, *, session: requests.Session | None = None,
               timeout: float | None = None) -> requests.Response:
    """The image download as a streaming response; use it in a ``with`` block.

    ``response.raw`` is a file-like object, ``response.iter_content(CHUNK_SIZE)``
    yields chunks, and the ``ETag`` header holds the checksum.
    """
    return _request("GET", endpoint, f"/fractal/{uuid}", session, stream=True,
                    timeout=timeout)


def read_image(endpoint: str | None, uuid: str, limit: int, *,
               session: requests.Session | None = None, timeout: float | None = None) -> bytes:
    """The image's bytes, read into memory, at most ``limit`` of them (more raises
    :class:`FractalsAPIError`, as does a connection that drops or stalls midway)."""
    data = bytearray()
    with open_image(endpoint, uuid, session=session, timeout=timeout) as response:
        try:
            for chunk in response.iter_content(CHUNK_SIZE):
                data += chunk
                if len(data) > limit:
                    raise FractalsAPIError(
                        f"the Fractals app sent more than the {limit} bytes its record "
                        f"gives for fractal {uuid}"
                    )
        except requests.RequestException as exc:
            raise FractalsAPIError(
                f"reading the image of fractal {uuid} from the Fractals app at "
                f"{_base(endpoint)} failed after {len(data)} bytes ({exc.__class__.__name__}: "
                f"{exc})"
            ) from None
    return bytes(data)


def read_images(endpoint: str | None, limits: Mapping[str, int], *,
                session: requests.Session | None = None,
                timeout: float | None = None) -> dict[str, bytes]:
    """The images of the fractals ``limits`` names (uuid: at most that many bytes), read in
    one request (``GET /v1/fractal-images``, at most :data:`PAGE_SIZE` of them): those the
    app left out (not rendered, unknown) are missing from the answer.

    An answer that is not such a tar archive, or holds anything else (a name not asked for,
    more bytes than allowed), raises :class:`FractalsAPIError`; an app without that route
    raises it with status 404 or 405.
    """
    images: dict[str, bytes] = {}
    query = [("uuid", uuid) for uuid in limits]
    with _request("GET", endpoint, "/v1/fractal-images", session, params=query, stream=True,
                  timeout=timeout) as response:
        try:
            with tarfile.open(fileobj=response.raw, mode="r|") as archive:
                for member in archive:
                    uuid = member.name.removesuffix(".png")
                    if not (member.isfile() and member.name == f"{uuid}.png"
                            and uuid in limits and uuid not in images):
                        raise FractalsAPIError(
                            f"the Fractals app at {_base(endpoint)} sent {member.name!r} "
                            "among the images, which was not asked for (or came twice)")
                    if member.size > limits[uuid]:
                        raise FractalsAPIError(
                            f"the Fractals app sent {member.size} bytes for fractal {uuid}, "
                            f"more than the {limits[uuid]} its record gives")
                    reader = archive.extractfile(member)
                    images[uuid] = reader.read() if reader else b""
        except (tarfile.TarError, requests.RequestException, urllib3.exceptions.HTTPError,
                OSError) as exc:
            raise FractalsAPIError(
                f"reading images from the Fractals app at {_base(endpoint)} failed after "
                f"{len(images)} of them ({exc.__class__.__name__}: {exc})") from None
    return images


def iter_image(endpoint: str | None, uuid: str, *, chunk_size: int = CHUNK_SIZE,
               session: requests.Session | None = None) -> Iterator[bytes]:
    """The image's PNG bytes, chunk by chunk, exactly as stored."""
    with open_image(endpoint, uuid, session=session) as response:
        yield from response.iter_content(chunk_size)


def download_image(endpoint: str | None, uuid: str, *,
                   session: requests.Session | None = None) -> bytes:
    """The image's PNG bytes, exactly as stored."""
    return b"".join(iter_image(endpoint, uuid, session=session))


def create_fractal(endpoint: str | None, params: FractalParams | Mapping[str, Any], *,
                   uuid: str | None = None,
                   session: requests.Session | None = None) -> dict[str, Any]:
    """Ask the app for one fractal; returns its (pending) record."""
    body = dict(params.as_dict() if isinstance(params, FractalParams) else params)
    if uuid is not None:
        body["uuid"] = uuid
    return _json(_request("POST", endpoint, "/v1/fractal", session, json=body), endpoint,
                 "a new fractal")


def wait_until_rendered(endpoint: str | None, uuids: Iterable[str], *,
                        timeout: float = 300.0, progress: bool = False,
                        session: requests.Session | None = None) -> list[dict[str, Any]]:
    """Poll until every fractal in ``uuids`` is rendered; return their records in order."""
    order = list(uuids)
    done: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    with tqdm(total=len(order), desc="rendering", unit="fractal", disable=not progress) as bar:
        while len(done) < len(order):
            for uuid in order:
                if uuid in done:
                    continue
                record = get_fractal(endpoint, uuid, session=session)
                if record["status"] == "failed":
                    raise FractalsAPIError(f"rendering fractal {uuid} failed; see the app's log")
                if record["status"] == "ready":
                    done[uuid] = record
                    bar.update(1)
            if len(done) < len(order):
                if time.monotonic() > deadline:
                    raise FractalsAPIError(
                        f"{len(order) - len(done)} fractal(s) still not rendered after "
                        f"{timeout:g} s"
                    )
                time.sleep(0.1)
    return [done[uuid] for uuid in order]


def create_fractals(endpoint: str | None, n: int, *, seed: int | None = None,
                    wait: bool = True, timeout: float = 300.0, progress: bool = True,
                    **fixed: Any) -> list[dict[str, Any]]:
    """Ask for ``n`` fractals with the producer's random parameters.

    ``seed`` makes the parameters reproducible; keywords such as ``width=64`` or
    ``iterations=(32, 64)`` fix a field or its range. With ``wait`` (the
    default) it returns once all are rendered, with a progress bar for n > 1.
    """
    series = seeded_params(seed, **fixed)
    show = progress and n > 1
    with requests.Session() as session:
        records = [
            create_fractal(endpoint, next(series), session=session)
            for _ in tqdm(range(n), desc="requesting", unit="fractal", disable=not show)
        ]
        if wait:
            records = wait_until_rendered(endpoint, [r["uuid"] for r in records],
                                          timeout=timeout, progress=show, session=session)
    return records
