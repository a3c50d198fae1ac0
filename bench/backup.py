"""Backup: concurrent uploads against the guide's sequential loop.

Seeds 1,000 small fractals (64x64) into a temporary database, serves it with the
Fractals app in its own process, starts a private local cloud, then backs every
fractal up twice into fresh containers, in the same run and on the same data:

- the guide's loop: one connection, one fractal at a time;
- ``firstapp.fractals.backup.backup`` with 8 worker threads, one connection each.

Both do the same work per fractal (read, hash, verify SHA-256, PUT with the MD5 as
expected ETag); ``backup`` then checks every object with a HEAD and writes the
manifest. A second concurrent run must upload 0 bytes: it decides from one container
listing and the manifest. Prints the times, the ratio (target:
>= 4x) and the CPU time the Swift server process used, which says where the time
goes. Usage: python bench/backup.py [--count N] [--workers N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import requests

from firstapp.cloud import control
from firstapp.fractals.backup import (
    BackupReport,
    backup,
    backup_fractal,
    list_ready_and_pending,
    prepare_container,
)
from firstapp.fractals.db import resolve_db_url
from firstapp.fractals.process import start_background, stop_background
from firstapp.fractals.seed import seed_database
from firstapp.fractals.transfer import ConnFactory, SwiftCredentials, connector
from firstapp.net import LOOPBACK, free_port

TARGET = 4.0
SIZE = 64


def sequential_backup(endpoint: str, conn_factory: ConnFactory, container: str) -> BackupReport:
    """The guide's loop: one connection, one fractal after the other, same checks."""
    started = time.perf_counter()
    report = BackupReport(container)
    conn = conn_factory()
    with requests.Session() as session:
        records = list_ready_and_pending(endpoint)
        listing = prepare_container(conn, container)
        for record in records:
            report.add(backup_fractal(conn, endpoint, container, record,
                                      listed=listing.get(record["uuid"]),
                                      session=session).result)
    conn.close()
    report.seconds = time.perf_counter() - started
    return report


def measured(label: str, swift: psutil.Process, run: Callable[[], BackupReport]) -> BackupReport:
    """Run one backup; print its summary and the Swift server's CPU use meanwhile."""
    before = swift.cpu_times()
    report = run()
    after = swift.cpu_times()
    busy = (after.user + after.system - before.user - before.system) / report.seconds
    print(f"{label}: {report.seconds:.1f} s, {report.uploaded / report.seconds:.0f} uploads/s, "
          f"Swift server CPU {busy:.0%} of one core")
    print(f"  {report.summary()}")
    if not report.ok:
        print(f"  failures: {report.failures[:3]}", file=sys.stderr)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="fractals (default: 1000)")
    parser.add_argument("--workers", type=int, default=8, help="threads (default: 8)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
        db_url = resolve_db_url(Path(tmp) / "fractals.db")
        began = time.perf_counter()
        records = seed_database(db_url, args.count, seed=1, width=SIZE, height=SIZE,
                                iterations=(32, 128), progress=True)
        total = sum(r["size"] for r in records)
        print(f"seeded {len(records)} fractals of {SIZE}x{SIZE} ({total} bytes) in "
              f"{time.perf_counter() - began:.1f} s")
        cloud, _ = control.start(Path(tmp) / "cloud", port=free_port())
        app = start_background(db_url, LOOPBACK, free_port(), 0)
        try:
            endpoint = app["endpoint"]
            factory = connector(SwiftCredentials(cloud.auth_url, cloud.username, cloud.password))
            swift = psutil.Process(cloud.pid)
            sequential = measured("sequential (guide's loop)", swift,
                                  lambda: sequential_backup(endpoint, factory, "sequential"))
            concurrent = measured(f"concurrent ({args.workers} workers)", swift,
                                  lambda: backup(endpoint, factory, "concurrent", args.workers))
            again = measured("second concurrent run", swift,
                             lambda: backup(endpoint, factory, "concurrent", args.workers))
        finally:
            stop_background(db_url)
            control.stop(Path(tmp) / "cloud")

    ratio = sequential.seconds / concurrent.seconds
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"\nsequential {sequential.seconds:.1f} s, concurrent {concurrent.seconds:.1f} s: "
          f"{ratio:.2f}x faster (target >= {TARGET:.0f}x: {verdict})")
    print(f"second run uploaded {again.bytes_uploaded} bytes "
          f"({again.skipped} skipped; must be 0 bytes)")
    complete = all(r.uploaded == args.count and r.ok for r in (sequential, concurrent))
    if not complete or again.bytes_uploaded != 0:
        print("FAILED: a run did not back up every fractal exactly once", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
