"""The local cloud on Ceph: one monitor, three OSDs, the RADOS Gateway's Swift API.

Debian's Ceph packages (``make ceph``) run as plain daemons of the current user, every file
below the data directory: ``ceph.conf``, ``keyring`` (cephx keys, mode 0600), ``mon/``,
``osd/N/`` (MemStore: objects in memory, saved there on stop), ``log/``, ``run/`` (pid
files, admin sockets).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from firstapp.cloud import config
from firstapp.cloud.client import START_HINT
from firstapp.cloud.control import check_data_dir, locked, v1_env
from firstapp.cloud.layout import Layout, write_private
from firstapp.cloud.processes import alive
from firstapp.errors import FirstappError
from firstapp.net import LOOPBACK, free_port, port_in_use, wait_until

BACKEND = "ceph"
PROGRAMS = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "ceph-authtool",
            "monmaptool")
INSTALL_HINT = "run `make ceph` (it needs root), or `firstapp cloud start --backend swift`"
OSDS = 3
REPLICAS = 3
# Each OSD's capacity. MemStore keeps objects in memory (saved to osd/N/ on `stop`), so only
# what is stored takes memory: with deleted data collected within seconds, a tutorial run
# (64 MiB large object, three copies) needs ~200 MiB, and 20 runs without any collection fit.
OSD_BYTES = 4 << 30
NEARLY_FULL = 0.80  # `status` warns above this share of the store in use
USER = config.ACCOUNT  # the gateway's user; its Swift subuser has the Swift cloud's name
SUBUSER = f"{config.ACCOUNT}:{config.USER}"
GC_SECONDS = 2  # deleted objects' data is collected this soon (RGW's default: 2 hours)
CMD_TIMEOUT = 30.0  # s for any one Ceph command
START_TIMEOUT = 90.0
CEPH_FILES = {".lock", "ceph.conf", "keyring", "mon", "osd", "log", "run", "crash", "rgw",
              *(name + tmp for name in ("settings.json", "credentials.json", "clouds.yaml")
                for tmp in ("", ".tmp"))}


@dataclass(frozen=True)
class CephSettings:
    """What the Ceph cloud was created with (``settings.json``)."""

    port: int
    mon_port: int
    backend: str = BACKEND
    devices: int = OSDS
    replicas: int = REPLICAS
    osd_bytes: int = OSD_BYTES
    objectstore: str = "memstore"


@dataclass(frozen=True)
class CephCloud:
    """A local Ceph cloud: where it lives, how to reach it, whether it runs."""

    layout: Layout
    settings: CephSettings
    credentials: config.Credentials = field(repr=False)
    pids: dict[str, int]
    backend: str = BACKEND

    @property
    def running(self) -> bool:
        return f"client.{RGW}" in self.pids

    @property
    def pid(self) -> int | None:
        return self.pids.get(f"client.{RGW}")

    @property
    def port(self) -> int:
        return self.settings.port

    @property
    def auth_url(self) -> str:
        return auth_url(self.port)

    @property
    def storage_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v1/AUTH_{USER}"

    @property
    def username(self) -> str:
        return self.credentials.username

    @property
    def password(self) -> str:
        return self.credentials.password

    def connection(self):
        """A python-swiftclient Connection to this cloud, signed in (Swift v1 auth)."""
        from firstapp.cloud.client import connection

        return connection(self.auth_url, self.username, self.password)

    def env(self) -> dict[str, str]:
        """OS_* variables (and the swift CLI's ST_*), and FIRSTAPP_CLOUD_DIR."""
        return v1_env(self)


RGW = "rgw"


def auth_url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}/auth/v1.0"  # as Swift's; RGW answers both


def is_ceph(layout: Layout) -> bool:
    """True when the data directory holds a Ceph cloud (its ceph.conf, or its settings)."""
    if (layout.root / "ceph.conf").exists():
        return True
    try:
        return layout.read_json(layout.settings_file).get("backend") == BACKEND
    except (OSError, ValueError, AttributeError):
        return False


def daemons(settings: CephSettings) -> list[str]:
    """Ceph's names of the daemons, in start order."""
    return ["mon.a", *(f"osd.{i}" for i in range(settings.devices)), f"client.{RGW}"]


def installed() -> bool:
    """Whether Ceph's programs are installed (``make ceph``)."""
    return all(shutil.which(name) for name in PROGRAMS)


def check_installed() -> None:
    """Raise one clear line when Ceph's programs are missing."""
    missing = [name for name in PROGRAMS if shutil.which(name) is None]
    if missing:
        raise FirstappError(f"Ceph is not installed ({', '.join(missing)} not found): "
                            f"{INSTALL_HINT}")


def load_settings(layout: Layout) -> CephSettings:
    try:
        data = layout.read_json(layout.settings_file)
        return CephSettings(**{k: v for k, v in data.items()
                               if k in CephSettings.__dataclass_fields__})
    except (OSError, ValueError, TypeError) as exc:
        raise FirstappError(f"cannot read {layout.settings_file} ({exc}); the Ceph cloud in "
                            f"{layout.root} cannot be used: delete that directory to start "
                            "over") from None


def _save_settings(layout: Layout, settings: CephSettings) -> None:
    write_private(layout.settings_file, json.dumps(settings.__dict__, indent=2) + "\n")


def load_credentials(layout: Layout) -> config.Credentials:
    try:
        data = layout.read_json(layout.credentials_file)
        return config.Credentials(data["username"], data["password"])
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise FirstappError(f"cannot read {layout.credentials_file} ({exc}); the Ceph cloud "
                            f"in {layout.root} cannot be used: delete that directory to "
                            "start over") from None


def exists(layout: Layout) -> bool:
    return layout.settings_file.exists() and layout.credentials_file.exists() and is_ceph(layout)


def info(data_dir: str | os.PathLike[str] | None = None) -> CephCloud:
    """The Ceph cloud in ``data_dir``; raises if it was never created."""
    layout = Layout.at(data_dir)
    if not exists(layout):
        raise FirstappError(f"there is no local cloud in {layout.root}; {START_HINT}")
    settings = load_settings(layout)
    return CephCloud(layout, settings, load_credentials(layout), _running(layout, settings))


# ---------------------------------------------------------------- files


def _conf(layout: Layout, settings: CephSettings, fsid: str) -> str:
    root = layout.root
    return f"""# The local cloud's Ceph: written by `firstapp cloud start --backend ceph`
[global]
fsid = {fsid}
mon host = [v1:{LOOPBACK}:{settings.mon_port}]
mon initial members = a
public addr = {LOOPBACK}
cluster addr = {LOOPBACK}
ms bind ipv6 = false
ms bind msgr2 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = {root}/keyring
run dir = {root}/run
admin socket = {root}/run/$name.asok
pid file = {root}/run/$name.pid
log file = {root}/log/$name.log
crash dir = {root}/crash
exec dir = {root}/run
log to stderr = false
err to stderr = true
mon cluster log file = {root}/log/cluster.log
osd pool default size = {settings.replicas}
osd pool default min size = {max(1, settings.replicas - 1)}
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
auth allow insecure global id reclaim = false

[mon]
mon data = {root}/mon/$name
paxos propose interval = 0.01
paxos min wait = 0.001

[osd]
osd data = {root}/osd/$id
osd objectstore = {settings.objectstore}
bluestore block size = {settings.osd_bytes}
bluestore cache size = 67108864
memstore device bytes = {settings.osd_bytes}
osd fast shutdown = false
osd memory target = 536870912
osd heartbeat grace = 6
osd scrub auto repair = true
osd max object size = 134217728

[client.{RGW}]
{_frontends(settings)}
rgw data = {root}/rgw
rgw enable apis = swift, swift_auth, admin
# the Swift API at /v1/AUTH_tutorial and /info, as Swift serves them (RGW's defaults:
# /swift/v1, no account)
rgw swift url prefix = /
rgw swift account in url = true
rgw swift versioning enabled = true
rgw gc obj min wait = {GC_SECONDS}
rgw gc processor period = {GC_SECONDS}
rgw gc processor max time = {GC_SECONDS}
rgw init timeout = 60
rgw thread pool size = 64
# no S3 bucket lifecycle here; its thread sleeps 5 s at a time, and stopping waits for it
rgw enable lc threads = false
# ask for a newer OSD map every 0.2 s, not 5 s: the gateway starts before the OSDs are up
objecter tick interval = 0.2
"""


def _run(layout: Layout, *args: str, timeout: float = CMD_TIMEOUT, what: str = "") -> str:
    """Run a Ceph program on this cloud's configuration; its output, or one clear error."""
    cmd = [args[0], "-c", str(layout.root / "ceph.conf"), *args[1:]]
    if args[0] in ("ceph-authtool", "monmaptool"):
        cmd = list(args)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise FirstappError(f"Ceph did not answer within {timeout:.0f} s ({what or args[0]}); "
                            f"see {layout.root / 'log'}") from None
    except FileNotFoundError:
        raise FirstappError(f"Ceph is not installed ({args[0]} not found): "
                            f"{INSTALL_HINT}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise FirstappError(f"Ceph's {args[0]} failed ({what or args[1]}: {last}); see "
                            f"{layout.root / 'log'}")
    return done.stdout


def ceph_json(layout: Layout, *args: str, timeout: float = CMD_TIMEOUT):
    """A ``ceph`` command's JSON answer (monitor commands)."""
    out = _run(layout, "ceph", "--connect-timeout", str(int(timeout)), "--format", "json",
               *args, timeout=timeout + 5, what=" ".join(args))
    return json.loads(out) if out.strip() else None


def _create(layout: Layout, settings: CephSettings) -> None:
    """Write the configuration, keys, monitor store and OSDs (daemons not yet running)."""
    root = layout.root
    for sub in ("mon", "osd", "log", "run", "crash", "rgw"):
        (root / sub).mkdir(mode=0o700, exist_ok=True)
    fsid = str(uuid.uuid4())
    (root / "ceph.conf").write_text(_conf(layout, settings, fsid))
    keyring = str(root / "keyring")
    fd = os.open(keyring, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    keys = [("mon.", ["mon", "allow *"]),
            ("client.admin", ["mon", "allow *", "osd", "allow *", "mgr", "allow *"]),
            *((f"osd.{i}", ["mon", "allow profile osd", "osd", "allow *", "mgr",
                            "allow profile osd"]) for i in range(settings.devices)),
            (f"client.{RGW}", ["mon", "allow rw", "osd", "allow rwx", "mgr", "allow rw"])]
    for name, caps in keys:
        capargs = [a for pair in zip(["--cap"] * (len(caps) // 2), caps[0::2], caps[1::2],
                                     strict=True) for a in pair]
        _run(layout, "ceph-authtool", keyring, "--gen-key", "-n", name, *capargs,
             what="keyring")
    monmap = str(root / "run" / "monmap")
    _run(layout, "monmaptool", "--create", "--fsid", fsid, "--addv", "a",
         f"[v1:{LOOPBACK}:{settings.mon_port}]", monmap, what="monmap")
    _run(layout, "ceph-mon", "--mkfs", "-i", "a", "--monmap", monmap, "--keyring", keyring,
         what="monitor store")
    os.unlink(monmap)
    _start_daemons(layout, ["mon.a"])
    for i in range(settings.devices):
        osd_uuid = str(uuid.uuid4())
        ceph_json(layout, "osd", "new", osd_uuid, str(i))
        (root / "osd" / str(i)).mkdir(mode=0o700, exist_ok=True)
        _run(layout, "ceph-osd", "--mkfs", "-i", str(i), "--osd-uuid", osd_uuid,
             timeout=120, what=f"osd.{i} --mkfs")


def _start_daemons(layout: Layout, names: list[str]) -> None:
    """Start daemons side by side; each forks, and its parent exits once the daemon is up."""
    procs = []
    with open(layout.root / "log" / "daemons.log", "ab") as log:
        for name in names:
            kind, ident = name.split(".", 1)
            program = {"mon": "ceph-mon", "osd": "ceph-osd", "client": "radosgw"}[kind]
            flag = "-n" if kind == "client" else "-i"
            cmd = [program, "-c", str(layout.root / "ceph.conf"), flag,
                   name if kind == "client" else ident]
            try:  # the forked daemon keeps no pipe of ours open: its output goes to the log
                procs.append((name, subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                                     stdout=log, stderr=log)))
            except FileNotFoundError:
                raise FirstappError(f"Ceph is not installed ({program} not found): "
                                    f"{INSTALL_HINT}") from None
    deadline = time.monotonic() + 60
    for name, proc in procs:
        try:
            code = proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            code = "none within 60 s"
        if code != 0:
            raise FirstappError(f"Ceph's {name} did not start (exit status {code}); see "
                                f"{layout.root / 'log' / (name + '.log')}")


def _pid_file(layout: Layout, name: str) -> Path:
    return layout.root / "run" / f"{name}.pid"


def _is_ours(pid: int, layout: Layout, name: str) -> bool:
    try:
        args = [a.decode(errors="replace") for a in
                Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")]
    except OSError:
        return False
    conf = str(layout.root / "ceph.conf")
    if conf not in args:
        return False
    kind, ident = name.split(".", 1)
    return (["-n", name] == args[-2:] if kind == "client"
            else "-i" in args and args[args.index("-i") + 1] == ident)


def _running(layout: Layout, settings: CephSettings) -> dict[str, int]:
    """The daemons that run, by name: from their pid files, else from /proc."""
    found: dict[str, int] = {}
    procs = None
    for name in daemons(settings):
        try:
            pid = int(_pid_file(layout, name).read_text())
        except (OSError, ValueError):
            pid = None
        if pid is None or not (alive(pid) and _is_ours(pid, layout, name)):
            if procs is None:
                procs = [int(p) for p in os.listdir("/proc") if p.isdigit()]
            pid = next((p for p in procs if _is_ours(p, layout, name) and alive(p)), None)
        if pid is not None:
            found[name] = pid
    return found


# ---------------------------------------------------------------- lifecycle


def start(data_dir: str | os.PathLike[str] | None = None, port: int | None = None,
          timeout: float = START_TIMEOUT) -> tuple[CephCloud, bool]:
    """Start the Ceph cloud (creating it on first use); return it and whether it started now."""
    check_installed()
    layout = Layout.at(data_dir)
    check_data_dir(layout)
    if layout.root.is_dir() and not exists(layout):
        if config.exists(layout):
            raise FirstappError(f"{layout.root} holds a Swift cloud: use `--backend swift`, "
                                "or another --data-dir for Ceph")
        foreign = sorted(p.name for p in layout.root.iterdir()
                         if p.name not in CEPH_FILES | {".lock"})
        if foreign:
            raise FirstappError(f"{layout.root} holds other files ({', '.join(foreign[:3])}) "
                                "and no local cloud: give --data-dir a new or empty directory")
    with locked(layout):
        return _start(layout, port, timeout)


def _start(layout: Layout, port: int | None, timeout: float) -> tuple[CephCloud, bool]:
    if exists(layout):
        settings = load_settings(layout)
        pids = _running(layout, settings)
        if len(pids) == len(daemons(settings)):
            return info(layout.root), False
        if port is not None and port != settings.port and not pids:
            settings = CephSettings(**{**settings.__dict__, "port": port})
        fresh = False
    else:
        if layout.credentials_file.exists():  # objects may exist: never wipe them
            raise FirstappError(f"{layout.settings_file} is missing, so the Ceph cloud in "
                                f"{layout.root} cannot start: restore that file, or delete the "
                                "directory to start over")
        # a half-created directory (an interrupted first start: no user yet, so no
        # objects) is created again
        _stop_all(layout, None)
        for sub in ("mon", "osd", "run", "rgw"):
            shutil.rmtree(layout.root / sub, ignore_errors=True)
        settings = CephSettings(port=port or config.DEFAULT_PORT, mon_port=free_port())
        pids = {}
        fresh = True
    if f"client.{RGW}" not in pids and port_in_use(settings.port):
        raise FirstappError(f"port {settings.port} on {LOOPBACK} is already in use by another "
                            "program; choose a free one with --port N")
    if "mon.a" not in pids and port_in_use(settings.mon_port):
        raise FirstappError(f"port {settings.mon_port} on {LOOPBACK}, the Ceph monitor's, is "
                            "taken by another program; stop that program (the monitor's "
                            "address is fixed when the cloud is created)")
    try:
        if fresh:
            _create(layout, settings)
        else:
            # the port may have changed: the configuration follows the settings
            _rewrite_rgw_port(layout, settings)
        running = _running(layout, settings)
        if "mon.a" not in running:
            _start_daemons(layout, ["mon.a"])
        _start_daemons(layout, [n for n in daemons(settings)[1:] if n not in running])
        _wait_ready(layout, settings, timeout)
        if fresh:
            creds = _create_user(layout)
            write_private(layout.credentials_file, json.dumps(creds.__dict__) + "\n")
        creds = load_credentials(layout)
        _save_settings(layout, settings)
    except FirstappError:
        _stop_all(layout, settings)
        raise
    except OSError as exc:
        _stop_all(layout, settings)
        raise FirstappError(f"cannot write the cloud's files in {layout.root}: "
                            f"{exc.strerror}; free some space or fix its permissions") from None
    _write_clouds_yaml(layout, settings, creds)
    return info(layout.root), True


def _frontends(settings: CephSettings) -> str:
    """The gateway's HTTP frontend: beast on the cloud's port, with TCP_NODELAY (without
    it, a response body smaller than a TCP segment waited 40 ms behind its headers for
    the client's delayed ACK: a GET of a 16 KiB object took 44 ms instead of 1.5)."""
    return f"rgw frontends = beast endpoint={LOOPBACK}:{settings.port} tcp_nodelay=1"


def _rewrite_rgw_port(layout: Layout, settings: CephSettings) -> None:
    conf = layout.root / "ceph.conf"
    lines = conf.read_text().splitlines()
    lines = [_frontends(settings) if line.startswith("rgw frontends =") else line
             for line in lines]
    conf.write_text("\n".join(lines) + "\n")


def _wait_ready(layout: Layout, settings: CephSettings, timeout: float) -> None:
    """Wait until the gateway answers HTTP (it does once its pools exist)."""
    import requests

    url = f"http://{LOOPBACK}:{settings.port}/info"
    deadline = time.monotonic() + timeout
    while True:
        try:  # the gateway listens once it is ready
            if requests.get(url, timeout=5).status_code < 500:
                return
        except requests.RequestException:
            pass
        missing = [n for n in daemons(settings) if n not in _running(layout, settings)]
        if missing:
            raise FirstappError(f"Ceph's {missing[0]} exited while starting; see "
                                f"{layout.root / 'log' / (missing[0] + '.log')}")
        if time.monotonic() > deadline:
            raise FirstappError(f"Ceph's gateway did not answer within {timeout:.0f} s; see "
                                f"{layout.root / 'log'}")
        time.sleep(0.05)


def _create_user(layout: Layout) -> config.Credentials:
    """The gateway's user and its Swift subuser; the key is generated by Ceph (never on a
    command line)."""
    _run(layout, "radosgw-admin", "-n", f"client.{RGW}", "user", "create", f"--uid={USER}",
         f"--display-name={USER}", what="user create")
    out = _run(layout, "radosgw-admin", "-n", f"client.{RGW}", "subuser", "create",
               f"--subuser={SUBUSER}", "--access=full", "--key-type=swift", "--gen-secret",
               what="subuser create")
    keys = json.loads(out)["swift_keys"]
    secret = next(k["secret_key"] for k in keys if k["user"] == SUBUSER)
    return config.Credentials(SUBUSER, secret)


def _write_clouds_yaml(layout: Layout, settings: CephSettings,
                       creds: config.Credentials) -> None:
    import yaml

    entry = {"auth_type": "v1password",
             "auth": {"auth_url": auth_url(settings.port), "username": creds.username,
                      "password": creds.password}}
    write_private(layout.clouds_yaml,
                  yaml.safe_dump({"clouds": {"local": entry}}, sort_keys=False))


def stop(data_dir: str | os.PathLike[str] | None = None, timeout: float = 20.0) -> bool:
    """Stop every daemon of the Ceph cloud; return False when none was running."""
    layout = Layout.at(data_dir)
    if not is_ceph(layout):
        return False
    with locked(layout):
        try:
            settings = load_settings(layout)
        except FirstappError:  # damaged settings: the daemons are found by their ceph.conf
            settings = None
        return _stop_all(layout, settings, timeout)


def _stop_all(layout: Layout, settings: CephSettings | None, timeout: float = 20.0) -> bool:
    """SIGTERM the gateway, then the OSDs, then the monitor (SIGKILL after ``timeout``)."""
    if settings is None:
        try:
            settings = load_settings(layout)
        except FirstappError:
            settings = CephSettings(port=0, mon_port=0, devices=OSDS)
    running = _running(layout, settings)
    for group in ([f"client.{RGW}"], [n for n in running if n.startswith("osd.")], ["mon.a"]):
        pids = [running[n] for n in group if n in running]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if not wait_until(lambda pids=pids: not any(alive(p) for p in pids), timeout):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            wait_until(lambda pids=pids: not any(alive(p) for p in pids), 5.0)
    for name in daemons(settings):
        _pid_file(layout, name).unlink(missing_ok=True)
    return bool(running)


def admin(layout: Layout, name: str, command: dict, timeout: float = 10.0):
    """A command to a daemon's admin socket (``run/NAME.asok``); its JSON answer."""
    import socket
    import struct

    path = str(layout.root / "run" / f"{name}.asok")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(json.dumps(command).encode() + b"\0")
            head = b""
            while len(head) < 4:
                chunk = sock.recv(4 - len(head))
                if not chunk:
                    raise OSError("closed")
                head += chunk
            (size,) = struct.unpack(">I", head)
            body = b""
            while len(body) < size:
                chunk = sock.recv(min(65536, size - len(body)))
                if not chunk:
                    raise OSError("closed")
                body += chunk
        except OSError as exc:
            raise FirstappError(f"Ceph's {name} does not answer on {path} ({exc}); "
                                f"{START_HINT}") from None
    return json.loads(body) if body.strip() else None


def _osd_states(layout: Layout, settings: CephSettings) -> dict[str, bool]:
    """Each OSD and whether the monitor counts it up (all down when the monitor is)."""
    names = [f"osd.{i}" for i in range(settings.devices)]
    try:
        dump = ceph_json(layout, "osd", "dump", timeout=10)
    except FirstappError:
        return dict.fromkeys(names, False)
    return {f"osd.{o['osd']}": bool(o["up"]) for o in dump["osds"]}


def space(layout: Layout, settings: CephSettings) -> dict[str, int]:
    """Bytes used and free, summed over the OSDs that run (their own statistics)."""
    used = total = 0
    for i in range(settings.devices):
        with contextlib.suppress(FirstappError):
            stats = admin(layout, f"osd.{i}", {"prefix": "perf dump"})["osd"]
            used += stats["stat_bytes_used"]
            total += stats["stat_bytes"]
    return {"used_bytes": used, "free_bytes": total - used, "total_bytes": total}


def status(data_dir: str | os.PathLike[str] | None = None) -> dict:
    """Running or not, endpoints, OSDs up/down, replicas, space, and what the account holds."""
    from firstapp.cloud.control import usage

    cloud = info(data_dir)
    report = {
        "backend": BACKEND,
        "running": cloud.running,
        "data_dir": str(cloud.layout.root),
        "auth": "Swift v1 (RGW)",
        "auth_url": cloud.auth_url,
        "storage_url": cloud.storage_url,
        "devices": [f"{name} ({'up' if up else 'down'})" for name, up in
                    sorted(_osd_states(cloud.layout, cloud.settings).items())]
        if cloud.pids else [f"osd.{i} (down)" for i in range(cloud.settings.devices)],
        "replicas": cloud.settings.replicas,
        "warnings": [],
    }
    if cloud.running:
        report.update(usage(cloud))
        report.update(space(cloud.layout, cloud.settings))
        total = report["total_bytes"]
        if total and report["used_bytes"] > NEARLY_FULL * total:
            report["warnings"].append(
                f"the store is {100 * report['used_bytes'] // total}% full: delete objects "
                "you no longer need (writes stop at 95%)")
    missing = [n for n in daemons(cloud.settings) if n not in cloud.pids]
    if cloud.pids and missing:
        report["warnings"].append(f"not running: {', '.join(missing)}; `firstapp cloud start` "
                                  "starts them again")
    return report


@dataclass(frozen=True)
class CephRepairReport:
    """Placement groups by state after Ceph's own recovery, and what is still wrong."""

    counts: dict[str, int]
    problems: list[str] = field(default_factory=list)

    def __getitem__(self, key: str) -> int:
        return self.counts[key]

    def summary(self) -> str:
        c = self.counts
        return (f"checked {c['pgs']} placement groups on {c['osds_up']} of {c['osds']} OSDs: "
                f"{c['clean']} active+clean, {c['degraded']} degraded or recovering, "
                f"{c['inconsistent']} inconsistent")


def pg_states(layout: Layout, settings: CephSettings, pool: int | None = None
              ) -> dict[str, str]:
    """Every placement group's state (of pool number ``pool``, or all), as its primary OSD
    reports it on its admin socket (the local cloud runs no ceph-mgr, which would count
    them for ``ceph -s``); the OSDs that are down report nothing."""
    states: dict[str, str] = {}
    for i in range(settings.devices):
        try:
            history = admin(layout, f"osd.{i}", {"prefix": "dump_pgstate_history"})
        except FirstappError:
            continue
        for pg in history["pgs"]:
            if pool is not None and not pg["pg"].startswith(f"{pool}."):
                continue
            if "/Primary/" in pg["currently"]:
                query = admin(layout, f"osd.{i}", {"prefix": "query", "pgid": pg["pg"]})
                states[pg["pg"]] = query["state"]
    return states


def rados(layout: Layout, *args: str, timeout: float = CMD_TIMEOUT) -> bytes:
    """The output of Ceph's ``rados`` tool on this cloud (``rados -p POOL ls``, ``get``...)."""
    cmd = ["rados", "-c", str(layout.root / "ceph.conf"), *args]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise FirstappError(f"Ceph did not answer within {timeout:.0f} s (rados "
                            f"{' '.join(args)}); see {layout.root / 'log'}") from None
    except FileNotFoundError:
        raise FirstappError(f"Ceph is not installed (rados not found): {INSTALL_HINT}") from None
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        raise FirstappError(f"Ceph's rados failed ({' '.join(args)}: {last})")
    return done.stdout


def take_down(data_dir: str | os.PathLike[str] | None, name: str,
              timeout: float = 30.0) -> None:
    """Stop one OSD (``osd.N``), as a failed disk or server would, and wait until the
    monitor counts it down; ``start`` starts it again."""
    cloud = info(data_dir)
    pid = cloud.pids.get(name)
    if not name.startswith("osd.") or pid is None:
        raise FirstappError(f"{name} is not a running OSD of the cloud in {cloud.layout.root}")
    os.kill(pid, signal.SIGTERM)
    if not (wait_until(lambda: not alive(pid), timeout) and wait_until(
            lambda: not _osd_states(cloud.layout, cloud.settings).get(name, True), timeout)):
        raise FirstappError(f"{name} did not stop within {timeout:.0f} s")


def repair(data_dir: str | os.PathLike[str] | None = None, timeout: float = 60.0
           ) -> CephRepairReport:
    """Wait (up to ``timeout``) for Ceph's own recovery to bring every placement group back to
    active+clean, then report; Ceph copies objects back to a returning OSD by itself."""
    cloud = info(data_dir)
    if not cloud.running:
        raise FirstappError(f"the local cloud is not running; {START_HINT}")
    deadline = time.monotonic() + timeout
    while True:
        osds = _osd_states(cloud.layout, cloud.settings)
        states = pg_states(cloud.layout, cloud.settings)
        clean = all(s == "active+clean" for s in states.values())
        if (clean and all(osds.values())) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    counts = {
        "osds": len(osds), "osds_up": sum(osds.values()), "pgs": len(states),
        "clean": sum(s == "active+clean" for s in states.values()),
        "degraded": sum(any(w in s for w in ("degraded", "undersized", "recover", "backfill",
                                             "peering", "down")) for s in states.values()),
        "inconsistent": sum("inconsistent" in s for s in states.values()),
    }
    problems = [f"{name} is down: `firstapp cloud start` starts it again, and Ceph then copies "
                "what it missed back to it" for name, up in sorted(osds.items()) if not up]
    if counts["clean"] < counts["pgs"] and not problems:
        problems.append(f"{counts['pgs'] - counts['clean']} placement groups are not "
                        f"active+clean after {timeout:.0f} s; see {cloud.layout.root / 'log'} "
                        "and run `firstapp cloud repair` again")
    return CephRepairReport(counts, problems)
