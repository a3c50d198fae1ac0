"""One maintenance pass over a running local cloud, as Swift's background daemons do it.

Run as ``python -m firstapp.cloud.maintenance DATA_DIR``; prints a JSON report. It is a
process of its own because it monkey-patches the interpreter and the updaters fork.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def invalidate_hash_caches(devices: Path) -> int:
    """Forget every partition's cached suffix hashes so the replicator re-reads the disk.

    Swift notices a *silently* deleted replica only when the suffix hashes cached in
    ``hashes.pkl`` are recomputed; a full repair pass therefore starts from scratch.
    """
    count = 0
    for cache in devices.glob("*/objects*/*/hashes.*"):
        cache.unlink()
        count += 1
    return count


def quarantined(devices: Path) -> int:
    """Object replicas moved aside as damaged, over all devices."""
    return sum(1 for _ in devices.glob("*/quarantined/objects*/*"))


def restore_missing_databases(layout, service: str, logger) -> int:
    """Copy each account or container database to the ring's devices that lack it entirely.

    Swift's database replicator sends a database whose copy is missing on a device with
    rsync (then REPLICATE ``complete_rsync`` moves it into place); the local cloud runs no
    rsync, but its "remote" devices are directories of this machine, so the copy is a
    file copy, under the database's lock, followed by the same REPLICATE request. Rows
    written meanwhile follow with the replicator's own pass. Returns how many were copied.
    """
    import shutil

    from swift.account.backend import AccountBroker
    from swift.common.db_replicator import ReplConnection
    from swift.common.ring import Ring
    from swift.container.backend import ContainerBroker

    broker_class = {"account": AccountBroker, "container": ContainerBroker}[service]
    ring = Ring(str(layout.etc), ring_name=service)
    datadir = f"{service}s"
    copied = 0
    for db_file in sorted(layout.devices.glob(f"*/{datadir}/*/*/*/*.db")):
        part, hash_ = int(db_file.parts[-4]), db_file.parent.name
        for node in ring.get_part_nodes(part):
            device = layout.devices / node["device"]
            target = device / datadir / str(part) / hash_[-3:] / hash_ / db_file.name
            if not device.is_dir() or target.exists():
                continue
            broker = broker_class(str(db_file), logger=logger)
            local_id = broker.get_info()["id"]
            (device / "tmp").mkdir(exist_ok=True)
            with broker.lock():
                shutil.copyfile(db_file, device / "tmp" / local_id)
            answer = ReplConnection(node, part, hash_, logger).replicate(
                "complete_rsync", local_id, db_file.name)
            if answer is not None and 200 <= answer.status < 300:
                copied += 1
    return copied


def run(layout) -> dict:
    import eventlet.hubs
    from swift.common import utils

    # The object updater forks a child per device. With the default epoll hub the children
    # share the parent's epoll set and unregister descriptors it still uses, and the next
    # database call waits forever; poll() keeps no such shared state.
    eventlet.hubs.use_hub("poll")
    utils.monkey_patch()
    utils.set_swift_dir(str(layout.etc))

    from swift.account.replicator import AccountReplicator
    from swift.common.utils import logs, readconf
    from swift.container.replicator import ContainerReplicator
    from swift.container.updater import ContainerUpdater
    from swift.obj.auditor import AuditorWorker
    from swift.obj.replicator import ObjectReplicator
    from swift.obj.updater import ObjectUpdater

    from firstapp.cloud.server import _LogFileHandler, _quiet_missing_cache

    logs.ThreadSafeSysLogHandler = _LogFileHandler
    import logging

    logging.getLogger().addFilter(_quiet_missing_cache)

    def conf(service: str, section: str) -> dict:
        return readconf(str(layout.conf(service)), section)

    report: dict[str, int] = {}
    report["hash_caches_invalidated"] = invalidate_hash_caches(layout.devices)

    before = quarantined(layout.devices)
    auditor_conf = conf("object", "object-auditor")
    auditor = AuditorWorker(
        auditor_conf, utils.get_logger(auditor_conf, log_route="object-auditor"),
        str(Path(auditor_conf["recon_cache_path"]) / "object.recon"), str(layout.devices),
    )
    # the copies on disk: the auditor's own count includes directories whose file is gone
    report["objects_audited"] = sum(1 for _ in layout.devices.glob("*/objects*/*/*/*/*.data"))
    auditor.audit_all_objects(mode="once")
    report["objects_quarantined"] = quarantined(layout.devices) - before

    replicator = ObjectReplicator(conf("object", "object-replicator"))
    replicator.run_once()
    stats = replicator.total_stats
    report["partitions_checked"] = stats.attempted
    report["suffixes_synced"] = stats.suffix_sync
    report["replication_failures"] = stats.failure

    for service, klass in (("account", AccountReplicator), ("container", ContainerReplicator)):
        replicator_conf = conf(service, f"{service}-replicator")
        report[f"{service}_dbs_restored"] = restore_missing_databases(
            layout, service, utils.get_logger(replicator_conf, log_route=f"{service}-restore"))
        daemon = klass(replicator_conf)
        daemon.run_once()
        report[f"{service}_dbs_replicated"] = daemon.stats["success"]
        report[f"{service}_dbs_fixed"] = daemon.stats["diff"] + daemon.stats["rsync"]
        report[f"{service}_db_failures"] = daemon.stats["failure"]

    ObjectUpdater(conf("object", "object-updater")).run_once()
    ContainerUpdater(conf("container", "container-updater")).run_once()
    return report


def main(argv: list[str]) -> None:
    from firstapp.cloud.layout import Layout

    report = run(Layout(Path(argv[0])))
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
