"""GET /: the HTML gallery."""

from __future__ import annotations

import re

import requests

from .helpers import PARAMS


def test_gallery_shows_thumbnails_of_the_first_page(fractals_app):
    response = requests.get(f"{fractals_app.endpoint}/", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    shown = re.findall(r'<img src="/fractal/([0-9a-f-]{36})"', response.text)
    assert shown == fractals_app.uuids[:24]
    assert 'href="/?page=2"' in response.text
    second = requests.get(f"{fractals_app.endpoint}/?page=2", timeout=10).text
    assert re.findall(r'<img src="/fractal/([0-9a-f-]{36})"', second) == fractals_app.uuids[24:]
    assert 'href="/?page=1"' in second


def test_gallery_images_are_served(fractals_app):
    page = requests.get(f"{fractals_app.endpoint}/", timeout=10).text
    src = re.search(r'<img src="(/fractal/[0-9a-f-]{36})"', page).group(1)
    image = requests.get(f"{fractals_app.endpoint}{src}", timeout=10)
    assert image.headers["Content-Type"] == "image/png"


def test_gallery_marks_pending_fractals(fractals_app_factory):
    app = fractals_app_factory(2, workers=0)
    pending = requests.post(f"{app.endpoint}/v1/fractal", json=PARAMS, timeout=10).json()["uuid"]
    page = requests.get(f"{app.endpoint}/", timeout=10).text
    assert re.search(rf'<li class="fractal pending" data-uuid="{pending}">', page)
    assert f'<img src="/fractal/{pending}"' not in page
    assert len(re.findall(r'<li class="fractal ready"', page)) == 2


def test_gallery_bad_page_is_400(fractals_app):
    assert requests.get(f"{fractals_app.endpoint}/?page=zero", timeout=10).status_code == 400
