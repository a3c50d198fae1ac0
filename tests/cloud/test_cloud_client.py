"""The client's errors: an auth URL that is not one, a store that does not answer, timeouts."""

from __future__ import annotations

import threading
from collections.abc import Iterator

# `from http.server import`, not `http.server.X`: importing Swift (eventlet.wsgi) leaves the
# package attribute http.server pointing at eventlet's green copy, whose threads are green
# and hang this process; sys.modules keeps the real module.
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from firstapp.cloud import client, config
from firstapp.cloud.client import authenticate, connection, not_reachable
from firstapp.errors import FirstappError
from firstapp.net import LOOPBACK, free_port


class Hostile(BaseHTTPRequestHandler):
    """Answers every GET with the server's ``status``; ``hang`` holds storage requests."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        status, headers = self.server.answer
        if self.path.startswith("/v1/"):  # a storage request after a good auth
            self.server.release.wait(30)
            return
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value.format(port=self.server.server_port))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer((LOOPBACK, 0), Hostile)
    server.daemon_threads = True
    server.release = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "reason"), [(404, "Not Found"),
                                                (412, "Precondition Failed"),
                                                (500, "Internal Server Error")])
def test_an_auth_url_that_is_not_one_is_named(hostile, status, reason):
    hostile.answer = (status, {})
    url = f"http://{LOOPBACK}:{hostile.server_port}/auth/v1.0"
    with pytest.raises(FirstappError) as raised:
        authenticate(url, "tutorial:learner", "secret")
    assert str(raised.value).startswith(f"{url} answered {status} {reason}, not a Swift v1 "
                                        "authentication: check OS_AUTH_URL")


def test_an_answer_without_storage_url_or_token_is_not_auth(hostile):
    hostile.answer = (200, {})
    url = f"http://{LOOPBACK}:{hostile.server_port}/"
    with pytest.raises(FirstappError, match="answered an answer without a storage URL and "
                                            "token, not a Swift v1 authentication"):
        authenticate(url, "tutorial:learner", "secret")


def test_every_call_has_a_read_timeout(hostile, monkeypatch):
    hostile.answer = (200, {"X-Storage-Url": "http://127.0.0.1:{port}/v1/AUTH_x",
                            "X-Auth-Token": "token"})
    monkeypatch.setattr(client, "READ_TIMEOUT", 0.5)  # the real one is a minute
    conn = connection(f"http://{LOOPBACK}:{hostile.server_port}/auth/v1.0", "u:v", "secret")
    with pytest.raises(requests.ReadTimeout):
        conn.get_account()


def test_only_the_local_clouds_own_address_is_called_the_local_cloud(tmp_path, monkeypatch):
    monkeypatch.setenv("FIRSTAPP_DATA_DIR", str(tmp_path))  # no local cloud made yet
    monkeypatch.delenv("FIRSTAPP_CLOUD_DIR", raising=False)
    default = f"http://127.0.0.1:{config.DEFAULT_PORT}/auth/v1.0"
    assert "the local cloud is not running" in str(not_reachable(default))
    other = f"http://127.0.0.1:{free_port()}/auth/v1.0"
    assert str(not_reachable(other)) == (f"nothing answers at {other}: check OS_AUTH_URL, and "
                                         "that the object store there is running")
    with pytest.raises(FirstappError) as raised:
        authenticate(other, "tutorial:learner", "secret")
    assert str(raised.value).startswith(f"nothing answers at {other}")
    remote = "http://192.0.2.1:8080/auth/v1.0"
    assert str(not_reachable(remote)).startswith(f"nothing answers at {remote}")
