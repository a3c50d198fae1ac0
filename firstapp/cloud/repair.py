"""``firstapp cloud repair``: run one maintenance pass and report what it did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field

from firstapp.cloud import control, faults
from firstapp.cloud.client import START_HINT
from firstapp.errors import FirstappError


@dataclass(frozen=True)
class RepairReport:
    """Counts from one pass of the auditor, replicators and updaters, and what it could
    not repair (each a sentence saying what to do; empty when all is well)."""

    counts: dict[str, int]
    problems: list[str] = field(default_factory=list)

    def __getitem__(self, key: str) -> int:
        return self.counts[key]

    def summary(self) -> str:
        c = self.counts
        restored = c.get("container_dbs_restored", 0) + c.get("account_dbs_restored", 0)
        return (
            f"audited {c['objects_audited']} object replicas, "
            f"quarantined {c['objects_quarantined']}; "
            f"checked {c['partitions_checked']} partitions, "
            f"synced {c['suffixes_synced']} suffixes "
            f"({c['replication_failures']} failures); "
            f"fixed {c['container_dbs_fixed']} container and "
            f"{c['account_dbs_fixed']} account databases"
            + (f", copied {restored} back to devices that had lost them" if restored else "")
        )


def repair(data_dir: str | os.PathLike[str] | None = None, timeout: float = 600) -> RepairReport:
    """Audit every object replica, then replicate and update until all copies agree."""
    cloud = control.info(data_dir)
    if not cloud.running:
        raise FirstappError(f"the local cloud is not running; {START_HINT}")
    with open(cloud.layout.log_file, "ab") as log:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "firstapp.cloud.maintenance", str(cloud.layout.root)],
                stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, timeout=timeout,
                env=control.server_env(),
            )
        except subprocess.TimeoutExpired:
            raise FirstappError(
                f"the maintenance pass did not finish within {timeout:.0f} s and was stopped; "
                f"see {cloud.layout.log_file}"
            ) from None
    if done.returncode != 0:
        raise FirstappError(
            f"the maintenance pass failed (status {done.returncode}); see {cloud.layout.log_file}"
        )
    counts = json.loads(done.stdout.decode().strip().splitlines()[-1])
    problems = missing_devices(cloud)
    failures = {"object replication": counts["replication_failures"],
                "container database": counts.get("container_db_failures", 0),
                "account database": counts.get("account_db_failures", 0)}
    if any(failures.values()):
        problems.append(
            ", ".join(f"{n} {what} failures" for what, n in failures.items() if n)
            + f" (see {cloud.layout.log_file})"
            + ("" if problems else ": run `firstapp cloud repair` again")
        )
    return RepairReport(counts, problems)


def missing_devices(cloud: control.CloudInfo) -> list[str]:
    """A sentence for each of the ring's devices whose directory is not there."""
    layout = cloud.layout
    offline = set(faults.offline_devices(layout))
    found = []
    for device in (f"d{i}" for i in range(1, cloud.settings.devices + 1)):
        path = layout.devices / device
        if path.is_dir():
            continue
        if device in offline:
            found.append(f"device {device} is offline: bring it back (rm {path} && mv "
                         f"{faults.offline_dir(layout) / device} {path}), then run "
                         "`firstapp cloud repair` again")
        else:
            found.append(f"device {device} is missing ({path} is gone): create it empty "
                         f"(mkdir {path}) and run `firstapp cloud repair` again to copy its "
                         "objects back from the other devices")
    return found
