"""`make lab`: the stack, then JupyterLab on working copies of the notebooks, on loopback only."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest
import requests

from firstapp import stack
from firstapp.fractals import client
from firstapp.fractals.seed import seeded_fractals
from firstapp.fractals.worker import render_fractal
from firstapp.lab import SOURCES, working_copies
from firstapp.net import LOOPBACK, free_port
from firstapp.paths import project_root

ROOT = project_root()
SDK_NOTEBOOKS = {"durability-libcloud.ipynb", "durability-shade.ipynb",
                 "durability-openstacksdk.ipynb"}


def firstapp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firstapp", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def lab_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "FIRSTAPP_DATA_DIR": str(tmp_path / "data"),
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
            "JUPYTER_DATA_DIR": str(tmp_path / "jupyter"), "BROWSER": "true"}


def committed_digests() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (ROOT / "notebooks").glob("*.ipynb")}


class Lab:
    """`firstapp lab` in the background, its output in a file; ``api`` once it answers."""

    def __init__(self, tmp_path: Path, env: dict[str, str], *args: str) -> None:
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.log = tmp_path / f"lab-{self.port}.log"
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "firstapp", "lab", *args, "--", "--no-browser",
                 f"--ServerApp.port={self.port}", f"--IdentityProvider.token={self.token}"],
                env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
            )
        self.api = f"http://{LOOPBACK}:{self.port}/api"
        self.auth = {"Authorization": f"token {self.token}"}

    def wait(self) -> None:
        deadline = time.monotonic() + 120
        while True:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                requests.get(f"{self.api}/status", headers=self.auth, timeout=5)
                return
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "JupyterLab did not answer in 120 s"
                time.sleep(0.5)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def test_lab_serves_working_copies_with_the_stack_on_loopback(tmp_path):
    env = lab_env(tmp_path)
    build = tmp_path / "build"
    cloud_port, fractals_port = free_port(), free_port()
    ports = ("--port", str(cloud_port), "--fractals-port", str(fractals_port),
             "--build-dir", str(build))
    before = committed_digests()
    lab = Lab(tmp_path, env, *ports)
    try:
        lab.wait()
        # labelled output: which address is what
        out = lab.log.read_text()
        assert re.search(rf"^Local cloud: +http://{LOOPBACK}:{cloud_port}/auth/v1.0 ", out,
                         re.M), out
        assert re.search(rf"^Fractals app: +http://{LOOPBACK}:{fractals_port} \(started, "
                         rf"{stack.FRACTALS} fractals\)", out, re.M), out
        assert re.search(rf"^Notebooks: +{re.escape(str(build / 'lab'))}/ \(working copies",
                         out, re.M), out
        assert re.search(r"^JupyterLab: ", out, re.M), out
        # JupyterLab serves the working copies under build/lab/, not notebooks/
        listing = requests.get(f"{lab.api}/contents", headers=lab.auth, timeout=10)
        assert listing.status_code == 200
        assert {entry["name"] for entry in listing.json()["content"]} >= SDK_NOTEBOOKS
        for name in SDK_NOTEBOOKS:
            assert (build / "lab" / name).read_bytes() == (ROOT / "notebooks" / name).read_bytes()
        assert requests.get(f"{lab.api}/contents", timeout=5).status_code == 403  # token
        # a learner's save (what autosave does) lands in the copy, never in notebooks/
        name = "durability-openstacksdk.ipynb"
        model = requests.get(f"{lab.api}/contents/{name}", headers=lab.auth,
                             timeout=10).json()
        model["content"]["cells"].append(nbformat.v4.new_code_cell("print('my own cell')"))
        saved = requests.put(f"{lab.api}/contents/{name}", headers=lab.auth, timeout=10,
                             json={"type": "notebook", "content": model["content"]})
        assert saved.status_code == 200, saved.text
        assert "my own cell" in (build / "lab" / name).read_text()
        assert committed_digests() == before
        # the notebooks' kernels inherit the settings of the services lab started
        server = psutil.Process(lab.process.pid)  # exec keeps the pid
        environ = server.environ()
        assert environ["OS_AUTH_URL"] == f"http://{LOOPBACK}:{cloud_port}/auth/v1.0"
        assert environ["FRACTALS_ENDPOINT"] == f"http://{LOOPBACK}:{fractals_port}"
        assert environ["FIRSTAPP_ROOT"] == str(ROOT)
        assert (Path(environ["TUTORIAL_DIR"]) / "goat.jpg").is_file()  # step 4 finds it
        listening = [c.laddr for c in server.net_connections("inet")
                     if c.status == psutil.CONN_LISTEN]
        assert listening and all(addr.ip == LOOPBACK for addr in listening), listening
        # the app serves the stack's fractals: the images of the committed notebooks
        served = client.list_fractals(f"http://{LOOPBACK}:{fractals_port}")
        expected = [(uuid, render_fractal(params).checksum) for uuid, params in
                    seeded_fractals(stack.FRACTALS, stack.SEED, width=stack.SIZE,
                                    height=stack.SIZE)]
        assert [(f["uuid"], f["checksum"]) for f in served] == expected
        assert firstapp(env, "cloud", "status").returncode == 0
        lab.stop()

        # run again: the services are reused, the learner's edit is still there
        again = Lab(tmp_path, env, *ports)
        try:
            again.wait()
            out = again.log.read_text()
            assert "(already running" in out and f"{stack.FRACTALS} fractals" in out, out
            model = requests.get(f"{again.api}/contents/{name}", headers=again.auth,
                                 timeout=10).json()
            assert model["content"]["cells"][-1]["source"] == "print('my own cell')"
            assert "newer version" not in out  # the committed notebook did not change
        finally:
            again.stop()
    finally:
        lab.stop()
        firstapp(env, "fractals", "stop")
        firstapp(env, "cloud", "stop")
    assert firstapp(env, "cloud", "status").returncode == 3
    assert committed_digests() == before


def fake_checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    for directory in ("samples", "notebooks"):
        (root / directory).mkdir(parents=True)
    (root / "conf.py").write_text("")
    for name in ("a", "b", "c"):
        (root / "notebooks" / f"{name}.ipynb").write_text(f'{{"v": "{name}1"}}')
    return root


def test_working_copies_never_overwrite_a_learners_edits(tmp_path):
    root = fake_checkout(tmp_path)
    target = tmp_path / "lab"

    def actions() -> dict[str, str]:
        return {c.path.name: c.action for c in working_copies(root, target)}

    assert actions() == {"a.ipynb": "copied", "b.ipynb": "copied", "c.ipynb": "copied"}
    assert actions() == {"a.ipynb": "current", "b.ipynb": "current", "c.ipynb": "current"}
    (target / "b.ipynb").write_text('{"v": "mine"}')  # the learner works in b
    assert actions()["b.ipynb"] == "current"
    assert (target / "b.ipynb").read_text() == '{"v": "mine"}'
    # a new version of every committed notebook (a git pull)
    for name in ("a", "b", "c"):
        (root / "notebooks" / f"{name}.ipynb").write_text(f'{{"v": "{name}2"}}')
    (target / "c.ipynb").unlink()  # deleted to start over
    assert actions() == {"a.ipynb": "updated", "b.ipynb": "kept", "c.ipynb": "copied"}
    assert (target / "a.ipynb").read_text() == '{"v": "a2"}'  # untouched: nothing lost
    assert (target / "b.ipynb").read_text() == '{"v": "mine"}'  # edited: kept
    assert (target / "c.ipynb").read_text() == '{"v": "c2"}'
    assert actions()["b.ipynb"] == "kept"  # said again on every start
    (target / "b.ipynb").rename(target / "b-mine.ipynb")
    assert actions()["b.ipynb"] == "copied"
    assert (target / "b.ipynb").read_text() == '{"v": "b2"}'
    assert (target / SOURCES).is_file()


def test_lab_says_a_newer_version_exists_and_keeps_the_copy(tmp_path):
    root = fake_checkout(tmp_path)
    build = tmp_path / "build"
    working_copies(root, build / "lab")
    (build / "lab" / "a.ipynb").write_text('{"v": "mine"}')
    (root / "notebooks" / "a.ipynb").write_text('{"v": "a2"}')
    env = {**lab_env(tmp_path), "FIRSTAPP_ROOT": str(root)}
    lab = Lab(tmp_path, env, "--port", str(free_port()), "--fractals-port", str(free_port()),
              "--build-dir", str(build))
    try:
        lab.wait()
    finally:
        lab.stop()
        firstapp(env, "fractals", "stop")
        firstapp(env, "cloud", "stop")
    out = lab.log.read_text()
    assert re.search(r"^  a\.ipynb: a newer version is in .*a\.ipynb; your copy, with your "
                     r"edits, is kept", out, re.M), out
    assert (build / "lab" / "a.ipynb").read_text() == '{"v": "mine"}'
    assert "b.ipynb" not in out  # nothing to say about the others


@pytest.mark.parametrize(("via_make", "hint"), [(False, "--fractals-port N"),
                                                (True, "`make lab FRACTALS_PORT=N`")])
def test_a_taken_app_port_is_named_as_the_user_sets_it(tmp_path, via_make, hint):
    env = lab_env(tmp_path)
    with socket.socket() as holder:  # the app's port is taken: lab stops before JupyterLab
        holder.bind((LOOPBACK, 0))
        holder.listen()
        taken = holder.getsockname()[1]
        try:
            done = firstapp(env, "lab", *(["--via-make"] if via_make else []), "--port",
                            str(free_port()), "--fractals-port", str(taken),
                            "--build-dir", str(tmp_path / "build"))
        finally:
            firstapp(env, "cloud", "stop")
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: port {taken} on {LOOPBACK} is already in use"), \
        done.stderr
    assert hint in done.stderr
    assert "--port N" not in done.stderr.replace("--fractals-port N", "")  # not the cloud's
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("target", ["lab", "tutorial"])
def test_make_passes_the_ports_and_asks_for_make_hints(target):
    done = subprocess.run(["make", "-n", target, "CLOUD_PORT=8090", "FRACTALS_PORT=8091"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    command = [line for line in done.stdout.splitlines() if "-m firstapp" in line][-1]
    assert f"-m firstapp {target} --via-make --port 8090 --fractals-port 8091" in command
