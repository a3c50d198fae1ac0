"""GET /fractal/<uuid>: exactly the stored PNG bytes, or a clear JSON error."""

from __future__ import annotations

import hashlib
import io
import tarfile
import uuid as uuidlib

import requests
from PIL import Image

from .helpers import PARAMS


def test_every_download_matches_its_checksum(fractals_app):
    for record in fractals_app.fractals:
        response = requests.get(f"{fractals_app.endpoint}/fractal/{record['uuid']}", timeout=10)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "image/png"
        assert int(response.headers["Content-Length"]) == len(response.content) == record["size"]
        assert hashlib.sha256(response.content).hexdigest() == record["checksum"]
        assert response.headers["ETag"] == f'"{record["checksum"]}"'
        image = Image.open(io.BytesIO(response.content))
        assert image.size == (record["width"], record["height"])


def test_if_none_match_gives_304(fractals_app):
    record = fractals_app.fractals[2]
    url = f"{fractals_app.endpoint}/fractal/{record['uuid']}"
    response = requests.get(url, headers={"If-None-Match": f'"{record["checksum"]}"'},
                            timeout=10)
    assert response.status_code == 304
    assert response.content == b""
    stale = requests.get(url, headers={"If-None-Match": '"0"'}, timeout=10)
    assert stale.status_code == 200


def test_head_has_the_length_and_etag(fractals_app):
    record = fractals_app.fractals[3]
    response = requests.head(f"{fractals_app.endpoint}/fractal/{record['uuid']}", timeout=10)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == record["size"]
    assert response.headers["ETag"] == f'"{record["checksum"]}"'


def test_unknown_and_malformed_uuids(fractals_app):
    missing = requests.get(f"{fractals_app.endpoint}/fractal/{uuidlib.uuid4()}", timeout=10)
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/json"
    assert "no fractal" in missing.json()["message"]
    malformed = requests.get(f"{fractals_app.endpoint}/fractal/goat.jpg", timeout=10)
    assert malformed.status_code == 400
    assert malformed.json()["field"] == "uuid"


def test_pending_fractal_is_409_json(fractals_app_factory):
    app = fractals_app_factory(0, workers=0)  # nobody renders: stays pending
    record = requests.post(f"{app.endpoint}/v1/fractal", json=PARAMS, timeout=10).json()
    response = requests.get(f"{app.endpoint}/fractal/{record['uuid']}", timeout=10)
    assert response.status_code == 409
    assert "not rendered yet" in response.json()["message"]
    listed = requests.get(f"{app.endpoint}/v1/fractal", timeout=10).json()["objects"]
    assert [(o["uuid"], o["status"], o["checksum"]) for o in listed] == [
        (record["uuid"], "pending", None)
    ]


def test_many_images_in_one_tar_answer(fractals_app_factory):
    """GET /v1/fractal-images: a tar of the rendered images asked for, in the order asked;
    unknown and pending ones left out, nothing else in it."""
    app = fractals_app_factory(3, workers=0)  # nobody renders the new one: it stays pending
    pending = requests.post(f"{app.endpoint}/v1/fractal", json=PARAMS, timeout=10).json()
    first, _, third = app.fractals
    asked = [third["uuid"], str(uuidlib.uuid4()), pending["uuid"], first["uuid"].upper(),
             third["uuid"]]
    response = requests.get(f"{app.endpoint}/v1/fractal-images",
                            params=[("uuid", u) for u in asked], timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
        members = archive.getmembers()
        assert [m.name for m in members] == [f"{third['uuid']}.png", f"{first['uuid']}.png"]
        for member, record in zip(members, (third, first), strict=True):
            data = archive.extractfile(member).read()
            assert member.isfile() and member.size == len(data) == record["size"]
            assert hashlib.sha256(data).hexdigest() == record["checksum"]


def test_many_images_mistakes_are_400(fractals_app):
    url = f"{fractals_app.endpoint}/v1/fractal-images"
    for params in ([], [("uuid", str(uuidlib.uuid4()))] * 101, [("uuid", "../etc/passwd")]):
        response = requests.get(url, params=params, timeout=10)
        assert response.status_code == 400, params
        assert response.json()["field"] == "uuid"
