"""Time from `firstapp cloud start` to the first authenticated request.

Cold: a new data directory (rings and secrets are created). Warm: the same data
directory, restarted. Baseline, measured in the same run: a Python process that only
imports Swift's proxy server, the floor any in-process Swift pays. Median of 5 each.
Targets on a 2-core machine: warm under 1 s, cold under 2 s. Then the same for the Ceph
backend (`--backend ceph`; skipped, saying so, when Ceph is not installed: `make ceph`),
target: warm under 5 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from firstapp.cloud import backends, ceph
from firstapp.cloud.client import authenticate
from firstapp.net import free_port

RUNS = 5


def start_and_auth(data_dir: Path, port: int, backend: str = "swift") -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "firstapp", "cloud", "start", "--data-dir",
                    str(data_dir), "--port", str(port), "--backend", backend],
                   check=True, capture_output=True)
    cloud = backends.info(data_dir)
    authenticate(cloud.auth_url, cloud.username, cloud.password)
    elapsed = time.perf_counter() - began
    backends.stop(data_dir)
    return elapsed


def import_floor() -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import swift.proxy.server"], check=True)
    return time.perf_counter() - began


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        cold = [start_and_auth(Path(tmp) / f"cold{i}", port) for i in range(RUNS)]
        warm = [start_and_auth(Path(tmp) / "cold0", port) for _ in range(RUNS)]
    floor = statistics.median(import_floor() for _ in range(RUNS))
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    print(f"baseline (python -c 'import swift.proxy.server'): {floor:.3f} s")
    print(f"cold start to first authenticated request: {cold_s:.3f} s "
          f"({cold_s / floor:.2f}x baseline; target < 2 s: {'met' if cold_s < 2 else 'MISSED'})")
    print(f"warm start to first authenticated request: {warm_s:.3f} s "
          f"({warm_s / floor:.2f}x baseline; target < 1 s: {'met' if warm_s < 1 else 'MISSED'})")
    ceph_main()


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
