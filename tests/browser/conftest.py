"""Fixtures of the real-browser tests: Debian's headless Chromium driven by Selenium.

`make browser` installs Chromium and its driver (the Debian packages ``chromium`` and
``chromium-driver``); without them these tests fail and say so.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from firstapp.net import LOOPBACK

WINDOW = (1280, 1024)


def chromium_paths() -> tuple[str, str]:
    """The Chromium and chromedriver executables; the test fails when either is missing."""
    found = {name: shutil.which(name) for name in ("chromium", "chromedriver")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found on PATH: run `make browser` to install "
                    "Debian's chromium and chromium-driver", pytrace=False)
    return found["chromium"], found["chromedriver"]


@pytest.fixture
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """A headless Chromium with a throwaway profile that can reach 127.0.0.1 only."""
    chromium, chromedriver = chromium_paths()
    options = Options()
    options.binary_location = chromium
    options.add_argument("--headless=new")
    if os.geteuid() == 0:  # Chromium's sandbox refuses to run as root (CI, containers)
        options.add_argument("--no-sandbox")
    for argument in (
        "--disable-dev-shm-usage",  # containers' /dev/shm is small
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # every host name but the loopback address fails to resolve: nothing leaves the machine
        f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(30)
        yield driver
    finally:
        driver.quit()
