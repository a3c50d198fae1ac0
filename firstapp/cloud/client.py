"""Talking to a Swift endpoint with python-swiftclient, with errors a learner can act on."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from swiftclient import client as swift

from firstapp.errors import FirstappError

START_HINT = "start it with `firstapp cloud start`"


def authenticate(auth_url: str, username: str, password: str) -> tuple[str, str]:
    """Swift v1 auth: return ``(storage_url, token)`` or raise a clear FirstappError."""
    try:
        return swift.get_auth(auth_url, username, password, auth_version="1.0", timeout=10)
    except swift.ClientException as exc:
        if exc.http_status == 401:
            raise FirstappError(
                f"authentication failed (401 Unauthorized) for user {username!r} at {auth_url}: "
                "check the user name and password (`firstapp cloud env` prints the local "
                "cloud's)"
            ) from None
        if isinstance(exc.__context__, requests.ConnectionError) or exc.http_status is None:
            raise not_reachable(auth_url) from None
        raise
    except requests.ConnectionError:
        raise not_reachable(auth_url) from None
    except requests.Timeout:
        raise FirstappError(f"the object store at {auth_url} accepted the connection but did "
                            "not answer within 10 s (is it overloaded, or paused?); try "
                            "again, or restart it") from None


def not_reachable(url: str) -> FirstappError:
    host = urlsplit(url).hostname
    if host in ("127.0.0.1", "localhost", "::1"):
        return FirstappError(f"the local cloud is not running (nothing answers at {url}); "
                             f"{START_HINT}")
    return FirstappError(f"cannot reach the object store at {url}: check OS_AUTH_URL and "
                         "your network")


def connection(auth_url: str, username: str, password: str) -> swift.Connection:
    """A swiftclient Connection, authenticated up front so mistakes surface here."""
    storage_url, token = authenticate(auth_url, username, password)
    return swift.Connection(
        authurl=auth_url, user=username, key=password, preauthurl=storage_url,
        preauthtoken=token, retries=0, timeout=60,  # show each error as the store said it
    )
