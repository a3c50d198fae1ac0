"""The render pool: concurrent creates, restarts, and records identical to seeded ones."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import requests

from firstapp.fractals.client import (
    create_fractal,
    download_image,
    iter_fractals,
    wait_until_rendered,
)
from firstapp.fractals.params import FIELDS
from firstapp.fractals.server import ThreadedServer

from .helpers import PARAMS


def test_concurrent_creates_lose_nothing(fractals_app_factory):
    app = fractals_app_factory(0)

    def create(i: int) -> list[str]:
        with requests.Session() as session:
            return [
                create_fractal(app.endpoint, {**PARAMS, "iterations": 20 + 8 * i + k},
                               session=session)["uuid"]
                for k in range(4)
            ]

    with ThreadPoolExecutor(8) as pool:
        created = [uuid for batch in pool.map(create, range(8)) for uuid in batch]
    assert len(set(created)) == 32
    records = wait_until_rendered(app.endpoint, created, timeout=60)
    listed = {r["uuid"]: r for r in iter_fractals(app.endpoint, results_per_page=7)}
    assert set(listed) == set(created)
    for record in records:
        assert listed[record["uuid"]] == record
        data = download_image(app.endpoint, record["uuid"])
        assert hashlib.sha256(data).hexdigest() == record["checksum"]


def test_worker_and_seed_make_identical_records(fractals_app, fractals_app_factory):
    app = fractals_app_factory(0)
    seeded = fractals_app.fractals[:3]
    for record in seeded:
        create_fractal(app.endpoint, {f: record[f] for f in FIELDS}, uuid=record["uuid"])
    rendered = wait_until_rendered(app.endpoint, [r["uuid"] for r in seeded], timeout=30)
    for mine, theirs in zip(rendered, seeded, strict=True):
        assert set(mine) == set(theirs)
        assert [type(mine[k]) for k in sorted(mine)] == [type(theirs[k]) for k in sorted(theirs)]
        same = {k: mine[k] for k in mine if k != "duration"}
        assert same == {k: theirs[k] for k in theirs if k != "duration"}
        assert download_image(app.endpoint, mine["uuid"]) == download_image(
            fractals_app.endpoint, mine["uuid"]
        )


def test_pending_fractals_are_rendered_after_a_restart(fractals_app_factory):
    idle = fractals_app_factory(0, workers=0)
    uuids = [create_fractal(idle.endpoint, {**PARAMS, "width": 32 + i})["uuid"] for i in range(3)]
    idle.stop()
    restarted = ThreadedServer(idle.db_url, workers=1)
    try:
        records = wait_until_rendered(restarted.endpoint, uuids, timeout=30)
        assert [r["width"] for r in records] == [32, 33, 34]
        assert all(r["status"] == "ready" for r in records)
    finally:
        restarted.stop()
