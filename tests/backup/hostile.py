"""Small hostile HTTP servers for the error-handling tests: an app and a store that lie,
hang or refuse. They run in a thread of the test, on 127.0.0.1, and record what was asked.

They stand in only where the real app or store cannot be made to misbehave that way
(the real store is used for everything else, stopped with SIGSTOP where it must hang).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Behaviour:
    """What the server answers; ``requests`` records ``(method, path)`` of every request."""

    records: list[dict[str, Any]] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)
    listing_body: bytes | None = None  # raw body for GET /v1/fractal, instead of JSON
    images_tar: bytes | None = None  # body for GET /v1/fractal-images (None: 404, no route)
    hang: set[str] = field(default_factory=set)  # methods (or "GET /v1/fractal") that hang
    put_status: int | None = None  # the store: status for an object PUT
    # the store: objects it holds (swiftclient's headers and body), and how many listings
    # leave a name out (-1: every listing), as a lagging container listing does
    objects: dict[str, tuple[dict[str, str], bytes]] = field(default_factory=dict)
    unlisted: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)


def record_for(uuid: str, image: bytes, **extra: Any) -> dict[str, Any]:
    """A ready record as the app's API gives it, for ``image``'s bytes."""
    return {"uuid": uuid, "status": "ready", "checksum": hashlib.sha256(image).hexdigest(),
            "size": len(image), "width": 8, "height": 8, "iterations": 16, "xa": -2.0,
            "xb": 2.0, "ya": -1.5, "yb": 1.5, "duration": 0.1, "generated_by": "hostile",
            **extra}


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep the test output clean
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
              ) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _hang_if_asked(self, key: str) -> bool:
        if key in self.behaviour.hang or self.command in self.behaviour.hang:
            self.behaviour.released.wait(120)  # until the test ends
            return True
        return False

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding") == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                chunk = self.rfile.read(size + 2)[:size]
                if not size:
                    return data
                data += chunk
        return self.rfile.read(length)


class AppHandler(_Handler):
    """The Fractals API, as far as backup uses it."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = urlsplit(self.path).path
        self.behaviour.requests.append(("GET", path))
        if path == "/v1/fractal":
            if self._hang_if_asked("GET /v1/fractal"):
                return
            if self.behaviour.listing_body is not None:
                self._send(200, self.behaviour.listing_body, {"Content-Type": "text/html"})
                return
            records = self.behaviour.records
            body = {"num_results": len(records), "page": 1, "total_pages": 1,
                    "objects": records}
            self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        elif path == "/v1/fractal-images" and self.behaviour.images_tar is not None:
            self._send(200, self.behaviour.images_tar, {"Content-Type": "application/x-tar"})
        elif path.startswith("/fractal/"):
            uuid = unquote(path[len("/fractal/"):])
            if self._hang_if_asked("GET /fractal"):
                return
            image = self.behaviour.images.get(uuid)
            if image is None:
                self._send(404, b'{"message": "no fractal"}')
            else:
                self._send(200, image, {"Content-Type": "image/png"})
        else:
            self._send(404)


class StoreHandler(_Handler):
    """Swift v1 auth and the few container and object calls backup makes."""

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        path = url.path
        self.behaviour.requests.append(("GET", path))
        if path == "/auth/v1.0":
            host, port = self.server.server_address[:2]
            self._send(200, b"", {"X-Storage-Url": f"http://{host}:{port}/v1/AUTH_hostile",
                                  "X-Auth-Token": "AUTH_tk_hostile"})
        elif path.count("/") == 3:  # /v1/AUTH_hostile/<container>: its listing
            marker = parse_qs(url.query).get("marker", [""])[0]
            self._send(200, json.dumps(self._listing(marker)).encode(),
                       {"Content-Type": "application/json; charset=utf-8"})
        else:
            self._object(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self.behaviour.requests.append(("HEAD", urlsplit(self.path).path))
        self._object(send_body=False)

    def _listing(self, marker: str) -> list[dict[str, Any]]:
        entries = []
        for name in sorted(self.behaviour.objects):
            if name <= marker:
                continue
            left_out = self.behaviour.unlisted.get(name, 0)
            if left_out:
                if not marker:  # count each reading once, on its first page
                    self.behaviour.unlisted[name] = left_out - 1 if left_out > 0 else -1
                continue
            headers, body = self.behaviour.objects[name]
            entries.append({"name": name, "hash": headers["etag"], "bytes": len(body),
                            "content_type": headers.get("content-type", ""),
                            "last_modified": "2026-12-04T00:00:00.000000"})
        return entries

    def _object(self, send_body: bool) -> None:
        name = unquote(urlsplit(self.path).path.split("/", 4)[4])
        if name not in self.behaviour.objects:
            self._send(404)
            return
        headers, body = self.behaviour.objects[name]
        keep = {k: v for k, v in headers.items()
                if k in ("etag", "content-type") or k.startswith("x-object-meta-")}
        self.send_response(200)
        for key, value in keep.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def do_PUT(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        body = self._read_body()
        self.behaviour.requests.append(("PUT", path))
        if path.count("/") == 3:
            self._send(201)
            return
        if self._hang_if_asked("PUT"):
            return
        status = self.behaviour.put_status or 201
        self._send(status, b"", {"Etag": hashlib.md5(body).hexdigest()} if status == 201
                   else {})

    def do_DELETE(self) -> None:  # noqa: N802
        self.behaviour.requests.append(("DELETE", urlsplit(self.path).path))
        self._send(204)


@contextmanager
def serve(handler: type[_Handler], behaviour: Behaviour) -> Iterator[str]:
    """Serve ``handler`` with ``behaviour`` on a free port; yield its base URL."""
    handler_class = type("Bound", (handler,), {"behaviour": behaviour})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        behaviour.released.set()
        server.shutdown()
        server.server_close()
