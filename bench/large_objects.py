"""Large objects: each SDK track uploads and downloads a 1 GiB object, against the swift CLI.

On a private local cloud, for one random file (default 1 GiB) written once in 1 MiB
blocks:

- baseline: python-swiftclient's CLI, ``swift upload --segment-size S`` (10 segment
  threads) and ``swift download`` into a file, once as a Static Large Object (its default)
  and once as a Dynamic one (``--use-dlo``): this Swift serves a DLO about a third more
  slowly than an SLO whoever reads it, so each SDK is compared with the CLI on the kind of
  large object it makes;
- each SDK track, with the calls of the samples' step 14 and the connection of their step
  1-connect: libcloud ``ex_multipart_upload_object`` (a DLO) and a streamed GET with
  requests; shade ``create_object(segment_size=...)`` (an SLO) and a streamed GET through
  its session; openstacksdk ``upload_object(filename=..., segment_size=...)`` (an SLO) and
  ``stream_object``;
- each sample itself, run unchanged (every step but 11, which needs the Fractals app) with
  LARGE_OBJECT_SIZE set to the same size: its peak memory is the one a learner gets.

Every upload and download runs in a fresh process that reports its own peak resident
memory (VmHWM). Every download's md5 is checked against the file's; every upload is
checked with swiftclient (size and kind of large object). Objects are deleted between
runs (1 GiB is 3 GiB on disk). Prints a table: seconds, speed relative to the swift CLI
on the same kind of large object (target >= 0.8x) and peak RSS (target < 128 MB), with
the Swift server's CPU use, which shows where the time goes on a 2-core machine (the
whole cloud is one process).

Usage: python bench/large_objects.py [--size BYTES] [--segment-size BYTES] [--runs N]
[--unbounded] (``--runs 3`` reports medians; ``--unbounded`` also measures libcloud's and
shade's own download calls, which hold the whole object in memory: about twice its size.)
Takes about 5 minutes at 1 GiB with one run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
MB = 1000 * 1000
RSS_TARGET = 128 * MB
SPEED_TARGET = 0.8
CONTAINER = "bench-large"
NAME = "large-object.bin"
#: the tracks and the kind of large object each one's upload makes
#: (the swift CLI makes both kinds: each SDK is compared with the CLI on the same kind, since
#: this Swift serves a DLO more slowly than an SLO, whoever reads it)
TRACKS = (("swift CLI SLO", "SLO"), ("swift CLI DLO", "DLO"), ("libcloud", "DLO"),
          ("shade", "SLO"), ("openstacksdk", "SLO"))
BASELINE = {"SLO": "swift CLI SLO", "DLO": "swift CLI DLO"}


# ---- the child side: one upload or download in a fresh process --------------------------

def peak_rss() -> int:
    """This process's peak resident set size in bytes (VmHWM: since exec, unlike
    ru_maxrss, which Linux seeds with the forking parent's size)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def md5_of_chunks(chunks) -> str:
    digest = hashlib.md5()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


class HashingFile:
    """A file-like sink for shade's ``get_object(outfile=...)``: hashes what it is given."""

    def __init__(self) -> None:
        self.digest = hashlib.md5()

    def write(self, data: bytes) -> None:
        self.digest.update(data)

    def flush(self) -> None:
        pass


def connect(sdk: str) -> dict:
    """Run the sample's steps 1 and 1-connect: its settings and connection, from OS_*."""
    from firstapp import steps

    ns: dict = {}
    path = ROOT / "samples" / sdk / "durability.py"
    for step in steps.run(path, ns):
        if step.name == "1-connect":
            return ns
    raise RuntimeError(f"{path} has no step 1-connect")


def sdk_upload(sdk: str, path: str, segment: int) -> None:
    ns = connect(sdk)
    if sdk == "libcloud":
        swift = ns["swift"]
        swift.ex_multipart_upload_object(path, swift.get_container(CONTAINER), NAME,
                                         chunk_size=segment, verify_hash=False)
    elif sdk == "shade":
        ns["conn"].create_object(CONTAINER, NAME, filename=path, segment_size=segment)
    else:
        ns["conn"].object_store.upload_object(container=CONTAINER, name=NAME, filename=path,
                                              segment_size=segment)


def sdk_download(sdk: str, bounded: bool = True) -> str:
    ns = connect(sdk)
    if sdk == "libcloud":
        swift = ns["swift"]
        if not bounded:
            return md5_of_chunks(swift.download_object_as_stream(
                swift.get_object(CONTAINER, NAME), chunk_size=MiB))
        import requests

        storage_url = swift.connection.base_url or swift.connection.get_endpoint()
        with requests.get(f"{storage_url}/{CONTAINER}/{NAME}", stream=True, timeout=30,
                          headers={"X-Auth-Token": swift.connection.auth_token}) as reply:
            reply.raise_for_status()
            return md5_of_chunks(reply.iter_content(chunk_size=MiB))
    if sdk == "shade":
        conn = ns["conn"]
        if not bounded:
            sink = HashingFile()
            conn.get_object(CONTAINER, NAME, outfile=sink, resp_chunk_size=MiB)
            return sink.digest.hexdigest()
        storage_url = conn.get_session_endpoint("object-store")
        with conn.keystone_session.get(f"{storage_url}/{CONTAINER}/{NAME}",
                                       stream=True) as reply:
            return md5_of_chunks(reply.iter_content(chunk_size=MiB))
    return md5_of_chunks(ns["conn"].object_store.stream_object(NAME, container=CONTAINER,
                                                               chunk_size=MiB))


def swift_cli(args: list[str]) -> None:
    from swiftclient.shell import main as swift_main

    try:
        swift_main(["swift", *args])
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise


def run_sample(sdk: str) -> None:
    """The sample, unchanged, minus step 11 (the Fractals app is not part of this bench)."""
    from firstapp import steps

    path = ROOT / "samples" / sdk / "durability.py"
    ns: dict = {"__file__": str(path), "__name__": "__main__"}
    for step in steps.load(path):
        if step.name != "11":
            exec(compile("\n" * (step.first_line - 1) + step.code, str(path), "exec"), ns)  # noqa: S102


def child(job: dict) -> None:
    result: dict = {}
    kind = job["kind"]
    if kind == "swift-upload":
        swift_cli(["upload", "--segment-size", str(job["segment"]), "--object-name", NAME,
                   f"--use-{job['large'].lower()}", CONTAINER, job["path"]])
    elif kind == "swift-download":
        swift_cli(["download", CONTAINER, NAME, "--output", job["out"]])
    elif kind == "upload":
        sdk_upload(job["sdk"], job["path"], job["segment"])
    elif kind == "download":
        result["md5"] = sdk_download(job["sdk"], job.get("bounded", True))
    elif kind == "sample":
        run_sample(job["sdk"])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.update(peak=peak_rss(), cpu=usage.ru_utime + usage.ru_stime)
    print("RESULT " + json.dumps(result), flush=True)


# ---- the parent side -------------------------------------------------------------------

def write_random_file(path: Path, size: int) -> str:
    digest = hashlib.md5()
    with open(path, "wb") as out:
        for offset in range(0, size, MiB):
            block = os.urandom(min(MiB, size - offset))
            out.write(block)
            digest.update(block)
    return digest.hexdigest()


def md5_of_file(path: Path) -> str:
    with open(path, "rb") as stream:
        return md5_of_chunks(iter(lambda: stream.read(MiB), b""))


class Bench:
    def __init__(self, cloud, size: int, segment: int) -> None:
        import psutil

        from firstapp.cloud.client import connection

        self.cloud, self.size, self.segment = cloud, size, segment
        self.server = psutil.Process(cloud.pid)
        self.conn = connection(cloud.auth_url, cloud.username, cloud.password)
        self.env = {**{key: value for key, value in os.environ.items()
                       if not key.startswith(("OS_", "ST_"))}, **cloud.env(),
                    "LARGE_OBJECT_SIZE": str(size), "SEGMENT_SIZE": str(segment),
                    "PYTHONWARNINGS": "ignore"}

    def run(self, label: str, job: dict) -> dict:
        """Run one job in a fresh process; its wall time, peak RSS and the server's CPU."""
        before = self.server.cpu_times()
        began = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)],
                              env=self.env, capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - began
        after = self.server.cpu_times()
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            raise SystemExit(f"{label} failed (exit status {done.returncode}):\n"
                             f"{done.stdout[-2000:]}{done.stderr[-3000:]}")
        result = json.loads(lines[-1].removeprefix("RESULT "))
        server_cpu = after.user + after.system - before.user - before.system
        result.update(seconds=seconds, server=server_cpu / seconds, stdout=done.stdout)
        print(f"  {label}: {seconds:.1f} s, peak RSS {result['peak'] / MB:.0f} MB, client CPU "
              f"{result['cpu'] / seconds:.0%}, Swift server CPU {result['server']:.0%} "
              "of one core", flush=True)
        return result

    def check_stored(self, label: str, kind: str) -> None:
        headers = self.conn.head_object(CONTAINER, NAME)
        found = ("SLO" if headers.get("x-static-large-object", "").lower() == "true"
                 else "DLO" if "x-object-manifest" in headers else "plain")
        if int(headers["content-length"]) != self.size or found != kind:
            raise SystemExit(f"{label}: the store holds a {found} of "
                             f"{headers['content-length']} bytes, expected a {kind} of "
                             f"{self.size}")

    def empty_account(self) -> None:
        """Delete every object and container (segments included): free the disk."""
        _, containers = self.conn.get_account(full_listing=True)
        for container in containers:
            _, objects = self.conn.get_container(container["name"], full_listing=True)
            for entry in objects:
                self.conn.delete_object(container["name"], entry["name"])
            self.conn.delete_container(container["name"])

    def fresh_container(self) -> None:
        self.empty_account()
        self.conn.put_container(CONTAINER)


def combined(results: list[dict]) -> dict:
    """Several runs of one measurement: median time and server CPU, highest peak RSS."""
    return {"seconds": statistics.median(r["seconds"] for r in results),
            "server": statistics.median(r["server"] for r in results),
            "peak": max(r["peak"] for r in results)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024 * MiB,
                        help="object size in bytes (default: 1 GiB)")
    parser.add_argument("--segment-size", type=int, default=64 * MiB,
                        help="segment size in bytes (default: 64 MiB)")
    parser.add_argument("--unbounded", action="store_true",
                        help="also time libcloud's and shade's own (in-memory) downloads")
    parser.add_argument("--runs", type=int, default=1,
                        help="measure each track N times; report medians (default: 1)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0

    from firstapp.cloud import control
    from firstapp.net import free_port

    size, segment = args.size, args.segment_size
    print(f"object: {size} bytes ({size / MiB:.0f} MiB) in segments of {segment} bytes "
          f"({segment / MiB:.0f} MiB); {os.cpu_count()} CPUs")
    samples: dict[str, dict] = {}
    unbounded: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-large-") as tmp:
        path = Path(tmp) / "large.bin"
        began = time.perf_counter()
        file_md5 = write_random_file(path, size)
        print(f"wrote {path.name} in {time.perf_counter() - began:.1f} s, md5 {file_md5}")
        cloud, _ = control.start(Path(tmp) / "cloud", port=free_port())
        try:
            bench = Bench(cloud, size, segment)

            measured: dict[str, dict[str, list[dict]]] = {}
            for round_ in range(1, args.runs + 1):  # round robin: drift hits every track
                for track, kind in TRACKS:
                    print(f"{track}, run {round_} of {args.runs}", flush=True)
                    runs = measured.setdefault(track, {"up": [], "down": []})
                    bench.fresh_container()
                    if track.startswith("swift CLI"):
                        up_job = {"kind": "swift-upload", "path": str(path), "segment": segment,
                                  "large": kind}
                        out = Path(tmp) / "downloaded.bin"
                        down_job = {"kind": "swift-download", "out": str(out)}
                    else:
                        up_job = {"kind": "upload", "sdk": track, "path": str(path),
                                  "segment": segment}
                        down_job = {"kind": "download", "sdk": track}
                    runs["up"].append(bench.run("upload", up_job))
                    bench.check_stored(f"{track} upload", kind)
                    runs["down"].append(bench.run("download", down_job))
                    md5 = (md5_of_file(out) if track.startswith("swift CLI")
                           else runs["down"][-1]["md5"])
                    if md5 != file_md5:
                        raise SystemExit(f"{track} download: md5 {md5} is not the file's")
                    if track.startswith("swift CLI"):
                        out.unlink()
                    if args.unbounded and track in ("libcloud", "shade") and round_ == 1:
                        own = bench.run("download with the SDK's own call",
                                        {"kind": "download", "sdk": track, "bounded": False})
                        if own["md5"] != file_md5:
                            raise SystemExit(f"{track} own download: md5 is not the file's")
                        unbounded[track] = own
            rows = {track: {"up": combined(runs["up"]), "down": combined(runs["down"])}
                    for track, runs in measured.items()}

            for sdk in ("libcloud", "shade", "openstacksdk"):
                print(f"samples/{sdk}/durability.py (all steps but 11)")
                bench.empty_account()
                result = bench.run("whole sample", {"kind": "sample", "sdk": sdk})
                if "nothing is left behind" not in result["stdout"]:
                    raise SystemExit(f"{sdk} sample did not finish:\n{result['stdout']}")
                samples[sdk] = result
            bench.empty_account()
        finally:
            control.stop(Path(tmp) / "cloud")

    if args.runs > 1:
        print(f"\nmedians of {args.runs} runs (peak RSS: the highest)")
    print(f"\n{'track':<15}{'kind':>5}{'upload s':>10}{'down s':>8}{'up vs CLI':>11}"
          f"{'down vs CLI':>13}{'up RSS MB':>11}{'down RSS MB':>13}{'server CPU':>12}")
    failures = []
    for track, kind in TRACKS:
        row, base = rows[track], rows[BASELINE[kind]]
        up_ratio = base["up"]["seconds"] / row["up"]["seconds"]
        down_ratio = base["down"]["seconds"] / row["down"]["seconds"]
        print(f"{track:<15}{kind:>5}{row['up']['seconds']:>10.1f}{row['down']['seconds']:>8.1f}"
              f"{up_ratio:>10.2f}x{down_ratio:>12.2f}x{row['up']['peak'] / MB:>11.0f}"
              f"{row['down']['peak'] / MB:>13.0f}"
              f"{row['up']['server']:>6.0%}/{row['down']['server']:.0%}")
        if track.startswith("swift CLI"):
            continue
        if min(up_ratio, down_ratio) < SPEED_TARGET:
            failures.append(f"{track}: {min(up_ratio, down_ratio):.2f}x the speed of the "
                            f"swift CLI on a {kind}")
        peak = max(row["up"]["peak"], row["down"]["peak"])
        if peak >= RSS_TARGET:
            failures.append(f"{track}: peak RSS {peak / MB:.0f} MB")
    print("(vs CLI: the swift CLI's time on the same kind of large object divided by this "
          "track's;\n server CPU: the Swift server's CPU use, upload/download, in % of one core)")
    print("\nthe samples themselves, whole script at this size (write, upload, download, "
          "check, delete):")
    for sdk, result in samples.items():
        print(f"  {sdk:<13} {result['seconds']:6.1f} s, peak RSS {result['peak'] / MB:.0f} MB")
        if result["peak"] >= RSS_TARGET:
            failures.append(f"samples/{sdk}: peak RSS {result['peak'] / MB:.0f} MB")
    if unbounded:
        print("\nthe SDKs' own download calls (not used by the samples):")
        for sdk, result in unbounded.items():
            call = ("download_object_as_stream" if sdk == "libcloud"
                    else "get_object(outfile=...)")
            print(f"  {sdk:<13} {call:<27} {result['seconds']:6.1f} s, "
                  f"peak RSS {result['peak'] / MB:.0f} MB")
    print(f"\ntargets: speed >= {SPEED_TARGET}x the swift CLI on the same kind of large "
          f"object, peak RSS < {RSS_TARGET / MB:.0f} MB")
    for failure in failures:
        print(f"  MISSED: {failure}")
    if not failures:
        print("  all met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
