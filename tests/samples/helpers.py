"""Helpers for the sample tests: where the samples are, how to run them like the notebooks do,
and how to look at the store with python-swiftclient (the independent checker)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from swiftclient import client as swift

from firstapp import steps

ROOT = Path(__file__).resolve().parents[2]
SDKS = ("libcloud", "shade", "openstacksdk")
GOAT = ROOT / "samples" / "goat.jpg"
DEFAULT_CONTAINER = "making-it-durable-tutorial"  # the samples' own container name
MiB = 1024 * 1024


def sample_path(sdk: str) -> Path:
    return ROOT / "samples" / sdk / "durability.py"


def run_steps(path: Path, overrides: str, namespace: dict[str, Any] | None = None,
              ) -> Iterator[tuple[steps.Step, dict[str, Any]]]:
    """Run the sample's steps in one namespace, as a notebook does under papermill.

    ``overrides`` (Python assignments) run right after step 1, where papermill injects
    its parameters cell. Yields each step and the namespace after the step ran.
    """
    ns: dict[str, Any] = {} if namespace is None else namespace
    for step in steps.run(path, ns):
        if step.name == "1":
            exec(compile(overrides, "<papermill parameters>", "exec"), ns)  # noqa: S102
        yield step, ns


def script_of(path: Path, names: list[str], overrides: str = "") -> str:
    """A script made of some of the sample's steps (overrides after step 1)."""
    code = {step.name: step.code for step in steps.load(path)}
    parts = []
    for name in names:
        parts.append(code[name])
        if name == "1" and overrides:
            parts.append(overrides)
    return "\n\n".join(parts) + "\n"


def run_script(script: Path, env: dict[str, str], cwd: Path,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python script`` as a learner would: a fresh process with only ``env`` changed."""
    full_env = {key: value for key, value in os.environ.items()
                if not key.startswith(("OS_", "ST_", "FRACTALS_"))
                and key not in ("LARGE_OBJECT_SIZE", "SEGMENT_SIZE")}
    full_env.update(env)
    full_env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return subprocess.run([sys.executable, str(script)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    """The script failed with exactly one line on stderr (SystemExit's message)."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def status_of(call, *args, **kwargs) -> int:
    """HTTP status of a swiftclient call: 200-ish when it works, else the error's status."""
    try:
        call(*args, **kwargs)
    except swift.ClientException as exc:
        return exc.http_status
    return 200


def object_names(conn: swift.Connection, container: str, prefix: str | None = None) -> list[str]:
    _, listing = conn.get_container(container, prefix=prefix, full_listing=True)
    return [entry["name"] for entry in listing]


def md5_of_object(conn: swift.Connection, container: str, name: str) -> str:
    _, body = conn.get_object(container, name, resp_chunk_size=MiB)
    digest = hashlib.md5()
    for chunk in body:
        digest.update(chunk)
    return digest.hexdigest()


def md5_of_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as stream:
        while block := stream.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def large_object_facts(conn: swift.Connection, container: str, name: str) -> dict[str, Any]:
    """What the store holds for a large object: kind, manifest headers, segments, content md5.

    Segments: for a DLO every object under the ``X-Object-Manifest`` prefix (as the store
    finds them); for an SLO every object under ``<name>/`` in the same container, where
    shade and openstacksdk upload them (the manifest itself is no help on both stores:
    Ceph RGW answers ``?multipart-manifest=get`` with an empty body). Each segment is
    ``(container, object, bytes)``.
    """
    headers = conn.head_object(container, name)
    if "x-object-manifest" in headers:
        kind = "DLO"
        segment_container, prefix = headers["x-object-manifest"].split("/", 1)
        _, listing = conn.get_container(segment_container, prefix=prefix, full_listing=True)
        segments = [(segment_container, entry["name"], entry["bytes"]) for entry in listing]
    elif headers.get("x-static-large-object", "").lower() == "true":
        kind = "SLO"
        _, listing = conn.get_container(container, prefix=f"{name}/", full_listing=True)
        segments = [(container, entry["name"], entry["bytes"]) for entry in listing]
    else:
        kind = "plain"
        segments = []
    return {"kind": kind, "headers": headers, "segments": segments,
            "md5": md5_of_object(conn, container, name)}
