"""Swift configuration for a local cloud: swift.conf, server configs, credentials, rings.

Everything is written below the cloud's data directory; nothing goes to /etc/swift.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from firstapp.cloud.layout import SERVICES, Layout, write_private
from firstapp.net import LOOPBACK

ACCOUNT = "tutorial"
USER = "learner"
PART_POWER = 8  # 256 partitions: plenty for a laptop, quick replication passes
RING_SEED = 1  # a fixed seed keeps object placement identical across re-creations

PROXY_PIPELINE = (
    "catch_errors gatekeeper healthcheck proxy-logging listing_formats bulk tempurl "
    "tempauth copy slo dlo versioned_writes symlink proxy-logging proxy-server"
)


@dataclass(frozen=True)
class Settings:
    """What ``firstapp cloud start`` was asked for; fixed once the cloud exists."""

    port: int
    devices: int
    replicas: int


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
    if settings.replicas > settings.devices:
        raise ValueError(
            f"{settings.replicas} replicas need at least {settings.replicas} devices, "
            f"got {settings.devices}"
        )
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
    secret = {
        "username": f"{ACCOUNT}:{USER}",
        "password": secrets.token_urlsafe(18),
        "fernet_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    write_private(layout.credentials_file, json.dumps(secret, indent=2))
    _build_rings(layout, settings)
    # settings last: its presence marks a complete cloud
    save_settings(layout, settings)


def exists(layout: Layout) -> bool:
    return layout.settings_file.is_file()


def load_settings(layout: Layout) -> Settings:
    return Settings(**layout.read_json(layout.settings_file))


def save_settings(layout: Layout, settings: Settings) -> None:
    layout.settings_file.write_text(json.dumps(asdict(settings), indent=2))


def load_credentials(layout: Layout) -> Credentials:
    data = layout.read_json(layout.credentials_file)
    return Credentials(data["username"], data["password"])


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


def write_server_configs(layout: Layout, ports: dict[str, int]) -> None:
    """Write the proxy, account, container and object server configs for these ports."""
    secret = layout.read_json(layout.credentials_file)
    account, user = secret["username"].split(":", 1)
    common = (
        "[DEFAULT]\n"
        f"swift_dir = {layout.etc}\n"
        f"devices = {layout.devices}\n"
        "mount_check = false\n"
        "disable_fallocate = true\n"
        f"bind_ip = {LOOPBACK}\n"
        "workers = 0\n"
        "log_level = WARNING\n"
        f"recon_cache_path = {layout.root / 'recon'}\n"
    )
    write_private(
        layout.conf("proxy"),
        common
        + f"bind_port = {ports['proxy']}\nlog_name = proxy-server\n\n"
        f"[pipeline:main]\npipeline = {PROXY_PIPELINE}\n\n"
        "[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n"
        "allow_account_management = true\n\n"
        "[filter:tempauth]\nuse = egg:swift#tempauth\n"
        f"user_{account}_{user} = {secret['password']} .admin\n"
        f"fernet_key_1 = {secret['fernet_key']}\nactive_fernet_key_id = 1\n"
        "token_life = 86400\n\n"
        + "".join(
            f"[filter:{name}]\nuse = egg:swift#{name.replace('-', '_')}\n\n"
            for name in dict.fromkeys(PROXY_PIPELINE.split())
            if name not in ("tempauth", "tempurl", "proxy-server")
        )
        + "[filter:tempurl]\nuse = egg:swift#tempurl\nallowed_digests = sha256 sha512\n",
    )
    extra = {
        "account": "[account-replicator]\n\n[account-auditor]\n",
        "container": "[container-replicator]\n\n[container-updater]\n\n[container-auditor]\n",
        "object": (
            "[object-replicator]\nsync_method = ssync\n\n"
            "[object-updater]\n\n"
            # one laptop, one repair pass at a time: no need to spare the disks
            "[object-auditor]\nfiles_per_second = 0\nbytes_per_second = 0\n"
        ),
    }
    for service in SERVICES:
        layout.conf(service).write_text(
            common
            + f"bind_port = {ports[service]}\nlog_name = {service}-server\n\n"
            f"[pipeline:main]\npipeline = {service}-server\n\n"
            f"[app:{service}-server]\nuse = egg:swift#{service}\n\n" + extra[service]
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
