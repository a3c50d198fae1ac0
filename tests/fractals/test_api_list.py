"""GET /v1/fractal: the listing, its paging and its errors."""

from __future__ import annotations

import pytest
import requests

RECORD_KEYS = {"uuid", "status", "checksum", "size", "duration", "width", "height",
               "iterations", "xa", "xb", "ya", "yb", "generated_by"}


def _get(app, **params):
    return requests.get(f"{app.endpoint}/v1/fractal", params=params, timeout=10)


def test_default_page_has_ten_records_and_counts(fractals_app):
    body = _get(fractals_app).json()
    assert body["num_results"] == 27
    assert body["page"] == 1
    assert body["total_pages"] == 3
    assert len(body["objects"]) == 10
    for record in body["objects"]:
        assert set(record) == RECORD_KEYS
        assert record["status"] == "ready"


@pytest.mark.parametrize("per_page", [1, 4, 10, 13, 26, 27, 100])
def test_paging_returns_every_uuid_exactly_once(fractals_app, per_page):
    seen = []
    page, total_pages = 1, None
    while total_pages is None or page <= total_pages:
        body = _get(fractals_app, page=page, results_per_page=per_page).json()
        assert body["page"] == page
        assert len(body["objects"]) <= per_page
        total_pages = body["total_pages"]
        seen += [o["uuid"] for o in body["objects"]]
        page += 1
    assert total_pages == -(-27 // per_page)
    assert sorted(seen) == sorted(fractals_app.uuids)
    assert len(seen) == len(set(seen))


def test_order_is_stable_and_by_creation(fractals_app):
    first = [o["uuid"] for o in _get(fractals_app, results_per_page=100).json()["objects"]]
    again = [o["uuid"] for o in _get(fractals_app, results_per_page=100).json()["objects"]]
    assert first == again == fractals_app.uuids


def test_page_after_the_last_is_empty(fractals_app):
    body = _get(fractals_app, page=4).json()
    assert body["objects"] == []
    assert body["total_pages"] == 3


def test_listing_matches_the_seeded_records(fractals_app):
    listed = {o["uuid"]: o for o in _get(fractals_app, results_per_page=100).json()["objects"]}
    for record in fractals_app.fractals:
        assert listed[record["uuid"]] == record


def test_minus_one_is_refused_with_advice_to_page(fractals_app):
    response = _get(fractals_app, results_per_page=-1)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "results_per_page"
    assert "results_per_page" in body["message"]
    assert "total_pages" in body["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"results_per_page": 0}, "results_per_page"),
        ({"results_per_page": 101}, "results_per_page"),
        ({"results_per_page": "ten"}, "results_per_page"),
        ({"results_per_page": "2.5"}, "results_per_page"),
        ({"page": 0}, "page"),
        ({"page": -3}, "page"),
        ({"page": "x"}, "page"),
        ({"page": ""}, "page"),
        ({"page": "1_0"}, "page"),  # int() would read 10
        ({"page": " 2"}, "page"),
        ({"page": "--3"}, "page"),
        ({"results_per_page": "\uff12"}, "results_per_page"),  # a full-width 2
    ],
)
def test_malformed_paging_is_a_400_naming_the_parameter(fractals_app, params, field):
    response = _get(fractals_app, **params)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["field"] == field
    assert field in response.json()["message"]


def test_empty_database(fractals_app_factory):
    app = fractals_app_factory(0)
    body = _get(app).json()
    assert body == {"num_results": 0, "page": 1, "total_pages": 0, "objects": []}
