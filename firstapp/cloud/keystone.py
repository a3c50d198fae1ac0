"""Keystone v3 sign-in for the local cloud: ``firstapp cloud start --auth keystone``.

A real Keystone 30 from PyPI (in its own virtualenv, :mod:`firstapp.cloud.keystone_venv`)
serves the identity API on 127.0.0.1 with SQLite and Fernet tokens, below the cloud's data
directory in ``keystone/``. It knows region ``RegionOne``, the project ``tutorial`` with the
user ``learner`` (role ``member``), a service user ``swift`` for Swift's proxy, and an
``object-store`` endpoint ``http://127.0.0.1:PORT/v1/AUTH_%(project_id)s``. Swift's proxy
checks tokens with keystonemiddleware's ``authtoken`` and Swift's ``keystoneauth``.

Secrets (the admin's and the service user's passwords) live in ``keystone/identity.json``
(mode 0600); the learner's password is the cloud's own, in ``credentials.json``. None is
ever passed on a command line.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from firstapp.cloud.layout import Layout, write_private
from firstapp.cloud.processes import alive
from firstapp.errors import FirstappError
from firstapp.net import LOOPBACK, port_in_use, wait_until

DEFAULT_PORT = 5000  # Keystone's own port
REGION = "RegionOne"
DOMAIN = "Default"
MEMBER_ROLE = "member"
SERVICE_ROLE = "service"
SERVICE_PROJECT = "service"
SERVICE_USER = "swift"
ADMIN = "admin"
INTERFACES = ("public", "internal", "admin")
START_TIMEOUT = 60.0
TIMEOUT = 30.0  # s for any one request to Keystone
SERVER_SCRIPT = Path(__file__).with_name("keystone_server.py")
PORT_TAKEN = 98  # keystone_server.py's exit status for a taken port


def directory(layout: Layout) -> Path:
    return layout.root / "keystone"


def _identity_file(layout: Layout) -> Path:
    return directory(layout) / "identity.json"


def _pid_file(layout: Layout) -> Path:
    return directory(layout) / "keystone.pid"


def log_file(layout: Layout) -> Path:
    return directory(layout) / "keystone.log"


def _open_log(layout: Layout):
    """Keystone's log file, for appending; mode 0600 (it names users and projects)."""
    return os.fdopen(os.open(log_file(layout), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
                     "ab")


def auth_url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}/v3"


@dataclass(frozen=True)
class Identity:
    """How a learner signs in to the local cloud through Keystone v3."""

    port: int
    username: str
    password: str = field(repr=False)
    project_name: str
    project_id: str | None

    @property
    def auth_url(self) -> str:
        return auth_url(self.port)

    def storage_url(self, swift_port: int) -> str:
        return f"http://{LOOPBACK}:{swift_port}/v1/AUTH_{self.project_id or 'PROJECT_ID'}"

    def env(self) -> dict[str, str]:
        """The OS_* variables of an openrc file for this user and project."""
        return {
            "OS_AUTH_URL": self.auth_url,
            "OS_AUTH_TYPE": "password",
            "OS_IDENTITY_API_VERSION": "3",
            "OS_USERNAME": self.username,
            "OS_PASSWORD": self.password,
            "OS_PROJECT_NAME": self.project_name,
            "OS_USER_DOMAIN_NAME": DOMAIN,
            "OS_PROJECT_DOMAIN_NAME": DOMAIN,
            "OS_REGION_NAME": REGION,
        }

    def cloud_entry(self) -> dict:
        """The clouds.yaml entry for openstacksdk and shade."""
        return {
            "auth_type": "password",
            "auth": {
                "auth_url": self.auth_url,
                "username": self.username,
                "password": self.password,
                "project_name": self.project_name,
                "user_domain_name": DOMAIN,
                "project_domain_name": DOMAIN,
            },
            "region_name": REGION,
            "identity_api_version": 3,
        }

    def session(self, timeout: float = TIMEOUT):
        """A keystoneauth1 Session signed in as this user (v3 password, project scope)."""
        return _session(self.auth_url, self.username, self.password, self.project_name,
                        timeout)


def identity(layout: Layout, port: int, username: str, password: str,
             project_name: str) -> Identity:
    """The Identity of the cloud in ``layout`` (its project id once it was provisioned)."""
    state = _read_state(layout)
    return Identity(port, username, password, project_name, state.get("project_id"))


def _read_state(layout: Layout) -> dict:
    try:
        state = json.loads(_identity_file(layout).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise FirstappError(f"{_identity_file(layout)} is damaged ({exc}); Keystone's "
                            f"passwords are lost: move {layout.root} aside and run "
                            "`firstapp cloud start --auth keystone` to create a new cloud"
                            ) from None
    return state if isinstance(state, dict) else {}


def _write_state(layout: Layout, state: dict) -> None:
    write_private(_identity_file(layout), json.dumps(state, indent=2))


def _session(url: str, username: str, password: str, project: str, timeout: float):
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = v3.Password(auth_url=url, username=username, password=password,
                       project_name=project, user_domain_name=DOMAIN,
                       project_domain_name=DOMAIN)
    return session.Session(auth=auth, timeout=timeout)


# --- creating and running Keystone -----------------------------------------------------


def _config(layout: Layout) -> str:
    kdir = directory(layout)
    return (
        "[DEFAULT]\nuse_stderr = true\n\n"
        f"[database]\nconnection = sqlite:///{kdir / 'keystone.db'}\n\n"
        "[token]\nprovider = fernet\n\n"
        f"[fernet_tokens]\nkey_repository = {kdir / 'fernet-keys'}\n\n"
        f"[fernet_receipts]\nkey_repository = {kdir / 'fernet-receipts'}\n\n"
        f"[credential]\nkey_repository = {kdir / 'credential-keys'}\n\n"
        # token validation ~200 ms uncached, ~5 ms with the in-process cache (one process)
        "[cache]\nenabled = true\nbackend = dogpile.cache.memory\n\n"
        # bcrypt's cost slows the guessing of weak passwords; every password here is a
        # random secret of 144 bits or more, so the default cost (12: 0.25 s of CPU per
        # sign-in) would only slow each sign-in, and 4 (1 ms) loses nothing
        "[identity]\npassword_hash_rounds = 4\n"
    )


def created(layout: Layout) -> bool:
    return bool(_read_state(layout).get("bootstrapped"))


def create(layout: Layout, port: int, python: Path, timeout: float = 300) -> None:
    """Keystone's configuration, keys and database, bootstrapped with a random admin
    password: admin user and project, roles, region RegionOne, the identity endpoint."""
    kdir = directory(layout)
    kdir.mkdir(mode=0o700, exist_ok=True)
    for stale in ("keystone.db", "fernet-keys", "fernet-receipts", "credential-keys"):
        path = kdir / stale  # what a failed earlier attempt left behind
        if path.is_dir():
            import shutil

            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    write_private(kdir / "keystone.conf", _config(layout))
    state = {"admin_password": secrets.token_urlsafe(24),
             "service_password": secrets.token_urlsafe(24)}
    _write_state(layout, state)
    env = {**os.environ, "OS_BOOTSTRAP_PASSWORD": state["admin_password"]}
    with _open_log(layout) as log:
        try:
            done = subprocess.run(
                [str(python), str(SERVER_SCRIPT), "setup", str(kdir), auth_url(port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise FirstappError(f"setting up Keystone took over {timeout:.0f} s and was "
                                f"stopped; see {log_file(layout)}") from None
    if done.returncode != 0:
        raise FirstappError(f"setting up Keystone failed (status {done.returncode}); see "
                            f"{log_file(layout)}")
    _write_state(layout, {**state, "bootstrapped": True})


def running_pid(layout: Layout) -> int | None:
    """The pid of this cloud's Keystone server if it runs, else None."""
    try:
        pid = int(_pid_file(layout).read_text())
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if Path(
            "/proc/self/cmdline").exists() else None
    except (OSError, ValueError):
        return None
    if args is None:  # no /proc (macOS): ask ps
        done = subprocess.run(["ps", "-ww", "-o", "command=", "-p", str(pid)],
                              capture_output=True, text=True, check=False)
        args = [a.encode() for a in done.stdout.split()]
    wanted = [b"serve", str(directory(layout)).encode()]
    if not any(args[i:i + 2] == wanted for i in range(len(args))):
        return None
    return None if _gone(pid) else pid


def serve(layout: Layout, port: int, python: Path, timeout: float = START_TIMEOUT) -> int:
    """Start Keystone's server in the background unless it runs; return its pid."""
    pid = running_pid(layout)
    if pid is not None:
        return pid
    if port_in_use(port):
        raise FirstappError(f"Keystone's port {port} on {LOOPBACK} is already in use by "
                            "another program; choose a free one with --keystone-port N")
    with _open_log(layout) as log:
        proc = subprocess.Popen(
            [str(python), str(SERVER_SCRIPT), "serve", str(directory(layout)), str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    write_private(_pid_file(layout), str(proc.pid))
    import requests

    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            _pid_file(layout).unlink(missing_ok=True)
            if code == PORT_TAKEN:
                raise FirstappError(f"Keystone's port {port} on {LOOPBACK} is already in use "
                                    "by another program; choose a free one with "
                                    "--keystone-port N")
            raise FirstappError(f"Keystone exited with status {code}; see {log_file(layout)}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(auth_url(port), timeout=(2, 10)).status_code == 200:
                return proc.pid
        if time.monotonic() > deadline:
            proc.kill()
            _pid_file(layout).unlink(missing_ok=True)
            raise FirstappError(f"Keystone did not answer within {timeout:.0f} s; see "
                                f"{log_file(layout)}")
        time.sleep(0.05)


def stop(layout: Layout, timeout: float = 10.0) -> bool:
    """Stop this cloud's Keystone server; False when it was not running."""
    pid = running_pid(layout)
    if pid is None:
        _pid_file(layout).unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        if not wait_until(lambda: _gone(pid), timeout):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: _gone(pid), 5.0)
    _pid_file(layout).unlink(missing_ok=True)
    return True


def _gone(pid: int) -> bool:
    """True once the process has exited (a zombie waiting to be reaped counts as gone, once
    its last thread is: until then its sockets stay open)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return (stat.rsplit(")", 1)[1].split()[0] == "Z"
                and len(os.listdir(f"/proc/{pid}/task")) <= 1)
    except FileNotFoundError:
        return Path("/proc/self/stat").exists() or not alive(pid)
    except (OSError, IndexError):
        return not alive(pid)


def start(layout: Layout, port: int, swift_port: int, username: str, password: str,
          project_name: str) -> Identity:
    """Keystone for the cloud in ``layout``, running and provisioned: its virtualenv and
    its database are created on first use."""
    from firstapp.cloud import keystone_venv

    python = keystone_venv.ensure()
    if not created(layout):
        create(layout, port, python)
    serve(layout, port, python)
    return provision(layout, port, swift_port, username, password, project_name)


def write_clouds_yaml(path: Path, ident: Identity) -> None:
    """A clouds.yaml with an entry ``local`` (mode 0600) for openstacksdk and shade."""
    import yaml

    write_private(path, yaml.safe_dump({"clouds": {"local": ident.cloud_entry()}},
                                       sort_keys=False))


# --- what Keystone knows about the cloud -------------------------------------------------


def provision(layout: Layout, keystone_port: int, swift_port: int, username: str,
              password: str, project_name: str) -> Identity:
    """Make sure Keystone has the project, users, roles and endpoints this cloud needs.

    Idempotent, and skipped when nothing changed since the last time (the ports, the
    learner's password); Keystone must be serving.
    """
    state = _read_state(layout)
    wanted = {"keystone_port": keystone_port, "swift_port": swift_port,
              "password_sha256": hashlib.sha256(password.encode()).hexdigest()}
    if state.get("provisioned") != wanted or not state.get("project_id"):
        api = _Admin(auth_url(keystone_port), state["admin_password"])
        state["project_id"] = api.setup(
            username, password, project_name, state["service_password"],
            {"identity": auth_url(keystone_port),
             "object-store": f"http://{LOOPBACK}:{swift_port}/v1/AUTH_%(project_id)s"})
        state["provisioned"] = wanted
        _write_state(layout, state)
    return Identity(keystone_port, username, password, project_name, state["project_id"])


class _Admin:
    """Keystone's REST API as its admin, through a keystoneauth1 session."""

    def __init__(self, url: str, admin_password: str) -> None:
        self.url = url
        self.session = _session(url, ADMIN, admin_password, ADMIN, TIMEOUT)

    def _call(self, method: str, path: str, **kwargs) -> dict:
        answer = self.session.request(self.url + path, method, **kwargs)
        return answer.json() if answer.content else {}

    def _find_or_create(self, kind: str, query: str, body: dict) -> dict:
        found = self._call("GET", f"/{kind}s?{query}")[f"{kind}s"]
        if found:
            return found[0]
        return self._call("POST", f"/{kind}s", json={kind: body})[kind]

    def setup(self, username: str, password: str, project_name: str,
              service_password: str, endpoints: dict[str, str]) -> str:
        """Create what is missing, fix what changed; return the learner's project id."""
        roles = {name: self._find_or_create("role", f"name={name}", {"name": name})["id"]
                 for name in (MEMBER_ROLE, SERVICE_ROLE)}
        project = None
        for pname, uname, upass, role in (
                (project_name, username, password, MEMBER_ROLE),
                (SERVICE_PROJECT, SERVICE_USER, service_password, SERVICE_ROLE)):
            proj = self._find_or_create("project", f"name={pname}&domain_id=default",
                                        {"name": pname, "domain_id": "default"})
            user = self._find_or_create("user", f"name={uname}&domain_id=default",
                                        {"name": uname, "domain_id": "default",
                                         "password": upass})
            self._call("PATCH", f"/users/{user['id']}", json={"user": {"password": upass}})
            self._call("PUT", f"/projects/{proj['id']}/users/{user['id']}/roles/{roles[role]}")
            project = project or proj
        for service_type, url in endpoints.items():
            service = self._find_or_create(
                "service", f"type={service_type}",
                {"type": service_type, "name": "swift" if service_type == "object-store"
                 else "keystone"})
            have = {e["interface"]: e for e in self._call(
                "GET", f"/endpoints?service_id={service['id']}")["endpoints"]}
            for interface in INTERFACES:
                if interface not in have:
                    self._call("POST", "/endpoints", json={"endpoint": {
                        "service_id": service["id"], "interface": interface, "url": url,
                        "region_id": REGION}})
                elif have[interface]["url"] != url:
                    self._call("PATCH", f"/endpoints/{have[interface]['id']}",
                               json={"endpoint": {"url": url}})
        return project["id"]


def recover_settings(layout: Layout, settings):
    """``settings`` rebuilt from the rings, corrected for a Keystone cloud: its auth mode
    and both ports, as last provisioned."""
    import dataclasses

    done = _read_state(layout).get("provisioned") if directory(layout).is_dir() else None
    if not isinstance(done, dict):
        return settings
    return dataclasses.replace(settings, auth="keystone", port=done["swift_port"],
                               keystone_port=done["keystone_port"])


# --- Swift's side ------------------------------------------------------------------------


def proxy_filters(layout: Layout, keystone_port: int) -> str:
    """The proxy's ``authtoken`` and ``keystoneauth`` filter sections.

    No memcached: authtoken keeps validated tokens in the proxy's memory, so a token is
    checked with Keystone once, not on every request.
    """
    url = auth_url(keystone_port)
    state = _read_state(layout)
    return (
        "[filter:authtoken]\npaste.filter_factory = keystonemiddleware.auth_token:"
        "filter_factory\n"
        f"www_authenticate_uri = {url}\nauth_url = {url}\nauth_type = password\n"
        f"username = {SERVICE_USER}\npassword = {state['service_password']}\n"
        f"project_name = {SERVICE_PROJECT}\nuser_domain_name = {DOMAIN}\n"
        f"project_domain_name = {DOMAIN}\nregion_name = {REGION}\n"
        "delay_auth_decision = true\nhttp_connect_timeout = 5\n"
        "http_request_max_retries = 1\ntoken_cache_time = 300\n\n"
        "[filter:keystoneauth]\nuse = egg:swift#keystoneauth\n"
        f"operator_roles = {ADMIN}, {MEMBER_ROLE}\n\n"
    )


def sign_in(ident: Identity, timeout: float = TIMEOUT) -> tuple[str, str]:
    """``(storage_url, token)`` from Keystone's catalog, or a FirstappError."""
    from keystoneauth1 import exceptions

    sess = ident.session(timeout)
    try:
        token = sess.get_token()
        url = sess.get_endpoint(service_type="object-store", interface="public",
                                region_name=REGION)
    except exceptions.Unauthorized:
        raise FirstappError(f"Keystone at {ident.auth_url} refused user {ident.username!r} "
                            f"in project {ident.project_name!r} (401)") from None
    except exceptions.ClientException as exc:
        raise FirstappError(f"cannot sign in at {ident.auth_url}: {exc}") from None
    if not url:
        raise FirstappError(f"Keystone at {ident.auth_url} has no object-store endpoint in "
                            f"region {REGION}")
    return url, token


def swift_connection(ident: Identity, timeout: tuple[float, float] = (5.0, 60.0)):
    """A python-swiftclient Connection that signs in through Keystone and finds Swift in
    the catalog (region RegionOne, public interface)."""
    from swiftclient import client as swift

    return swift.Connection(session=ident.session(), retries=0, timeout=timeout,
                            os_options={"region_name": REGION, "interface": "public"})
