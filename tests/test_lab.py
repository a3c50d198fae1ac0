"""`make lab`: the services, then JupyterLab on the notebooks, on loopback only."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import psutil
import requests

from firstapp.net import LOOPBACK, free_port


def firstapp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firstapp", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_lab_serves_the_notebooks_with_the_cloud_settings_on_loopback(tmp_path):
    env = {**os.environ, "FIRSTAPP_DATA_DIR": str(tmp_path / "data"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_DATA_DIR": str(tmp_path / "jupyter"), "BROWSER": "true"}
    cloud_port, fractals_port, lab_port = free_port(), free_port(), free_port()
    token = secrets.token_hex(16)
    lab = subprocess.Popen(
        [sys.executable, "-m", "firstapp", "lab", "--port", str(cloud_port),
         "--fractals-port", str(fractals_port), "--", "--no-browser",
         f"--ServerApp.port={lab_port}", f"--IdentityProvider.token={token}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    api = f"http://{LOOPBACK}:{lab_port}/api"
    auth = {"Authorization": f"token {token}"}
    try:
        deadline = time.monotonic() + 120
        while True:
            assert lab.poll() is None, lab.stdout.read()[-3000:]
            try:
                listing = requests.get(f"{api}/contents", headers=auth, timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "JupyterLab did not answer in 120 s"
                time.sleep(0.5)
        assert listing.status_code == 200
        names = {entry["name"] for entry in listing.json()["content"]}
        assert {"durability-libcloud.ipynb", "durability-shade.ipynb",
                "durability-openstacksdk.ipynb"} <= names
        assert requests.get(f"{api}/contents", timeout=5).status_code == 403  # needs the token
        # the notebooks' kernels inherit the settings of the services lab started
        server = psutil.Process(lab.pid)  # exec keeps the pid
        environ = server.environ()
        assert environ["OS_AUTH_URL"] == f"http://{LOOPBACK}:{cloud_port}/auth/v1.0"
        assert environ["FRACTALS_ENDPOINT"] == f"http://{LOOPBACK}:{fractals_port}"
        listening = [c.laddr for c in server.net_connections("inet")
                     if c.status == psutil.CONN_LISTEN]
        assert listening and all(addr.ip == LOOPBACK for addr in listening), listening
        # the cloud and the app answer, and keep running for the notebooks
        assert requests.get(f"http://{LOOPBACK}:{fractals_port}/v1/fractal",
                            timeout=10).json()["num_results"] >= 12
        assert firstapp(env, "cloud", "status").returncode == 0
    finally:
        lab.terminate()
        lab.wait(30)
        firstapp(env, "fractals", "stop")
        firstapp(env, "cloud", "stop")
    assert firstapp(env, "cloud", "status").returncode == 3
