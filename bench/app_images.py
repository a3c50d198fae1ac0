"""The app's images from its database and from Swift; server-side against client-side backup.

Starts a private local cloud, seeds ``--count`` fractals (96x96) into a database, copies
that database and moves the copy's images into a container (``move-images``), then serves
both databases with the Fractals app, each in its own process: one keeping its images in
the database, one with ``--image-store swift://CONTAINER``. Then, on the same images:

- ``--gets`` image GETs through each app (4 client threads, every body checked against
  its SHA-256): p50, p95 and requests/s; the Swift store's figures as ratios of the
  database's; and the same GETs straight from Swift with python-swiftclient, no app, to
  show what the store itself costs;
- ``firstapp fractals backup`` of each app into a fresh container: client-side (every
  image read from the app and uploaded) for the database app, server-side (Swift COPY)
  for the Swift app; times and the ratio.

Usage: python bench/app_images.py [--count N] [--gets N]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from firstapp.cloud import control
from firstapp.fractals.backup import BackupReport, backup
from firstapp.fractals.db import resolve_db_url
from firstapp.fractals.move import move_images
from firstapp.fractals.process import start_background, stop_background
from firstapp.fractals.seed import seed_database
from firstapp.fractals.transfer import SwiftCredentials, connector
from firstapp.net import LOOPBACK, free_port

SIZE = 96
CLIENTS = 4
CONTAINER = "bench-app-images"


def timed_gets(endpoint: str, records: list[dict], total: int,
               fetch=None) -> tuple[list[float], float]:
    """``total`` GETs of the images, round robin, on :data:`CLIENTS` threads; each body's
    SHA-256 is checked. ``fetch(uuid) -> (status, bytes)`` replaces the app's GET (for
    Swift directly). Returns every latency (s) and the wall time."""
    order = itertools.islice(itertools.cycle(records), total)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []

    def client() -> None:
        session = requests.Session()
        while True:
            with lock:
                record = next(order, None)
            if record is None:
                return
            started = time.perf_counter()
            if fetch is None:
                response = session.get(f"{endpoint}/fractal/{record['uuid']}", timeout=30)
                status, body = response.status_code, response.content
            else:
                status, body = fetch(record["uuid"])
            elapsed = time.perf_counter() - started
            if status != 200 or hashlib.sha256(body).hexdigest() != record["checksum"]:
                errors.append(f"{record['uuid']}: {status}")
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise SystemExit(f"FAILED: {len(errors)} wrong answers, e.g. {errors[:3]}")
    return latencies, wall


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="fractals (default: 200)")
    parser.add_argument("--gets", type=int, default=1000, help="image GETs per app")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-app-images-") as tmp:
        root = Path(tmp)
        db_path, swift_path = root / "db.sqlite", root / "swift.sqlite"
        records = seed_database(resolve_db_url(db_path), args.count, seed=14, width=SIZE,
                                height=SIZE)
        shutil.copy(db_path, swift_path)
        db_url, swift_url = resolve_db_url(db_path), resolve_db_url(swift_path)
        cloud, _ = control.start(root / "cloud", port=free_port())
        saved = dict(os.environ)
        os.environ.update(cloud.env())  # the background app signs in from OS_*
        factory = connector(SwiftCredentials(cloud.auth_url, cloud.username, cloud.password))
        try:
            moved = move_images(swift_url, f"swift://{CONTAINER}", factory)
            print(moved.summary())
            db_app = start_background(db_url, LOOPBACK, free_port(), 0)
            swift_app = start_background(swift_url, LOOPBACK, free_port(), 0,
                                         image_store=f"swift://{CONTAINER}")
            results = {}
            for label, app in (("database", db_app), ("swift", swift_app)):
                timed_gets(app["endpoint"], records, 50)  # warm up connections
                latencies, wall = timed_gets(app["endpoint"], records, args.gets)
                results[label] = (statistics.median(latencies), percentile(latencies, 0.95),
                                  len(latencies) / wall)
                p50, p95, rate = results[label]
                print(f"{label:8} store: {args.gets} GETs, p50 {p50 * 1000:.1f} ms, "
                      f"p95 {p95 * 1000:.1f} ms, {rate:.0f} requests/s")
            local = threading.local()

            def direct(uuid: str) -> tuple[int, bytes]:
                if not hasattr(local, "conn"):
                    local.conn = factory()
                return 200, local.conn.get_object(CONTAINER, uuid)[1]

            timed_gets("", records, 50, direct)
            latencies, wall = timed_gets("", records, args.gets, direct)
            p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
            print(f"Swift directly (python-swiftclient, no app): p50 {p50 * 1000:.1f} ms, "
                  f"p95 {p95 * 1000:.1f} ms, {len(latencies) / wall:.0f} requests/s")
            (p50d, p95d, rated), (p50s, p95s, rates) = results["database"], results["swift"]
            print(f"swift vs database: p50 {p50s / p50d:.2f}x, p95 {p95s / p95d:.2f}x, "
                  f"requests/s {rates / rated:.2f}x")

            reports: dict[str, BackupReport] = {}
            for label, app in (("client-side", db_app), ("server-side", swift_app)):
                reports[label] = backup(app["endpoint"], factory, f"bench-backup-{label}",
                                        workers=8)
                print(f"backup {label}: {reports[label].seconds:.2f} s; "
                      f"{reports[label].summary()}")
            client_side, server_side = reports["client-side"], reports["server-side"]
            if not (client_side.ok and server_side.ok and server_side.copied == args.count):
                print("FAILED: a backup did not copy every fractal", file=sys.stderr)
                return 1
            print(f"server-side backup {server_side.seconds:.2f} s vs client-side "
                  f"{client_side.seconds:.2f} s: {client_side.seconds / server_side.seconds:.2f}x"
                  f" ({server_side.bytes_uploaded} vs {client_side.bytes_uploaded} bytes "
                  "through the client)")
        finally:
            stop_background(db_url)
            stop_background(swift_url)
            control.stop(root / "cloud")
            os.environ.clear()
            os.environ.update(saved)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
