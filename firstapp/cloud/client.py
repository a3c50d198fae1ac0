"""Talking to a Swift endpoint with python-swiftclient, with errors a learner can act on.

python-swiftclient and requests are imported by the calls that use them: importing
swiftclient costs a process 0.2 s of CPU (it loads python-keystoneclient), and most of
``firstapp``'s commands only need this module's messages.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from firstapp.errors import FirstappError

if TYPE_CHECKING:
    from swiftclient import client as swift

START_HINT = "start it with `firstapp cloud start`"
CONNECT_TIMEOUT = 5.0  # s to open a connection: on a LAN or loopback, far more than enough
AUTH_TIMEOUT = 10.0  # s for the auth endpoint's answer
READ_TIMEOUT = 60.0  # s for any other answer, or between two chunks of one
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def authenticate(auth_url: str, username: str, password: str,
                 data_dir: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """Swift v1 auth: return ``(storage_url, token)`` or raise a clear FirstappError.

    ``data_dir`` names the local cloud this URL may belong to (default: the one in
    ``FIRSTAPP_CLOUD_DIR``, else the per-user one), for the message when nothing answers.
    """
    import requests
    from swiftclient import client as swift

    try:
        storage_url, token = swift.get_auth(auth_url, username, password, auth_version="1.0",
                                            timeout=(CONNECT_TIMEOUT, AUTH_TIMEOUT))
    except swift.ClientException as exc:
        if exc.http_status == 401:
            raise FirstappError(
                f"authentication failed (401 Unauthorized) for user {username!r} at {auth_url}: "
                "check the user name and password (`firstapp cloud env` prints the local "
                "cloud's)"
            ) from None
        if isinstance(exc.__context__, requests.ConnectionError) or exc.http_status is None:
            raise not_reachable(auth_url, data_dir) from None
        raise not_an_auth_endpoint(auth_url, f"{exc.http_status} {exc.http_reason}") from None
    except requests.ConnectionError:
        raise not_reachable(auth_url, data_dir) from None
    except requests.Timeout:
        raise FirstappError(f"the object store at {auth_url} accepted the connection but did "
                            f"not answer within {AUTH_TIMEOUT:.0f} s (is it overloaded, or "
                            "paused?); try again, or restart it") from None
    except requests.RequestException as exc:  # a URL requests cannot use at all
        raise FirstappError(f"cannot authenticate at {auth_url!r}: {exc}; check "
                            "OS_AUTH_URL") from None
    if not storage_url or not token:
        raise not_an_auth_endpoint(auth_url, "an answer without a storage URL and token")
    return storage_url, token


def not_an_auth_endpoint(auth_url: str, answer: str) -> FirstappError:
    return FirstappError(
        f"{auth_url} answered {answer}, not a Swift v1 authentication: check OS_AUTH_URL "
        "(the local cloud's is http://127.0.0.1:PORT/auth/v1.0; `firstapp cloud env` "
        "prints it)"
    )


def not_reachable(url: str, data_dir: str | os.PathLike[str] | None = None) -> FirstappError:
    """The error for a store that does not answer at ``url``.

    It says "the local cloud is not running" only for the local cloud's own address (the
    port in its settings, or the default port when there is no local cloud yet).
    """
    if is_local_cloud(url, data_dir):
        return FirstappError(f"the local cloud is not running (nothing answers at {url}); "
                             f"{START_HINT}")
    return FirstappError(f"nothing answers at {url}: check OS_AUTH_URL, and that the object "
                         "store there is running")


def is_local_cloud(url: str, data_dir: str | os.PathLike[str] | None = None) -> bool:
    """True when ``url`` is the address of the local cloud in ``data_dir`` (default: the
    one in ``FIRSTAPP_CLOUD_DIR``, else the per-user one)."""
    from firstapp.cloud import config
    from firstapp.cloud.layout import Layout

    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_NAMES:
        return False
    layout = Layout.at(data_dir or os.environ.get("FIRSTAPP_CLOUD_DIR") or None)
    try:
        local_port = layout.read_json(layout.settings_file)["port"]
    except FileNotFoundError:
        local_port = config.DEFAULT_PORT
    except (OSError, ValueError, TypeError, KeyError):
        return False
    return port == local_port


def connection(auth_url: str, username: str, password: str) -> swift.Connection:
    """A swiftclient Connection, authenticated up front so mistakes surface here; every
    request has a connect and a read timeout."""
    from swiftclient import client as swift

    storage_url, token = authenticate(auth_url, username, password)
    return swift.Connection(
        authurl=auth_url, user=username, key=password, preauthurl=storage_url,
        preauthtoken=token, retries=0,  # show each error as the store said it
        timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
    )
