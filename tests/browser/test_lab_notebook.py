"""JupyterLab in a real browser: Run All on an SDK notebook is clean and shows the pictures.

JupyterLab is started as `make lab` starts it (``firstapp lab``), on a private local cloud
and Fractals app on free ports, with its working copies and Jupyter's state in the test's
directory, so the test never touches your own.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import requests
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.wait import WebDriverWait

from firstapp.net import LOOPBACK, free_port
from firstapp.paths import project_root

ROOT = project_root()
NOTEBOOK = "durability-openstacksdk.ipynb"
RUN_ALL_SECONDS = 600  # bounded, and generous for a busy 2-core machine
#: what an exception looks like in a cell's output, and nothing else does
ERROR = re.compile(r"Traceback \(most recent call last\)|An exception has occurred"
                   r"|^\w*(Error|Exception|Exit)\b.*:", re.MULTILINE)
#: per code cell, in order: its prompt, its outputs (kind and text), pictures and progress bars
CODE_CELLS = ".jp-Notebook .jp-Cell.jp-CodeCell"
CELLS = """return Array.from(document.querySelectorAll(arguments[0]), cell => ({
    prompt: cell.querySelector(".jp-InputArea-prompt").textContent.trim(),
    outputs: Array.from(cell.querySelectorAll(".jp-OutputArea-output"), out => ({
      mime: out.getAttribute("data-mime-type"), text: out.textContent})),
    images: Array.from(cell.querySelectorAll(".jp-OutputArea-output img"), img => ({
      complete: img.complete, width: img.naturalWidth, height: img.naturalHeight})),
    bars: cell.querySelectorAll(".jp-OutputArea-output .widget-hprogress").length,
  }));"""


@dataclass
class Lab:
    url: str
    token: str
    log: Path
    cloud_url: str  # the private local cloud's auth URL

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def firstapp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firstapp", *args], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """`firstapp lab` as `make lab` runs it, on a private cloud, app and working copies;
    stops all three afterwards."""
    token = secrets.token_hex(16)
    env = {
        **os.environ,
        "FIRSTAPP_DATA_DIR": str(tmp_path / "data"),
        # Jupyter's own state stays in the test's directory too
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
        "JUPYTER_TOKEN": token,  # in the environment, not on a command line
        # the notebook's kernel inherits these: step 14's large object in 1 MiB segments
        "LARGE_OBJECT_SIZE": str(3 * 1024 * 1024),
        "SEGMENT_SIZE": str(1024 * 1024),
    }
    cloud_port, fractals_port, lab_port = free_port(), free_port(), free_port()
    log = tmp_path / "lab.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "firstapp", "lab", "--via-make", "--port", str(cloud_port),
             "--fractals-port", str(fractals_port), "--build-dir", str(tmp_path / "build"),
             "--", "--no-browser",
             f"--ServerApp.port={lab_port}"],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    running = Lab(f"http://{LOOPBACK}:{lab_port}", token, log,
                  f"http://{LOOPBACK}:{cloud_port}/auth/v1.0")
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, f"firstapp lab exited:\n{running.log_tail()}"
            try:
                status = requests.get(f"{running.url}/api/status", timeout=5,
                                      headers={"Authorization": f"token {token}"})
                if status.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, \
                f"JupyterLab did not answer in 180 s:\n{running.log_tail()}"
            time.sleep(0.5)
        yield running
    finally:
        process.terminate()  # JupyterLab shuts its kernels down as it stops
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        firstapp(env, "fractals", "stop")
        firstapp(env, "cloud", "stop")


def step_cells(path: Path) -> tuple[int, dict[str, int]]:
    """How many code cells the notebook has, and each sample step's position among them."""
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    return len(code), {c.metadata["firstapp"]["step"]: i for i, c in enumerate(code)
                       if "firstapp" in c.metadata}


def choose(browser: WebDriver, menu: str, item: str) -> None:
    """Click ``menu`` in JupyterLab's menu bar, then its entry labelled ``item``."""
    wait = WebDriverWait(browser, 30)
    wait.until(ec.element_to_be_clickable(
        (By.XPATH, f'//li[contains(@class, "lm-MenuBar-item")][.//*[text()="{menu}"]]'))).click()
    wait.until(ec.element_to_be_clickable(
        (By.XPATH, '//li[contains(@class, "lm-Menu-item")]'
                   f'[.//*[contains(@class, "lm-Menu-itemLabel")][text()="{item}"]]'))).click()


def test_run_all_in_jupyterlab_is_clean_and_shows_the_goat_and_a_fractal(browser, lab):
    committed = (ROOT / "notebooks" / NOTEBOOK).read_bytes()
    browser.get(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}")
    wait = WebDriverWait(browser, 120)
    wait.until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, '.jp-Notebook-ExecutionIndicator[data-status="idle"]')))
    code_cells, steps = step_cells(ROOT / "notebooks" / NOTEBOOK)
    assert len(steps) >= 14
    try:  # JupyterLab attaches the cells to the page a few at a time
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, CODE_CELLS)) == code_cells)
    except TimeoutException:
        pytest.fail(f"JupyterLab shows {len(browser.find_elements(By.CSS_SELECTOR, CODE_CELLS))}"
                    f" of the notebook's {code_cells} code cells")

    # the copy comes with the committed outputs: clear them, then run everything, as a
    # learner does it with the menus
    choose(browser, "Edit", "Clear Outputs of All Cells")
    wait.until(lambda b: not b.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output"))
    choose(browser, "Run", "Run All Cells")

    def finished(driver) -> list[dict] | bool:
        shown = driver.execute_script(CELLS, CODE_CELLS)
        prompts = [cell["prompt"] for cell in shown]
        idle = driver.find_elements(
            By.CSS_SELECTOR, '.jp-Notebook-ExecutionIndicator[data-status="idle"]')
        if all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
            return shown  # every cell ran
        if idle and not any("*" in p for p in prompts) and any(p != "[ ]:" for p in prompts):
            return shown  # stopped early: an error
        return False

    try:
        shown = WebDriverWait(browser, RUN_ALL_SECONDS, poll_frequency=1).until(finished)
    except TimeoutException:
        pytest.fail(f"Run All did not finish in {RUN_ALL_SECONDS} s; prompts: "
                    f"{[c['prompt'] for c in browser.execute_script(CELLS, CODE_CELLS)]}\n"
                    f"{lab.log_tail()}")

    errors = {i: out["text"][-2000:] for i, cell in enumerate(shown) for out in cell["outputs"]
              if ERROR.search(out["text"])}
    assert not errors, f"cells show errors: {errors}"
    prompts = [cell["prompt"] for cell in shown]
    assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), f"cells that did not run: {prompts}"
    stderr = {i: out["text"][-500:] for i, cell in enumerate(shown) for out in cell["outputs"]
              if out["mime"] == "application/vnd.jupyter.stderr"}
    assert not stderr, f"cells show red stderr boxes: {stderr}"
    assert lab.cloud_url in "".join(o["text"] for o in shown[steps["1-connect"]]["outputs"]), \
        "step 1 did not connect to the lab's local cloud"
    for step in ("11", "14"):  # tqdm.auto draws a real bar (a widget), not text on stderr
        assert shown[steps[step]]["bars"] == 1, f"step {step} shows no progress bar"
    for step, what in (("6", "the goat"), ("11", "the last fractal backed up")):
        images = shown[steps[step]]["images"]
        assert images, f"step {step} shows no picture of {what}"
        assert all(i["complete"] and i["width"] > 0 and i["height"] > 0 for i in images), \
            f"step {step}'s picture of {what} does not render: {images}"
    assert (ROOT / "notebooks" / NOTEBOOK).read_bytes() == committed, \
        "JupyterLab changed the committed notebook"
