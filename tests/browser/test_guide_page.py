"""The built guide in a real browser: the SDK tabs switch together and every picture loads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from firstapp.net import LOOPBACK

#: a line that only that SDK's code shows (each sample's connect step imports its SDK)
IMPORTS = {
    "libcloud": "from libcloud.storage.providers import get_driver",
    "shade": "import shade",
    "openstacksdk": "import openstack",
}
#: what every <img> of the page reports: loaded, and with real pixels
IMAGES = """return Array.from(document.images, img => ({
    src: img.getAttribute("src"), complete: img.complete, width: img.naturalWidth}));"""


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def guide(guide_html: Path) -> Iterator[tuple[str, Path]]:
    """The guide built from this checkout (tests/conftest.py), served on loopback: (base URL,
    HTML directory)."""
    html = guide_html
    server = ThreadingHTTPServer((LOOPBACK, 0), partial(QuietHandler, directory=str(html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_port}", html
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def shown_sdks(browser: WebDriver) -> list[str]:
    """The SDK whose tab is selected, for every tab set of the page."""
    return [label.get_attribute("data-sync-id") for label in browser.find_elements(
        By.CSS_SELECTOR, ".sd-tab-set > input:checked + label.sd-tab-label")]


def test_the_sdk_tabs_switch_together(browser, guide, tmp_path):
    url, _ = guide
    browser.get(f"{url}/docs/durability.html")
    tab_sets = browser.find_elements(By.CSS_SELECTOR, ".sd-tab-set")
    assert len(tab_sets) >= 15, "the durability page has a tab set per step"
    assert set(shown_sdks(browser)) == {"libcloud"}, "libcloud is the first tab"
    # choose an SDK in one tab set (the first, one in the middle, the last): all follow
    for sdk, chosen in (("shade", 0), ("openstacksdk", len(tab_sets) // 2), ("libcloud", -1)):
        tab_sets[chosen].find_element(
            By.CSS_SELECTOR, f'label.sd-tab-label[data-sync-id="{sdk}"]').click()
        WebDriverWait(browser, 10).until(lambda b, sdk=sdk: set(shown_sdks(b)) == {sdk})
        assert len(shown_sdks(browser)) == len(tab_sets)
        shown = [content for content in browser.find_elements(By.CSS_SELECTOR, ".sd-tab-content")
                 if content.is_displayed()]
        assert len(shown) == len(tab_sets), "one tab's content is visible per tab set"
        code = "\n".join(content.text for content in shown)
        assert IMPORTS[sdk] in code
        for other, line in IMPORTS.items():
            assert other == sdk or line not in code, f"{other}'s code shows under {sdk}"
    # a picture of what a step showed, as a reader sees it
    goat = browser.find_element(By.CSS_SELECTOR, 'img[src*="durability-libcloud-6-0."]')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", goat)
    screenshot = tmp_path / "durability-goat.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes().startswith(b"\x89PNG")


def test_every_picture_of_the_guide_loads(browser, guide):
    url, html = guide
    pages = sorted(html.glob("docs/*.html"))
    assert pages
    loaded = 0
    for page in pages:
        browser.get(f"{url}/{page.relative_to(html).as_posix()}")  # returns once loaded
        WebDriverWait(browser, 30).until(
            lambda b: b.execute_script("return document.readyState") == "complete")
        images = browser.execute_script(IMAGES)
        broken = [i["src"] for i in images if not (i["complete"] and i["width"] > 0)]
        assert not broken, f"{page.name}: pictures that do not load: {broken}"
        loaded += len(images)
    # the goat and a fractal per SDK, the copies-per-device charts, the Fractals app
    assert loaded >= 10
