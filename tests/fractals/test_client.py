"""firstapp.fractals.client against a served app."""

from __future__ import annotations

import hashlib

import pytest

from firstapp.errors import FirstappError
from firstapp.fractals import client
from firstapp.net import free_port


@pytest.mark.parametrize("per_page", [1, 10, 100])
def test_iter_fractals_reads_every_page(fractals_app, per_page):
    records = list(client.iter_fractals(fractals_app.endpoint, results_per_page=per_page))
    assert records == fractals_app.fractals


def test_image_streams_are_the_stored_bytes(fractals_app):
    record = fractals_app.fractals[4]
    chunks = list(client.iter_image(fractals_app.endpoint, record["uuid"], chunk_size=256))
    assert len(chunks) == -(-record["size"] // 256)
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == record["checksum"]
    with client.open_image(fractals_app.endpoint, record["uuid"]) as response:
        assert response.headers["ETag"].strip('"') == record["checksum"]
        assert hashlib.sha256(response.raw.read()).hexdigest() == record["checksum"]


def test_errors_carry_the_status_and_message(fractals_app):
    with pytest.raises(client.FractalsAPIError) as info:
        client.get_fractal(fractals_app.endpoint, "00000000-0000-4000-8000-000000000000")
    assert info.value.status == 404
    assert "no fractal" in str(info.value)
    with pytest.raises(client.FractalsAPIError) as info:
        client.list_page(fractals_app.endpoint, 1, -1)
    assert info.value.status == 400


def test_not_running_says_how_to_start_it():
    endpoint = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(FirstappError, match="not running at .*firstapp fractals serve"):
        list(client.iter_fractals(endpoint))


def test_default_endpoint_and_its_override(monkeypatch, fractals_app):
    monkeypatch.delenv("FRACTALS_ENDPOINT", raising=False)
    assert client.default_endpoint() == "http://127.0.0.1:8081"
    monkeypatch.setenv("FRACTALS_ENDPOINT", fractals_app.endpoint)
    assert client.get_fractal(None, fractals_app.uuids[0]) == fractals_app.fractals[0]


def test_create_fractals_with_a_seed_is_reproducible(fractals_app_factory):
    first, second = fractals_app_factory(0), fractals_app_factory(0)
    options = {"seed": 11, "width": (40, 60), "height": 40, "progress": False}
    made = client.create_fractals(first.endpoint, 3, **options)
    again = client.create_fractals(second.endpoint, 3, **options)
    assert [r["status"] for r in made] == ["ready"] * 3
    assert [r["checksum"] for r in made] == [r["checksum"] for r in again]
    assert [r["uuid"] for r in made] != [r["uuid"] for r in again]
    assert all(40 <= r["width"] <= 60 and r["height"] == 40 for r in made)
    assert len({r["checksum"] for r in made}) == 3


def test_create_without_waiting_returns_pending_records(fractals_app_factory):
    app = fractals_app_factory(0, workers=0)
    made = client.create_fractals(app.endpoint, 2, seed=1, width=32, height=32, wait=False,
                                  progress=False)
    assert [r["status"] for r in made] == ["pending", "pending"]
    with pytest.raises(client.FractalsAPIError, match="not rendered"):
        client.wait_until_rendered(app.endpoint, [made[0]["uuid"]], timeout=0.3)


def deleting_after_first_page(endpoint: str, victim: str, deleted: list[str]):
    """A requests.Session whose first listing page, once read, is followed by a real
    DELETE of ``victim`` on the app: a fractal removed while a backup lists them."""
    import requests

    session = requests.Session()

    def hook(response, *args, **kwargs):
        if "/v1/fractal?" in response.url and "page=1&" in response.url and not deleted:
            deleted.append(victim)
            client.delete_fractal(endpoint, victim)

    session.hooks["response"].append(hook)
    return session


def test_a_fractal_deleted_during_the_listing_costs_no_other(fractals_app_factory):
    app = fractals_app_factory(25)
    first_page = app.uuids[:10]
    # plain paging by offset: the delete shifts page 2 by one, so the 11th is never seen
    deleted: list[str] = []
    seen = [r["uuid"] for r in client.iter_fractals(
        app.endpoint, results_per_page=10,
        session=deleting_after_first_page(app.endpoint, first_page[0], deleted))]
    assert deleted and app.uuids[10] not in seen
    # list_fractals reads again until two readings agree: every remaining fractal, once
    deleted.clear()
    records = client.list_fractals(
        app.endpoint, results_per_page=10,
        session=deleting_after_first_page(app.endpoint, first_page[1], deleted))
    remaining = [r["uuid"] for r in client.iter_fractals(app.endpoint)]
    assert deleted and len(remaining) == 23
    assert sorted(r["uuid"] for r in records) == sorted(remaining)


def test_an_endpoint_that_is_not_the_app_gets_a_clear_error():
    from tests.backup.hostile import AppHandler, Behaviour, serve

    for body, expected in ((b"<html>hello</html>", "with something that is not JSON"),
                           (b"[1, 2]", "with JSON that is not a Fractals listing"),
                           (b'{"num_results": 1, "total_pages": 1, "objects": [{"id": 1}]}',
                            "with JSON that is not a Fractals listing")):
        with serve(AppHandler, Behaviour(listing_body=body)) as app, \
                pytest.raises(client.FractalsAPIError) as info:
            client.list_fractals(app)
        assert f"the Fractals app at {app} answered the listing {expected}" in str(info.value)


def test_an_app_that_never_answers_times_out():
    from tests.backup.hostile import AppHandler, Behaviour, serve

    with serve(AppHandler, Behaviour(hang={"GET /v1/fractal"})) as app, \
            pytest.raises(client.FractalsAPIError) as info:
        client.list_page(app, timeout=0.5)
    assert str(info.value).startswith(f"the Fractals app at {app} did not answer GET "
                                      "/v1/fractal within 0.5 s")


def test_read_image_stops_at_its_limit(fractals_app):
    record = fractals_app.fractals[0]
    image = client.read_image(fractals_app.endpoint, record["uuid"], record["size"])
    assert hashlib.sha256(image).hexdigest() == record["checksum"]
    with pytest.raises(client.FractalsAPIError, match="sent more than the 10 bytes"):
        client.read_image(fractals_app.endpoint, record["uuid"], 10)
