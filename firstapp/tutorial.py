"""``firstapp tutorial``: run the whole tutorial end to end and report.

Starts the local cloud (and later stages: the Fractals app, the notebooks, the guide),
runs every stage, stops what it started, prints a summary table. Exit status 1 when any
stage failed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
import traceback
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from firstapp.cloud import control
from firstapp.cloud.client import connection
from firstapp.cloud.placement import account_of, replicas


@dataclass
class Result:
    stage: str
    ok: bool
    seconds: float
    detail: str


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("tutorial", help="run the whole tutorial end to end and report",
                            description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", metavar="DIR",
                        help="the local cloud's data directory (default: the per-user one)")
    parser.set_defaults(func=run)


def smoke_round_trip(cloud: control.CloudInfo) -> str:
    """Upload 1 MiB, read it back, compare checksums, count the copies on disk."""
    conn = connection(cloud.auth_url, cloud.username, cloud.password)
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    data = os.urandom(1 << 20)
    conn.put_container(name)
    try:
        etag = conn.put_object(name, "payload", data)
        _, body = conn.get_object(name, "payload")
        if hashlib.md5(body).hexdigest() != etag or body != data:
            raise RuntimeError("downloaded bytes differ from the uploaded ones")
        copies = [r for r in replicas(cloud.layout, account_of(cloud.storage_url), name,
                                      "payload") if r.present]
        return f"1 MiB round trip, md5 {etag[:12]}..., {len(copies)} copies on disk"
    finally:
        conn.delete_object(name, "payload")
        conn.delete_container(name)


def run(args: argparse.Namespace) -> int:
    results: list[Result] = []

    def stage(name: str, func: Callable[[], str]) -> bool:
        began = time.perf_counter()
        try:
            detail, ok = func(), True
        except Exception as exc:  # a stage failure is reported, the rest still runs
            detail, ok = f"{type(exc).__name__}: {exc}", False
            traceback.print_exc()
        results.append(Result(name, ok, time.perf_counter() - began, detail))
        print(f"[{'ok' if ok else 'FAILED'}] {name}: {detail}", flush=True)
        return ok

    with ExitStack() as cleanup:
        cloud_holder: dict[str, control.CloudInfo] = {}

        def start_cloud() -> str:
            cloud, started = control.start(args.data_dir)
            cloud_holder["cloud"] = cloud
            if started:
                cleanup.callback(control.stop, args.data_dir)
            return f"{cloud.auth_url} ({'started' if started else 'already running'})"

        if stage("start the local cloud", start_cloud):
            stage("smoke round trip", lambda: smoke_round_trip(cloud_holder["cloud"]))

    print_summary(results)
    print("\nTo explore on your own: `make lab` starts the cloud and JupyterLab;")
    print('or `firstapp cloud start` then `eval "$(firstapp cloud env)"` in your shell.')
    return 0 if all(r.ok for r in results) else 1


def print_summary(results: list[Result]) -> None:
    width = max(len(r.stage) for r in results)
    print(f"\n{'stage':<{width}}  result  time")
    for r in results:
        print(f"{r.stage:<{width}}  {'ok' if r.ok else 'FAILED':<6}  {r.seconds:5.1f} s")
