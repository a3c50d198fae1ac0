"""``firstapp cloud repair``: run one maintenance pass and report what it did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

from firstapp.cloud import control
from firstapp.cloud.client import START_HINT
from firstapp.errors import FirstappError


@dataclass(frozen=True)
class RepairReport:
    """Counts from one pass of the auditor, replicators and updaters."""

    counts: dict[str, int]

    def __getitem__(self, key: str) -> int:
        return self.counts[key]

    def summary(self) -> str:
        c = self.counts
        return (
            f"audited {c['objects_audited']} object replicas, "
            f"quarantined {c['objects_quarantined']}; "
            f"checked {c['partitions_checked']} partitions, "
            f"synced {c['suffixes_synced']} suffixes "
            f"({c['replication_failures']} failures); "
            f"fixed {c['container_dbs_fixed']} container and "
            f"{c['account_dbs_fixed']} account databases"
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
    return RepairReport(json.loads(done.stdout.decode().strip().splitlines()[-1]))
