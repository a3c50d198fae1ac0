"""Time from `firstapp cloud start` to the first authenticated request.

Cold: a new data directory (rings and secrets are created). Warm: the same data
directory, restarted. Baseline, measured in the same run: a Python process that only
imports Swift's proxy server, the floor any in-process Swift pays. Median of 5 each,
with 1 worker process and with the default number (``--workers``; `start` returns once
every worker serves), and the memory of the serving processes (RSS, and USS: the pages
no other process shares). Targets on a 2-core machine: warm under 1 s, cold under
2 s. Then the same for the Ceph backend (`--backend ceph`; skipped, saying so, when
Ceph is not installed: `make ceph`), target: warm under 5 s. ``--swift-only`` stops
after Swift's v1 starts.

Keystone mode (``--auth keystone``), to the first request signed in through Keystone's
catalog: creating Keystone's virtualenv (once, into a temporary directory: pip's cache
makes a second run faster than a first one on a fresh machine), a cold start (Keystone's
keys, database, bootstrap and users, then Swift) and a warm start, median of 3 each.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from firstapp.cloud import backends, ceph, config, control, keystone, keystone_venv
from firstapp.cloud.client import authenticate
from firstapp.net import free_port

RUNS = 5


def start_and_auth(data_dir: Path, port: int, backend: str = "swift",
                   workers: int | None = None, memory: list | None = None) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "firstapp", "cloud", "start", "--data-dir",
                    str(data_dir), "--port", str(port), "--backend", backend,
                    *(["--workers", str(workers)] if workers else [])],
                   check=True, capture_output=True)
    cloud = backends.info(data_dir)
    authenticate(cloud.auth_url, cloud.username, cloud.password)
    elapsed = time.perf_counter() - began
    if memory is not None:
        memory.append(serving_memory(cloud))
    backends.stop(data_dir)
    return elapsed


def serving_memory(cloud) -> tuple[float, float]:
    """RSS and USS, in MB, of the server and its workers (not the updaters' helper)."""
    procs = [psutil.Process(pid) for pid in [cloud.pid, *control.worker_pids(cloud.layout)]]
    infos = [proc.memory_full_info() for proc in procs]
    return sum(i.rss for i in infos) / 1e6, sum(i.uss for i in infos) / 1e6


def keystone_start_and_sign_in(data_dir: Path, port: int, keystone_port: int) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "firstapp", "cloud", "start", "--data-dir",
                    str(data_dir), "--port", str(port), "--auth", "keystone",
                    "--keystone-port", str(keystone_port)], check=True, capture_output=True)
    cloud = control.info(data_dir)
    keystone.swift_connection(cloud.identity).head_account()
    elapsed = time.perf_counter() - began
    control.stop(data_dir)
    return elapsed


def keystone_venv_creation(where: Path) -> float:
    began = time.perf_counter()
    keystone_venv.ensure(where, say=lambda line: None)
    return time.perf_counter() - began


def keystone_bench() -> None:
    keystone_venv.ensure()  # the checkout's own, for the starts below
    with tempfile.TemporaryDirectory() as tmp:
        venv_s = keystone_venv_creation(Path(tmp) / "venv")
        port, kport = free_port(), free_port()
        cold = [keystone_start_and_sign_in(Path(tmp) / f"ks{i}", port, kport)
                for i in range(3)]
        warm = [keystone_start_and_sign_in(Path(tmp) / "ks0", port, kport) for _ in range(3)]
    print(f"keystone mode: creating Keystone's virtualenv: {venv_s:.1f} s (once)")
    print(f"keystone mode: cold start to first request through the catalog: "
          f"{statistics.median(cold):.3f} s")
    print(f"keystone mode: warm start to first request through the catalog: "
          f"{statistics.median(warm):.3f} s")


def import_floor() -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import swift.proxy.server"], check=True)
    return time.perf_counter() - began


def main() -> None:
    floor = statistics.median(import_floor() for _ in range(RUNS))
    print(f"baseline (python -c 'import swift.proxy.server'): {floor:.3f} s")
    for workers in sorted({1, config.DEFAULT_WORKERS}):
        memory: list[tuple[float, float]] = []
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            cold = [start_and_auth(Path(tmp) / f"cold{i}", port, workers=workers)
                    for i in range(RUNS)]
            warm = [start_and_auth(Path(tmp) / "cold0", port, workers=workers,
                                   memory=memory) for _ in range(RUNS)]
        cold_s, warm_s = statistics.median(cold), statistics.median(warm)
        rss, uss = (statistics.median(m[i] for m in memory) for i in (0, 1))
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        print(f"{label}: cold start to first authenticated request: {cold_s:.3f} s "
              f"({cold_s / floor:.2f}x baseline; target < 2 s: "
              f"{'met' if cold_s < 2 else 'MISSED'})")
        print(f"{label}: warm start to first authenticated request: {warm_s:.3f} s "
              f"({warm_s / floor:.2f}x baseline; target < 1 s: "
              f"{'met' if warm_s < 1 else 'MISSED'})")
        print(f"{label}: memory of the serving processes: {rss:.0f} MB RSS, {uss:.0f} MB USS")
    if "--swift-only" in sys.argv[1:]:
        return
    ceph_main()
    keystone_bench()


def ceph_main() -> None:
    try:
        ceph.check_installed()
    except Exception as exc:  # noqa: BLE001 (a missing installation is reported, not raised)
        print(f"ceph: not measured ({exc})")
        return
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        cold = [start_and_auth(Path(tmp) / f"ceph{i}", port, "ceph") for i in range(3)]
        warm = [start_and_auth(Path(tmp) / "ceph0", port, "ceph") for _ in range(RUNS)]
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    print(f"ceph cold start to first authenticated request: {cold_s:.3f} s (median of 3)")
    print(f"ceph warm start to first authenticated request: {warm_s:.3f} s "
          f"(target < 5 s: {'met' if warm_s < 5 else 'MISSED'})")


if __name__ == "__main__":
    main()
