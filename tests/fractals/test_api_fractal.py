"""POST, GET, PUT and DELETE on /v1/fractal(/<uuid>), with their errors."""

from __future__ import annotations

import uuid as uuidlib

import pytest
import requests

from firstapp.fractals.client import wait_until_rendered

from .helpers import PARAMS


def _count(app) -> int:
    return requests.get(f"{app.endpoint}/v1/fractal", timeout=10).json()["num_results"]


def test_get_one(fractals_app):
    record = fractals_app.fractals[5]
    response = requests.get(f"{fractals_app.endpoint}/v1/fractal/{record['uuid']}", timeout=10)
    assert response.status_code == 200
    assert response.json() == record


def test_get_unknown_is_404_json(fractals_app):
    missing = str(uuidlib.uuid4())
    response = requests.get(f"{fractals_app.endpoint}/v1/fractal/{missing}", timeout=10)
    assert response.status_code == 404
    assert missing in response.json()["message"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_malformed_uuid_is_400(fractals_app, method):
    response = requests.request(method, f"{fractals_app.endpoint}/v1/fractal/not-a-uuid",
                                json={"width": 64}, timeout=10)
    assert response.status_code == 400
    assert response.json()["field"] == "uuid"


def test_post_creates_a_pending_fractal_that_gets_rendered(fractals_app_factory):
    app = fractals_app_factory(0)
    response = requests.post(f"{app.endpoint}/v1/fractal", json=PARAMS, timeout=10)
    assert response.status_code == 201
    record = response.json()
    assert (record["status"], record["checksum"], record["size"]) == ("pending", None, None)
    assert {k: record[k] for k in PARAMS} == PARAMS
    assert response.headers["Location"].endswith(f"/v1/fractal/{record['uuid']}")
    uuidlib.UUID(record["uuid"])
    [done] = wait_until_rendered(app.endpoint, [record["uuid"]], timeout=30)
    assert done["status"] == "ready"
    assert len(done["checksum"]) == 64
    assert done["size"] > 0 and done["duration"] >= 0 and done["generated_by"]


def test_post_with_a_uuid_keeps_it_and_refuses_a_duplicate(fractals_app_factory):
    app = fractals_app_factory(0, workers=0)
    chosen = str(uuidlib.uuid4())
    response = requests.post(f"{app.endpoint}/v1/fractal", json={**PARAMS, "uuid": chosen},
                             timeout=10)
    assert response.status_code == 201
    assert response.json()["uuid"] == chosen
    again = requests.post(f"{app.endpoint}/v1/fractal", json={**PARAMS, "uuid": chosen},
                          timeout=10)
    assert again.status_code == 409
    assert again.json()["field"] == "uuid"
    assert _count(app) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"width": 0}, "width"),
        ({"height": -5}, "height"),
        ({"iterations": -1}, "iterations"),
        ({"iterations": 0}, "iterations"),
        ({"width": 100000, "height": 100000}, "width"),
        ({"width": 4096, "height": 4096}, "width"),
        ({"width": 64.5}, "width"),
        ({"width": "64"}, "width"),
        ({"width": True}, "width"),
        ({"xa": "left"}, "xa"),
        ({"yb": None}, "yb"),
        ({"xa": 2.0, "xb": 2.0}, "xa"),
        ({"xa": 3.0}, "xa"),
        ({"ya": 1.5}, "ya"),
        ({"xb": 1e300}, "xb"),
        ({"uuid": "1234"}, "uuid"),
        ({"checksum": "0" * 64}, "checksum"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_post_is_400_naming_the_field_and_writes_nothing(fractals_app, change, field):
    body = {**PARAMS, **change}
    response = requests.post(f"{fractals_app.endpoint}/v1/fractal", json=body, timeout=10)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert field in response.json()["message"]
    assert _count(fractals_app) == 27


def test_missing_field_and_non_object_body(fractals_app):
    body = {k: v for k, v in PARAMS.items() if k != "iterations"}
    response = requests.post(f"{fractals_app.endpoint}/v1/fractal", json=body, timeout=10)
    assert (response.status_code, response.json()["field"]) == (400, "iterations")
    for data in ("[1, 2]", "not json", ""):
        response = requests.post(f"{fractals_app.endpoint}/v1/fractal", data=data,
                                 headers={"Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 400
        assert "JSON object" in response.json()["message"]
    assert _count(fractals_app) == 27


def test_non_finite_numbers_are_refused(fractals_app):
    data = '{"width": 64, "height": 64, "iterations": 10, "xa": NaN, "xb": 1, "ya": -1, "yb": 1}'
    response = requests.post(f"{fractals_app.endpoint}/v1/fractal", data=data,
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert (response.status_code, response.json()["field"]) == (400, "xa")


def test_put_changes_parameters_and_the_fractal_is_rendered_again(fractals_app_factory):
    app = fractals_app_factory(1, seed=5)
    before = app.fractals[0]
    url = f"{app.endpoint}/v1/fractal/{before['uuid']}"
    response = requests.put(url, json={"iterations": before["iterations"] + 7}, timeout=10)
    assert response.status_code == 200
    assert response.json()["iterations"] == before["iterations"] + 7
    [after] = wait_until_rendered(app.endpoint, [before["uuid"]], timeout=30)
    assert after["checksum"] != before["checksum"]
    assert {k: after[k] for k in ("width", "height", "xa")} == {
        k: before[k] for k in ("width", "height", "xa")
    }
    image = requests.get(f"{app.endpoint}/fractal/{before['uuid']}", timeout=10)
    assert image.headers["ETag"] == f'"{after["checksum"]}"'


def test_put_without_changes_keeps_the_image(fractals_app):
    record = fractals_app.fractals[0]
    url = f"{fractals_app.endpoint}/v1/fractal/{record['uuid']}"
    response = requests.put(url, json={"width": record["width"]}, timeout=10)
    assert response.status_code == 200
    assert response.json() == record


@pytest.mark.parametrize(
    ("body", "field"),
    [({"width": 0}, "width"), ({"xb": -100.0}, "xa"), ({"size": 1}, "size"),
     ({"uuid": str(uuidlib.UUID(int=1))}, "uuid")],
)
def test_invalid_put_is_400_and_changes_nothing(fractals_app, body, field):
    record = fractals_app.fractals[1]
    url = f"{fractals_app.endpoint}/v1/fractal/{record['uuid']}"
    response = requests.put(url, json=body, timeout=10)
    assert (response.status_code, response.json()["field"]) == (400, field)
    assert requests.get(url, timeout=10).json() == record


def test_put_unknown_is_404(fractals_app):
    url = f"{fractals_app.endpoint}/v1/fractal/{uuidlib.uuid4()}"
    assert requests.put(url, json={"width": 64}, timeout=10).status_code == 404


def test_delete(fractals_app_factory):
    app = fractals_app_factory(3, seed=9)
    uuid = app.uuids[1]
    response = requests.delete(f"{app.endpoint}/v1/fractal/{uuid}", timeout=10)
    assert response.status_code == 204
    assert response.content == b""
    assert requests.get(f"{app.endpoint}/v1/fractal/{uuid}", timeout=10).status_code == 404
    assert requests.get(f"{app.endpoint}/fractal/{uuid}", timeout=10).status_code == 404
    assert requests.delete(f"{app.endpoint}/v1/fractal/{uuid}", timeout=10).status_code == 404
    assert _count(app) == 2


def test_unknown_route_and_method_are_json(fractals_app):
    response = requests.get(f"{fractals_app.endpoint}/v2/nothing", timeout=10)
    assert response.status_code == 404
    assert "message" in response.json()
    response = requests.patch(f"{fractals_app.endpoint}/v1/fractal", timeout=10)
    assert response.status_code == 405
    assert "message" in response.json()
