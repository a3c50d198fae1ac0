"""Swift configuration for a local cloud: swift.conf, server configs, credentials, rings.

Everything is written below the cloud's data directory; nothing goes to /etc/swift.
"""

from __future__ import annotations

import base64
import configparser
import json
import logging
import secrets
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from firstapp.cloud.layout import SERVICES, Layout, write_private
from firstapp.errors import FirstappError
from firstapp.net import LOOPBACK

log = logging.getLogger(__name__)

ACCOUNT = "tutorial"
USER = "learner"
PART_POWER = 8  # 256 partitions: plenty for a laptop, quick replication passes
RING_SEED = 1  # a fixed seed keeps object placement identical across re-creations
DEFAULT_PORT = 8080
DEFAULT_DEVICES = 3
MAX_DEVICES = 64  # a laptop's store; also bounds the directories a typo could create
#: Free space the store keeps: below it, writes are refused with 507 (Swift's own default).
DEFAULT_RESERVE = "1%"
AUTH_MODES = ("v1", "keystone")
#: Processes serving Swift (see :mod:`firstapp.cloud.server`): one per core of a 2-core
#: machine, the fastest there (docs/benchmarks.md); more only add memory.
DEFAULT_WORKERS = 2
MAX_WORKERS = 16  # each worker holds all of Swift's servers: about 60 MB

PROXY_PIPELINE = (
    "catch_errors gatekeeper healthcheck proxy-logging listing_formats bulk tempurl "
    "tempauth copy slo dlo versioned_writes symlink proxy-logging disk-space proxy-server"
)
# The proxy's patience with its backend servers, and how it error-limits them.
PROXY_CONN_TIMEOUT = 5  # s to connect and get "100 Continue" (Swift's default: 0.5)
PROXY_NODE_TIMEOUT = 30  # s to wait for a backend's answer or next chunk (default: 10)
ERROR_SUPPRESSION_LIMIT = 100  # errors before a device is avoided (default: 10)
ERROR_SUPPRESSION_INTERVAL = 10  # s a device is avoided after a 507 or too many errors (60)


@dataclass(frozen=True)
class Settings:
    """What ``firstapp cloud start`` was asked for; devices and replicas are fixed once the
    cloud exists. ``fallocate_reserve`` (no command-line option; edit ``settings.json`` and
    restart) is the free space the store keeps, in bytes or as ``N%`` of the disk."""

    port: int
    devices: int
    replicas: int
    fallocate_reserve: str = DEFAULT_RESERVE
    #: how users sign in: Swift's v1 tempauth, or Keystone v3 (:mod:`firstapp.cloud.keystone`)
    auth: str = "v1"
    keystone_port: int | None = None
    #: processes serving Swift (``--workers``); kept across restarts
    workers: int = DEFAULT_WORKERS

    def __post_init__(self) -> None:
        check(self.port, self.devices, self.replicas)
        check_workers(self.workers)
        parse_reserve(self.fallocate_reserve)
        if self.auth not in AUTH_MODES:
            raise FirstappError(f"auth must be one of {', '.join(AUTH_MODES)}, not "
                                f"{self.auth!r}")
        check(self.keystone_port, None, None)


def check(port: int | None, devices: int | None, replicas: int | None) -> None:
    """Refuse impossible settings with one line saying what is allowed."""
    for name, value in (("port", port), ("devices", devices), ("replicas", replicas)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise FirstappError(f"{name} must be a whole number, not {value!r}")
    if port is not None and not 1 <= port <= 65535:
        raise FirstappError(f"{port} is not a port number (1 to 65535)")
    if devices is not None and not 1 <= devices <= MAX_DEVICES:
        raise FirstappError(f"devices must be from 1 to {MAX_DEVICES}, not {devices}")
    if replicas is not None and replicas < 1:
        raise FirstappError(f"replicas must be at least 1, not {replicas}")
    if replicas is not None and devices is not None and replicas > devices:
        raise FirstappError(f"{replicas} replicas need at least {replicas} devices, "
                            f"got {devices}: every copy lives on a device of its own")


def check_workers(workers: int | None) -> None:
    """Refuse a number of worker processes outside 1 to MAX_WORKERS, in one line."""
    if workers is None:
        return
    if not isinstance(workers, int) or isinstance(workers, bool):
        raise FirstappError(f"workers must be a whole number, not {workers!r}")
    if not 1 <= workers <= MAX_WORKERS:
        raise FirstappError(f"workers must be from 1 to {MAX_WORKERS}, not {workers}")


def parse_workers(text: str) -> int:
    """A ``--workers`` value: a whole number from 1 to MAX_WORKERS, else one clear line."""
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if not 1 <= workers <= MAX_WORKERS:
        raise FirstappError(f"--workers must be a whole number from 1 to {MAX_WORKERS}, "
                            f"not {text!r}")
    return workers


def parse_reserve(text: str) -> tuple[float, bool]:
    """A ``fallocate_reserve`` value as Swift reads it: ``(amount, is_percent)``."""
    try:
        if isinstance(text, str) and text.endswith("%"):
            amount, percent = float(text[:-1]), True
        else:
            amount, percent = int(text), False
    except (TypeError, ValueError):
        amount, percent = -1, False
    if not 0 <= amount <= (100 if percent else float("inf")):
        raise FirstappError(f"fallocate_reserve must be a number of bytes or a percentage "
                            f"from 0% to 100%, not {text!r}")
    return amount, percent


def backend_reserve(reserve: str) -> str:
    """Half the store's reserve, for the object, container and account servers themselves.

    The proxy refuses writes at the full reserve before they reach a server (see
    :mod:`firstapp.cloud.diskspace`); the servers' own, lower limit only catches writes
    that race past it, and keeps room for their databases.
    """
    amount, percent = parse_reserve(reserve)
    return f"{amount / 2:g}%" if percent else str(int(amount) // 2)


@dataclass(frozen=True)
class Credentials:
    """Swift v1 (tempauth) credentials of the local cloud's one user."""

    username: str
    password: str

    @property
    def account(self) -> str:
        return self.username.split(":", 1)[0]


def create(layout: Layout, settings: Settings) -> None:
    """Create a new cloud in ``layout``: random secrets, swift.conf, device dirs and rings."""
    layout.etc.mkdir(parents=True, exist_ok=True)
    (layout.root / "recon").mkdir(exist_ok=True)
    layout.root.chmod(0o700)
    for i in range(1, settings.devices + 1):
        (layout.devices / f"d{i}").mkdir(parents=True, exist_ok=True)
    write_private(
        layout.etc / "swift.conf",
        "[swift-hash]\n"
        f"swift_hash_path_suffix = {secrets.token_hex(16)}\n"
        f"swift_hash_path_prefix = {secrets.token_hex(16)}\n\n"
        "[storage-policy:0]\nname = three-copies\ndefault = yes\n",
    )
    _save_secret(layout, _new_secret())
    _build_rings(layout, settings)
    # settings last: its presence marks a complete cloud
    save_settings(layout, settings)


def exists(layout: Layout) -> bool:
    """A cloud was created here: its settings, or (should they be lost) all of its rings."""
    return layout.settings_file.is_file() or all(
        layout.builder(service).is_file() for service in SERVICES)


def load_settings(layout: Layout) -> Settings:
    """The cloud's settings; a damaged or missing ``settings.json`` is rebuilt from the
    rings (devices, replicas) and ``clouds.yaml`` (port), and a warning says so."""
    try:
        data = layout.read_json(layout.settings_file)
        known = {f.name for f in fields(Settings)}
        return Settings(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError, AttributeError, FirstappError) as exc:
        damage = exc
    settings = _recover_settings(layout, damage)
    save_settings(layout, settings)
    log.warning("note: %s was damaged (%s); rebuilt it from the rings: port %d, %d devices, "
                "%d replicas", layout.settings_file, _why(damage), settings.port,
                settings.devices, settings.replicas)
    return settings


def save_settings(layout: Layout, settings: Settings) -> None:
    write_private(layout.settings_file, json.dumps(asdict(settings), indent=2))


def _why(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "missing"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _recover_settings(layout: Layout, damage: BaseException) -> Settings:
    try:
        from swift.common.ring import RingBuilder

        builder = RingBuilder.load(str(layout.builder("object")))
    except Exception:
        raise FirstappError(
            f"{layout.settings_file} is damaged ({_why(damage)}) and the rings in "
            f"{layout.etc} cannot be read to rebuild it: move {layout.root} aside and run "
            "`firstapp cloud start` to create a new cloud"
        ) from None
    devices = sum(1 for dev in builder.devs if dev is not None)
    port = DEFAULT_PORT
    try:
        doc = yaml.safe_load(layout.clouds_yaml.read_text())
        port = urlsplit(doc["clouds"]["local"]["auth"]["auth_url"]).port or DEFAULT_PORT
    except Exception:  # clouds.yaml is only a hint here; any damage means: use the default
        pass
    from firstapp.cloud import keystone

    return keystone.recover_settings(layout, Settings(port, devices, int(builder.replicas)))


def load_credentials(layout: Layout, renew: bool = False) -> Credentials:
    """The user's credentials. A missing or damaged ``credentials.json`` is rebuilt from
    the proxy's configuration; when that is gone too, ``renew`` makes new ones (the
    server must then be (re)started to use them), otherwise a FirstappError says what to do.
    """
    secret = _load_secret(layout, renew)
    return Credentials(secret["username"], secret["password"])


def _new_secret() -> dict[str, str]:
    return {
        "username": f"{ACCOUNT}:{USER}",
        "password": secrets.token_urlsafe(18),
        "fernet_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }


def _save_secret(layout: Layout, secret: dict[str, str]) -> None:
    write_private(layout.credentials_file, json.dumps(secret, indent=2))


def _load_secret(layout: Layout, renew: bool = False) -> dict[str, str]:
    try:
        secret = layout.read_json(layout.credentials_file)
        if all(isinstance(secret.get(k), str) and secret[k]
               for k in ("username", "password", "fernet_key")):
            return secret
        damage = "some fields are missing"
    except FileNotFoundError:
        damage = "missing"
    except (OSError, ValueError, AttributeError) as exc:
        damage = _why(exc)
    secret = _secret_from_proxy_conf(layout)
    if secret is not None:
        how = "recovered them from the proxy's configuration (same password)"
    elif renew:
        secret, how = _new_secret(), "made new ones (a new password)"
    else:
        raise FirstappError(
            f"{layout.credentials_file} is {damage} and cannot be recovered: run "
            f"`firstapp cloud stop` then `firstapp cloud start` (with the same --data-dir) "
            "to make new credentials; your objects are kept"
        )
    _save_secret(layout, secret)
    log.warning("note: %s was %s; %s", layout.credentials_file, damage, how)
    return secret


def _secret_from_proxy_conf(layout: Layout) -> dict[str, str] | None:
    """The credentials the proxy was last started with, from its tempauth section."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(layout.conf("proxy"))
        section = parser["filter:tempauth"]
        password = section[f"user_{ACCOUNT}_{USER}"].split()[0]
        fernet_key = section[f"fernet_key_{section['active_fernet_key_id']}"]
    except (configparser.Error, KeyError, IndexError, OSError, UnicodeDecodeError):
        return None
    return {"username": f"{ACCOUNT}:{USER}", "password": password, "fernet_key": fernet_key}


def auth_url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}/auth/v1.0"


def storage_url(port: int, creds: Credentials) -> str:
    return f"http://{LOOPBACK}:{port}/v1/AUTH_{creds.account}"


def _build_rings(layout: Layout, settings: Settings) -> None:
    from swift.common.ring import RingBuilder

    for service in SERVICES:
        builder = RingBuilder(PART_POWER, settings.replicas, 1)
        for i in range(settings.devices):
            builder.add_dev(
                {
                    "id": i,
                    "region": 1,
                    "zone": i + 1,
                    "ip": LOOPBACK,
                    "port": 0,  # set to the real port each time the cloud starts
                    "device": f"d{i + 1}",
                    "weight": 100.0,
                    "meta": "",
                }
            )
        builder.rebalance(seed=RING_SEED)
        builder.save(str(layout.builder(service)))
        builder.get_ring().save(str(layout.ring(service)))


def point_rings_at(layout: Layout, ports: dict[str, int]) -> None:
    """Rewrite each ring so its devices name the port its server listens on now.

    Only ip/port change; partition placement stays exactly as it was built.
    """
    from swift.common.ring import RingBuilder

    for service in SERVICES:
        builder = RingBuilder.load(str(layout.builder(service)))
        devs = [dev for dev in builder.devs if dev is not None]
        port = ports[service]
        if all(dev["port"] == dev["replication_port"] == port for dev in devs):
            continue
        for dev in devs:
            dev["port"] = dev["replication_port"] = port
        builder.save(str(layout.builder(service)))
        builder.get_ring().save(str(layout.ring(service)))


def write_server_configs(layout: Layout, ports: dict[str, int],
                         reserve: str = DEFAULT_RESERVE, replicas: int = 3,
                         keystone_port: int | None = None) -> None:
    """Write the proxy, account, container and object server configs for these ports.

    Timeouts and error limiting are sized for one process on one machine: every "node" is
    the same busy process, so a burst of requests makes all of them slow at once. Swift's
    defaults (0.5 s to connect, ten errors lock a device out for 60 s) would then turn a
    burst into a minute of refusals, and container updates that time out are left for the
    updater (which runs every few seconds here, see :mod:`firstapp.cloud.settle`).
    With ``keystone_port``, the proxy checks Keystone tokens instead of tempauth's.
    """
    secret = _load_secret(layout)
    account, user = secret["username"].split(":", 1)
    pipeline, auth_filters = PROXY_PIPELINE, (
        "[filter:tempauth]\nuse = egg:swift#tempauth\n"
        f"user_{account}_{user} = {secret['password']} .admin\n"
        f"fernet_key_1 = {secret['fernet_key']}\nactive_fernet_key_id = 1\n"
        "token_life = 86400\n\n")
    if keystone_port is not None:
        from firstapp.cloud import keystone

        pipeline = PROXY_PIPELINE.replace("tempauth", "authtoken keystoneauth")
        auth_filters = keystone.proxy_filters(layout, keystone_port)
    # [DEFAULT] values override an app's or filter's own (PasteDeploy's rule), so only
    # what every section shares goes there.
    common = (
        "[DEFAULT]\n"
        f"swift_dir = {layout.etc}\n"
        f"devices = {layout.devices}\n"
        "mount_check = false\n"
        f"bind_ip = {LOOPBACK}\n"
        "workers = 0\n"
        "log_level = WARNING\n"
        f"recon_cache_path = {layout.root / 'recon'}\n"
    )
    backend_common = (
        common
        + f"fallocate_reserve = {backend_reserve(reserve)}\n"
        # backend to backend (object server to container server, updaters, replicators)
        + "conn_timeout = 5\nnode_timeout = 10\n"
    )
    write_private(
        layout.conf("proxy"),
        common
        + f"bind_port = {ports['proxy']}\nlog_name = proxy-server\n\n"
        f"[pipeline:main]\npipeline = {pipeline}\n\n"
        "[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n"
        "allow_account_management = true\n"
        f"conn_timeout = {PROXY_CONN_TIMEOUT}\nnode_timeout = {PROXY_NODE_TIMEOUT}\n"
        f"error_suppression_limit = {ERROR_SUPPRESSION_LIMIT}\n"
        f"error_suppression_interval = {ERROR_SUPPRESSION_INTERVAL}\n\n"
        + auth_filters
        + "[filter:disk-space]\npaste.filter_factory = firstapp.cloud.diskspace:filter_factory\n"
        f"fallocate_reserve = {reserve}\ncopies = {replicas}\n\n"
        + "".join(
            f"[filter:{name}]\nuse = egg:swift#{name.replace('-', '_')}\n\n"
            for name in dict.fromkeys(PROXY_PIPELINE.split())
            if name not in ("tempauth", "tempurl", "disk-space", "proxy-server")
        )
        + "[filter:tempurl]\nuse = egg:swift#tempurl\nallowed_digests = sha256 sha512\n",
    )
    app_extra = {
        # wait a little longer for the container update before answering, so that a listing
        # right after a PUT shows the object even under some load (Swift's default: 1 s)
        "object": "container_update_timeout = 2\n",
    }
    extra = {
        "account": "[account-replicator]\n\n[account-auditor]\n",
        "container": "[container-replicator]\n\n[container-updater]\n\n[container-auditor]\n",
        "object": (
            "[object-replicator]\nsync_method = ssync\n\n"
            "[object-updater]\nobjects_per_second = 0\n\n"
            # one laptop, one repair pass at a time: no need to spare the disks
            "[object-auditor]\nfiles_per_second = 0\nbytes_per_second = 0\n"
        ),
    }
    for service in SERVICES:
        write_private(
            layout.conf(service),
            backend_common
            + f"bind_port = {ports[service]}\nlog_name = {service}-server\n\n"
            f"[pipeline:main]\npipeline = {service}-server\n\n"
            f"[app:{service}-server]\nuse = egg:swift#{service}\n"
            + app_extra.get(service, "") + "\n" + extra[service]
        )


def write_clouds_yaml(path: Path, port: int, creds: Credentials) -> None:
    """A clouds.yaml with an entry ``local`` (mode 0600) for openstacksdk and shade."""
    doc = {"clouds": {"local": cloud_entry(port, creds)}}
    write_private(path, yaml.safe_dump(doc, sort_keys=False))


def cloud_entry(port: int, creds: Credentials) -> dict:
    return {
        "auth_type": "v1password",
        "auth": {
            "auth_url": auth_url(port),
            "username": creds.username,
            "password": creds.password,
        },
    }
