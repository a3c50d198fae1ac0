"""Start, stop and inspect a local cloud's server process."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from firstapp.cloud import config, keystone
from firstapp.cloud.client import START_HINT, authenticate
from firstapp.cloud.layout import Layout
from firstapp.cloud.processes import alive
from firstapp.cloud.server import PORT_TAKEN  # a light module: no Swift imports at top
from firstapp.errors import FirstappError
from firstapp.net import LOOPBACK, port_holder, port_in_use, wait_until

DEFAULT_PORT = config.DEFAULT_PORT
START_TIMEOUT = 60.0
#: Seconds ``stop`` waits for the cloud's port to be free again once its processes are gone
PORT_RELEASE_WAIT = 5.0
#: Seconds ``start`` gives a taken port before it says so (a server that is still closing)
PORT_TAKEN_GRACE = 1.0
LOCK_FILE = ".lock"
SERVER_MODULE = "firstapp.cloud.server"
WORKER_MODULE = "firstapp.cloud.workers"
# What a cloud's data directory holds: anything else means it is somebody else's directory.
CLOUD_FILES = {LOCK_FILE, "etc", "devices", "recon", "offline", "cloud.pid", "cloud.log",
               "keystone",
               *(name + tmp for name in ("settings.json", "credentials.json", "clouds.yaml",
                                        "ports.json") for tmp in ("", ".tmp"))}


@dataclass(frozen=True)
class CloudInfo:
    """A local cloud: where it lives, how to reach it, whether it runs."""

    layout: Layout
    settings: config.Settings
    credentials: config.Credentials = field(repr=False)
    pid: int | None
    #: Keystone v3 sign-in, for a cloud started with ``--auth keystone``
    identity: keystone.Identity | None = None

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def port(self) -> int:
        return self.settings.port

    @property
    def auth_url(self) -> str:
        return self.identity.auth_url if self.identity else config.auth_url(self.port)

    @property
    def storage_url(self) -> str:
        if self.identity:
            return self.identity.storage_url(self.port)
        return config.storage_url(self.port, self.credentials)

    @property
    def username(self) -> str:
        return self.identity.username if self.identity else self.credentials.username

    @property
    def password(self) -> str:
        return self.credentials.password

    def env(self) -> dict[str, str]:
        """OS_* variables (and the swift CLI's ST_*) that point clients at this cloud, and
        FIRSTAPP_CLOUD_DIR, its data directory."""
        if self.identity:
            return {**self.identity.env(), "OS_CLOUD": "local",
                    "OS_CLIENT_CONFIG_FILE": str(self.layout.clouds_yaml),
                    "FIRSTAPP_CLOUD_DIR": str(self.layout.root)}
        return v1_env(self)

    def sign_in(self) -> tuple[str, str]:
        """``(storage_url, token)``: through Keystone, or Swift's v1 auth."""
        if self.identity:
            return keystone.sign_in(self.identity)
        return authenticate(self.auth_url, self.username, self.password)

    def connection(self):
        """A python-swiftclient Connection to this cloud, signed in."""
        if self.identity:
            return keystone.swift_connection(self.identity)
        from firstapp.cloud.client import connection

        return connection(self.auth_url, self.username, self.password)


def v1_env(cloud) -> dict[str, str]:
    """The OS_* (and ST_*) variables of a cloud with Swift v1 sign-in, whatever its backend,
    plus FIRSTAPP_CLOUD_DIR."""
    return {
        "OS_AUTH_TYPE": "v1password",
        "OS_AUTH_URL": cloud.auth_url,
        "OS_USERNAME": cloud.username,
        "OS_PASSWORD": cloud.password,
        "OS_STORAGE_URL": cloud.storage_url,
        "OS_CLOUD": "local",
        "OS_CLIENT_CONFIG_FILE": str(cloud.layout.clouds_yaml),
        "ST_AUTH": cloud.auth_url,
        "ST_USER": cloud.username,
        "ST_KEY": cloud.password,
        "FIRSTAPP_CLOUD_DIR": str(cloud.layout.root),
    }


def info(data_dir: str | os.PathLike[str] | None = None) -> CloudInfo:
    """The cloud in ``data_dir`` (default: the per-user one); raises if it was never created."""
    layout = Layout.at(data_dir)
    if not config.exists(layout):
        raise FirstappError(f"there is no local cloud in {layout.root}; {START_HINT}")
    settings, credentials = config.load_settings(layout), config.load_credentials(layout)
    return CloudInfo(layout, settings, credentials, _running_pid(layout),
                     _identity(layout, settings, credentials))


def _identity(layout: Layout, settings: config.Settings,
              credentials: config.Credentials) -> keystone.Identity | None:
    if settings.auth != "keystone":
        return None
    return keystone.identity(layout, settings.keystone_port, config.USER,
                             credentials.password, config.ACCOUNT)


def start(
    data_dir: str | os.PathLike[str] | None = None,
    port: int | None = None,
    devices: int | None = None,
    replicas: int | None = None,
    timeout: float = START_TIMEOUT,
    auth: str | None = None,
    keystone_port: int | None = None,
    workers: int | None = None,
) -> tuple[CloudInfo, bool]:
    """Start the cloud (creating it on first use); return it and whether it was started now.

    A cloud that already runs is left alone and returned with ``False``. ``auth`` is
    ``"v1"`` (the default) or ``"keystone"``, fixed when the cloud is created.
    ``workers`` is the number of processes serving Swift (default: the last start's, else
    config.DEFAULT_WORKERS), kept for later starts.
    """
    layout = Layout.at(data_dir)
    config.check(port, devices, replicas)
    config.check(keystone_port, None, None)
    config.check_workers(workers)
    check_data_dir(layout)
    _refuse_foreign_directory(layout)
    with locked(layout):
        return _start(layout, port, devices, replicas, timeout, auth, keystone_port, workers)


def check_data_dir(layout: Layout) -> None:
    """A data directory must be a directory, or creatable as one."""
    root = layout.root
    try:
        if root.exists() and not root.is_dir():
            raise FirstappError(f"{root} is a file, not a directory: give --data-dir a new or "
                                "empty directory, or one that holds a local cloud")
        parent = root.parent
        while not parent.exists():
            parent = parent.parent
        if not root.exists() and not parent.is_dir():
            raise FirstappError(f"cannot create {root}: {parent} is a file, not a directory; "
                                "give --data-dir another place")
    except OSError as exc:
        raise FirstappError(f"cannot use {root} as the cloud's data directory: "
                            f"{exc.strerror}; give --data-dir another place") from None


def _refuse_foreign_directory(layout: Layout) -> None:
    """A --data-dir that holds files of its own is not ours to lock, fill or chmod."""
    if not layout.root.is_dir() or config.exists(layout):
        return
    foreign = sorted(p.name for p in layout.root.iterdir() if p.name not in CLOUD_FILES)
    if foreign:
        raise FirstappError(
            f"{layout.root} holds other files ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}) and no local cloud: give --data-dir "
            "a new or empty directory"
        )


@contextlib.contextmanager
def locked(layout: Layout) -> Iterator[None]:
    """Hold the data directory's lock: one start or stop at a time per cloud."""
    try:
        fresh = not layout.root.exists()
        layout.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if fresh:
            layout.root.chmod(0o700)  # whatever the umask
        lock = open(layout.root / LOCK_FILE, "a")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise FirstappError(f"cannot write to {layout.root}: {exc.strerror}; give --data-dir "
                            "a directory you can write to") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _start(layout: Layout, port: int | None, devices: int | None, replicas: int | None,
           timeout: float, auth: str | None = None,
           keystone_port: int | None = None,
           workers: int | None = None) -> tuple[CloudInfo, bool]:
    existing = config.exists(layout)
    if existing:
        settings = config.load_settings(layout)
        for name, wanted in (("devices", devices), ("replicas", replicas), ("auth", auth)):
            have = getattr(settings, name)
            if wanted is not None and wanted != have:
                raise FirstappError(
                    f"the cloud in {layout.root} was created with {name}={have}; "
                    f"use another --data-dir for {name}={wanted}"
                )
        if _running_pid(layout):
            if settings.auth == "keystone" and keystone.running_pid(layout) is None:
                keystone.start(layout, settings.keystone_port, settings.port, config.USER,
                               config.load_credentials(layout).password, config.ACCOUNT)
            return info(layout.root), False
        if port is not None:
            settings = dataclasses.replace(settings, port=port)  # saved once it listens there
        if keystone_port is not None and settings.auth == "keystone":
            settings = dataclasses.replace(settings, keystone_port=keystone_port)
        if workers is not None:
            settings = dataclasses.replace(settings, workers=workers)
    else:
        devices = config.DEFAULT_DEVICES if devices is None else devices
        replicas = min(3, devices) if replicas is None else replicas
        config.check(port, devices, replicas)
        settings = config.Settings(port or DEFAULT_PORT, devices, replicas, auth=auth or "v1",
                                   workers=workers or config.DEFAULT_WORKERS)
        if settings.auth == "keystone":
            settings = dataclasses.replace(
                settings, keystone_port=keystone_port or keystone.DEFAULT_PORT)

    if not wait_until(lambda: not port_in_use(settings.port), PORT_TAKEN_GRACE, 0.1):
        raise _port_taken(settings.port)
    if not existing:
        _write(layout, lambda: config.create(layout, settings))
    credentials = config.load_credentials(layout, renew=True)
    identity = None
    if settings.auth == "keystone":
        identity = keystone.start(layout, settings.keystone_port, settings.port,
                                  config.USER, credentials.password, config.ACCOUNT)
    layout.ports_file.unlink(missing_ok=True)  # the new server writes its own
    proc = _spawn(layout, settings.port, settings.workers)
    cloud = CloudInfo(layout, settings, credentials, proc.pid, identity)
    _wait_ready(cloud, proc, timeout)
    try:
        _write(layout, lambda: config.save_settings(layout, settings))
        if identity:
            _write(layout, lambda: keystone.write_clouds_yaml(layout.clouds_yaml, identity))
        else:
            _write(layout, lambda: config.write_clouds_yaml(layout.clouds_yaml, settings.port,
                                                            credentials))
    except FirstappError:  # a cloud its commands could not find again is no use: stop it
        proc.terminate()
        proc.wait(10)
        layout.pid_file.unlink(missing_ok=True)
        raise
    return cloud, True


def _write(layout: Layout, write) -> None:
    """Run ``write``; a full or read-only disk becomes one clear line."""
    try:
        write()
    except OSError as exc:
        raise FirstappError(f"cannot write the cloud's files in {layout.root}: "
                            f"{exc.strerror}; free some space or fix its permissions") from None


def _port_taken(port: int) -> FirstappError:
    holder = port_holder(port)
    return FirstappError(f"port {port} on {LOOPBACK} is already in use by another program"
                         f"{f' ({holder})' if holder else ''}; choose a free one with --port N")


def stop(data_dir: str | os.PathLike[str] | None = None, timeout: float = 10.0) -> bool:
    """Stop the cloud's server process; return False when it was not running."""
    layout = Layout.at(data_dir)
    if not config.exists(layout):  # the server starts only once the cloud is complete
        return False
    with locked(layout):
        pid = _running_pid(layout)
        if pid is None:
            return keystone.stop(layout)
        with contextlib.suppress(ProcessLookupError):  # it may exit by itself meanwhile
            os.kill(pid, signal.SIGTERM)
            if not wait_until(lambda: not alive(pid), timeout):
                os.kill(pid, signal.SIGKILL)
                wait_until(lambda: not alive(pid), 5.0)
        _stop_workers(layout)
        layout.pid_file.unlink(missing_ok=True)
        layout.ports_file.unlink(missing_ok=True)
        keystone.stop(layout)
        with contextlib.suppress(FirstappError):  # settings unreadable: nothing to wait for
            port = config.load_settings(layout).port
            wait_until(lambda: not port_in_use(port), PORT_RELEASE_WAIT, 0.1)
    return True


def _stop_workers(layout: Layout) -> None:
    """Kill any worker process the server left behind (the server stops its workers
    itself; this only matters when it had to be killed)."""
    for pid in _find_processes(layout, WORKER_MODULE):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda pid=pid: not alive(pid), 5.0)


def worker_pids(layout: Layout) -> list[int]:
    """The pids of the running server's extra worker processes (from its ``ports.json``)."""
    try:
        pids = layout.read_json(layout.ports_file).get("worker_pids", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [pid for pid in pids if isinstance(pid, int) and pid > 0 and alive(pid)
            and _is_process_of(pid, layout, WORKER_MODULE)]


def status(data_dir: str | os.PathLike[str] | None = None) -> dict:
    """Running or not, endpoint, devices, replicas and what the account holds."""
    cloud = info(data_dir)
    report = {
        "running": cloud.running,
        "data_dir": str(cloud.layout.root),
        "auth": ("Keystone v3" + (" (running)" if keystone.running_pid(cloud.layout) else
                                  " (not running)")) if cloud.identity else "Swift v1 (tempauth)",
        "auth_url": cloud.auth_url,
        "storage_url": cloud.storage_url,
        "devices": cloud.layout.device_names(),
        "replicas": cloud.settings.replicas,
        "workers": cloud.settings.workers,
    }
    if cloud.running:
        if cloud.identity and keystone.running_pid(cloud.layout) is None:
            raise FirstappError(f"the local cloud's Swift runs, but its Keystone does not "
                                f"(see {keystone.log_file(cloud.layout)}); {START_HINT} "
                                "again to restart Keystone")
        report["serving_pids"] = [cloud.pid, *worker_pids(cloud.layout)]
        report.update(usage(cloud))
    return report


def usage(cloud: CloudInfo) -> dict[str, int]:
    """Containers, objects and bytes, summed from each container (always current)."""
    conn = cloud.connection()
    _, containers = conn.get_account(full_listing=True)
    totals = {"containers": len(containers), "objects": 0, "bytes": 0}
    for entry in containers:
        headers = conn.head_container(entry["name"])
        totals["objects"] += int(headers["x-container-object-count"])
        totals["bytes"] += int(headers["x-container-bytes-used"])
    return totals


def _spawn(layout: Layout, port: int, workers: int) -> subprocess.Popen:
    with open(layout.log_file, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, str(layout.root), str(port), str(workers)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the terminal's Ctrl-C and the CLI's exit
            env=server_env(),
        )
    try:
        _write(layout, lambda: layout.pid_file.write_text(str(proc.pid)))
    except FirstappError:
        proc.kill()
        proc.wait(10)
        raise
    return proc


def server_env() -> dict[str, str]:
    """Environment of the Swift processes: every address is numeric loopback, so eventlet's
    green DNS resolver (dnspython, ~0.2 s to import) is not needed."""
    return {**os.environ, "EVENTLET_NO_GREENDNS": "yes"}


def _wait_ready(cloud: CloudInfo, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            cloud.layout.pid_file.unlink(missing_ok=True)
            if code == PORT_TAKEN:
                raise _port_taken(cloud.port)
            raise FirstappError(
                f"the cloud's server exited with status {code} ({_last_line(cloud.layout.log_file)}"
                f"); see {cloud.layout.log_file}"
            )
        if cloud.layout.ports_file.exists():
            try:
                cloud.sign_in()
                return
            except FirstappError:
                pass
        if time.monotonic() > deadline:
            proc.kill()
            cloud.layout.pid_file.unlink(missing_ok=True)
            raise FirstappError(f"the cloud did not answer within {timeout:.0f} s; see "
                                f"{cloud.layout.log_file}")
        time.sleep(0.01)


def _running_pid(layout: Layout) -> int | None:
    """The pid of this cloud's server if it runs, else None.

    Looked for in ``cloud.pid``, then in the server's own record (``ports.json``), then
    among all processes, so a damaged or deleted pid file cannot orphan a server; the pid
    file is rewritten (or removed) to match what was found.
    """
    recorded = _read_pid(layout.pid_file)
    for pid in (recorded, _read_pid(layout.ports_file)):
        if pid is not None and alive(pid) and _is_our_server(pid, layout):
            break
    else:
        pid = _find_server(layout)
    with contextlib.suppress(OSError):  # a read-only or full disk: the pid is what matters
        if pid is None:
            layout.pid_file.unlink(missing_ok=True)
        elif pid != recorded:
            layout.pid_file.write_text(str(pid))
    return pid


def _read_pid(path: Path) -> int | None:
    """The pid in ``cloud.pid`` (a number) or ``ports.json`` (its "pid"); None if unreadable."""
    try:
        text = path.read_text()
        pid = json.loads(text)["pid"] if path.suffix == ".json" else int(text)
    except (OSError, ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None
    return pid if isinstance(pid, int) and pid > 0 else None


def _is_server_command(args: list[str], layout: Layout, module: str = SERVER_MODULE) -> bool:
    """``python -m firstapp.cloud.server DATA_DIR PORT WORKERS`` (or another ``module``)
    for this data directory."""
    try:
        at = args.index(module)
    except ValueError:
        return False
    return args[at + 1:at + 2] == [str(layout.root)]


def _is_process_of(pid: int, layout: Layout, module: str) -> bool:
    args = _command_line(pid)
    return args is not None and _is_server_command(args, layout, module)


def _is_our_server(pid: int, layout: Layout) -> bool:
    return _is_process_of(pid, layout, SERVER_MODULE)


def _command_line(pid: int) -> list[str] | None:
    """A process's arguments, from /proc (Linux) or ``ps`` (macOS); None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [arg.decode(errors="replace") for arg in raw.split(b"\0")]
    except FileNotFoundError:
        if Path("/proc/self/cmdline").exists():
            return None
    except OSError:
        return None
    done = subprocess.run(["ps", "-ww", "-o", "command=", "-p", str(pid)],
                          capture_output=True, text=True, check=False)
    return done.stdout.split() if done.returncode == 0 else None


def _find_server(layout: Layout) -> int | None:
    """Search every process for this cloud's server (it is named by its data directory)."""
    return next(iter(_find_processes(layout, SERVER_MODULE)), None)


def _find_processes(layout: Layout, module: str) -> list[int]:
    """Every process running ``module`` for this data directory."""
    if Path("/proc/self/cmdline").exists():
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
        return [pid for pid in pids
                if pid != os.getpid() and _is_process_of(pid, layout, module)]
    done = subprocess.run(["ps", "-ax", "-ww", "-o", "pid=,command="],
                          capture_output=True, text=True, check=False)
    found = []
    for line in done.stdout.splitlines():
        pid, *args = line.split()
        if _is_server_command(args, layout, module):
            found.append(int(pid))
    return found


def _last_line(path: Path) -> str:
    """The last line the server logged (its error, when it failed to start)."""
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    return lines[-1].strip() if lines else "nothing logged"
