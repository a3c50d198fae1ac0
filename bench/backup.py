"""Backup and restore of 1,000 fractals against the store's ceiling and the swift CLI.

Seeds 1,000 small fractals (64x64) into a temporary database, serves it with the
Fractals app in its own process, writes the same images to a temporary directory, then,
for each store (a private local cloud: Swift with 1 worker process and with the default,
or Ceph with ``--backend ceph`` / ``FIRSTAPP_BACKEND=ceph``), in one run on the same
store and the same images:

- the store's ceiling: 16 threads PUTting the same objects over keep-alive connections
  (the images with the metadata headers the backup gives them), nothing read, hashed or
  checked (measured before and after the other uploads; the faster run counts); and once
  the bare images without metadata, for reference (what Swift's metadata costs);
- ``swift upload --object-threads 10`` of the image files (python-swiftclient's CLI);
- ``firstapp.fractals.backup.backup`` (its default workers): read each image from the
  app, verify its SHA-256, PUT it with its MD5 as expected ETag, check every object
  again, write the manifest;
- the same backup again, with nothing to do (must send 0 bytes);
- the guide's loop: one connection, one fractal at a time, the same checks;
- ``firstapp.fractals.restore.restore`` into a new database, against
  ``swift download --object-threads 10`` of the same container into a directory: restore,
  download, download, restore (each twice, in both orders; the faster of each counts).

Prints the times, objects/s, the CPU the store's processes used, and the ratios with
their targets: backup >= 0.9x the ceiling and ahead of ``swift upload``, restore at least
as fast as ``swift download``, the re-run under 10% of the first run with 0 bytes sent.
Usage: python bench/backup.py [--count N] [--cloud-workers 1,2] [--backend swift|ceph]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

from firstapp.cloud import backends, config
from firstapp.cloud.client import authenticate
from firstapp.fractals import client
from firstapp.fractals.backup import (
    BackupReport,
    backup,
    backup_fractal,
    list_ready_and_pending,
    object_metadata,
    prepare_container,
)
from firstapp.fractals.db import resolve_db_url
from firstapp.fractals.process import start_background, stop_background
from firstapp.fractals.restore import restore
from firstapp.fractals.seed import seed_database
from firstapp.fractals.transfer import DEFAULT_WORKERS, ConnFactory, SwiftCredentials, connector
from firstapp.net import LOOPBACK, free_port

SIZE = 64
CEILING_THREADS = 16
CLI_THREADS = 10
SWIFT_CLI = str(Path(sys.executable).with_name("swift"))


@dataclass
class Timed:
    """One measured step: seconds, objects, bytes sent or received, store CPU (cores)."""

    label: str
    seconds: float
    objects: int
    bytes: int = 0
    cpu: float = 0.0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        rate = f"{self.objects / self.seconds:5.0f} objects/s" if self.objects else " " * 17
        return (f"  {self.label:<34} {self.seconds:6.1f} s {rate}  store CPU "
                f"{self.cpu:4.0%} of one core" + "".join(f"; {n}" for n in self.notes))


class Store:
    """A private local cloud and the processes that serve it (for their CPU time)."""

    def __init__(self, root: Path, backend: str, workers: int | None) -> None:
        self.data_dir = root / f"{backend}-{workers or 'default'}"
        self.cloud, _ = backends.start(self.data_dir, port=free_port(), backend=backend,
                                       **({"workers": workers} if workers else {}))
        self.name = backend if backend == "ceph" else (
            f"swift, {self.cloud.settings.workers} worker process(es)")

    def processes(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            if any(str(self.data_dir) in arg for arg in proc.info["cmdline"] or []):
                found.append(proc)
        return found

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
                total += times.user + times.system + times.children_user + \
                    times.children_system
            except psutil.NoSuchProcess:
                pass
        return total

    def measure(self, label: str, objects: int, run: Callable[[], int | None]) -> Timed:
        cpu, began = self.cpu_seconds(), time.perf_counter()
        moved = run()
        seconds = time.perf_counter() - began
        timed = Timed(label, seconds, objects, moved or 0,
                      (self.cpu_seconds() - cpu) / seconds)
        print(timed.line(), flush=True)
        return timed

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.cloud.env()}

    def stop(self) -> None:
        backends.stop(self.data_dir)


def ceiling(storage_url: str, token: str, container: str, images: dict[str, bytes],
            metadata: dict[str, dict[str, str]] | None = None,
            threads: int = CEILING_THREADS) -> int:
    """PUT every image, with its ``metadata`` headers when given, on ``threads``
    keep-alive sessions; nothing read, checked or hashed."""
    local = threading.local()
    headers = {"X-Auth-Token": token, "Content-Type": "image/png"}
    requests.put(f"{storage_url}/{container}", headers=headers, timeout=60).raise_for_status()

    def put(item: tuple[str, bytes]) -> int:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        name, data = item
        answer = session.put(f"{storage_url}/{container}/{name}", data=data,
                             headers={**headers, **(metadata or {}).get(name, {})},
                             timeout=60)
        answer.raise_for_status()
        return len(data)

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(put, images.items()))


def swift_cli(store: Store, *args: str, cwd: Path) -> None:
    done = subprocess.run([SWIFT_CLI, *args], cwd=cwd, env=store.env(), capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"swift {' '.join(args)} failed: {done.stderr.strip()[-500:]}")


def sequential_backup(endpoint: str, conn_factory: ConnFactory, container: str) -> BackupReport:
    """The guide's loop: one connection, one fractal after the other, same checks."""
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
    return report


def checked(report, count: int, what: str) -> int:
    """The bytes a backup or restore moved; stops the benchmark if it was not whole."""
    if not report.ok:
        raise SystemExit(f"{what} failed: {report.summary()} {report.lines()[:3]}")
    done = getattr(report, "uploaded", None)
    done = report.restored if done is None else done + report.skipped
    if done != count:
        raise SystemExit(f"{what} did not cover every fractal: {report.summary()}")
    return report.bytes


def bench_store(store: Store, endpoint: str, images: dict[str, bytes],
                metadata: dict[str, dict[str, str]], image_dir: Path, tmp: Path,
                workers: int) -> dict[str, Timed]:
    count, cloud = len(images), store.cloud
    factory = connector(SwiftCredentials(cloud.auth_url, cloud.username, cloud.password))
    storage_url, token = authenticate(cloud.auth_url, cloud.username, cloud.password)
    print(f"\n{store.name}:", flush=True)
    runs: dict[str, Timed] = {}
    runs["ceiling"] = store.measure(
        f"ceiling ({CEILING_THREADS} threads of PUTs)", count,
        lambda: ceiling(storage_url, token, "ceiling-1", images, metadata))
    runs["bare"] = store.measure("the same PUTs without metadata", count,
                                 lambda: ceiling(storage_url, token, "ceiling-bare", images))
    runs["upload"] = store.measure(
        f"swift upload --object-threads {CLI_THREADS}", count,
        lambda: swift_cli(store, "upload", "--object-threads", str(CLI_THREADS),
                          "swift-upload", ".", cwd=image_dir))
    first = {}

    def run_backup() -> int:
        first["report"] = backup(endpoint, factory, "backup", workers)
        return checked(first["report"], count, "backup")

    runs["backup"] = store.measure(f"backup ({workers} workers)", count, run_backup)
    again = {}

    def run_again() -> int:
        again["report"] = backup(endpoint, factory, "backup", workers)
        return checked(again["report"], count, "backup again")

    runs["again"] = store.measure("backup again, nothing to do", 0, run_again)
    runs["again"].notes.append(f"{again['report'].bytes} bytes sent, "
                               f"{again['report'].skipped} skipped")
    runs["ceiling2"] = store.measure(
        "ceiling again", count,
        lambda: ceiling(storage_url, token, "ceiling-2", images, metadata))
    runs["sequential"] = store.measure(
        "the guide's loop (one at a time)", count,
        lambda: checked(sequential_backup(endpoint, factory, "sequential"), count, "loop"))
    def run_restore(key: str, label: str) -> None:
        db_url = resolve_db_url(tmp / f"{key}-{store.data_dir.name}.db")
        runs[key] = store.measure(
            f"{label} ({workers} workers)", count,
            lambda: checked(restore(factory, "backup", db_url, workers), count, "restore"))

    def run_download(key: str, label: str) -> None:
        target = tmp / f"{key}-{store.data_dir.name}"
        target.mkdir()
        runs[key] = store.measure(
            f"swift {label} --object-threads {CLI_THREADS}", count,
            lambda: swift_cli(store, "download", "--object-threads", str(CLI_THREADS),
                              "backup", "-D", str(target), cwd=tmp))
        downloaded = [p for p in target.iterdir() if not p.name.startswith(".firstapp")]
        if len(downloaded) != count:
            raise SystemExit(f"swift download wrote {len(downloaded)} files, not {count}")
        shutil.rmtree(target)

    # each twice, in both orders (the one measured second reads a warmer store): the
    # faster of each counts
    run_restore("restore", "restore")
    run_download("download", "download")
    run_download("download2", "download again")
    run_restore("restore2", "restore again")
    return runs


def verdicts(runs: dict[str, Timed]) -> list[tuple[str, bool | None]]:
    """Each comparison, and whether it meets its target (None: no target, for reference)."""
    best = min(runs["ceiling"].seconds, runs["ceiling2"].seconds)
    b = runs["backup"].seconds
    r = min(runs["restore"].seconds, runs["restore2"].seconds)
    download = min(runs["download"].seconds, runs["download2"].seconds)
    again = runs["again"]
    return [
        (f"backup {best / b:.2f}x the store's ceiling ({best:.1f} s; target >= 0.9x)",
         best / b >= 0.9),
        (f"backup {runs['bare'].seconds / b:.2f}x the same PUTs without metadata "
         f"({runs['bare'].seconds:.1f} s)", None),
        (f"backup {runs['upload'].seconds / b:.2f}x swift upload (target > 1x)",
         runs["upload"].seconds > b),
        (f"backup {runs['sequential'].seconds / b:.2f}x the guide's loop", None),
        (f"restore {download / r:.2f}x swift download (the faster of two each; "
         "target >= 1x)", download >= r),
        (f"re-run {again.seconds / b:.1%} of the first run, {again.bytes} bytes sent "
         "(target < 10%, 0 bytes)", again.seconds < 0.1 * b and again.bytes == 0),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="fractals (default: 1000)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help=f"backup and restore threads (default: {DEFAULT_WORKERS})")
    parser.add_argument("--backend", choices=backends.BACKENDS, default=None,
                        help="the store: swift (default; $FIRSTAPP_BACKEND) or ceph")
    parser.add_argument("--cloud-workers", default=f"1,{config.DEFAULT_WORKERS}",
                        help="Swift's worker processes, one store each (default: "
                             f"1,{config.DEFAULT_WORKERS})")
    args = parser.parse_args(argv)
    backend = args.backend or backends.default()
    stores = [None] if backend == "ceph" else [int(n) for n in args.cloud_workers.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmpname:
        tmp = Path(tmpname)
        db_url = resolve_db_url(tmp / "fractals.db")
        began = time.perf_counter()
        records = seed_database(db_url, args.count, seed=1, width=SIZE, height=SIZE,
                                iterations=(32, 128), progress=True)
        total = sum(r["size"] for r in records)
        print(f"seeded {len(records)} fractals of {SIZE}x{SIZE} ({total} bytes) in "
              f"{time.perf_counter() - began:.1f} s; {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f}")
        app = start_background(db_url, LOOPBACK, free_port(), 0)
        results = {}
        try:
            endpoint = app["endpoint"]
            images = {r["uuid"]: client.read_image(endpoint, r["uuid"], r["size"])
                      for r in records}
            assert all(hashlib.sha256(images[r["uuid"]]).hexdigest() == r["checksum"]
                       for r in records)
            metadata = {r["uuid"]: object_metadata(r) for r in records}
            image_dir = tmp / "images"
            image_dir.mkdir()
            for name, data in images.items():
                (image_dir / f"{name}.png").write_bytes(data)
            for workers in stores:
                store = Store(tmp, backend, workers)
                try:
                    results[store.name] = bench_store(store, endpoint, images, metadata,
                                                      image_dir, tmp, args.workers)
                finally:
                    store.stop()
        finally:
            stop_background(db_url)

    for name, runs in results.items():
        print(f"\n{name}:")
        for text, met in verdicts(runs):
            print(f"  {text}" + ("" if met is None else f": {'met' if met else 'MISSED'}"))
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
