"""Filling a database with rendered fractals directly, without the web API."""

from __future__ import annotations

import random
import uuid as uuidlib
from datetime import timedelta

from tqdm import tqdm

from firstapp.fractals.db import make_engine, make_sessionmaker
from firstapp.fractals.models import Fractal, utcnow
from firstapp.fractals.params import random_params
from firstapp.fractals.worker import render_fractal

Range = int | tuple[int, int]


def seed_database(
    db_url: str,
    n: int,
    seed: int = 0,
    width: Range = (256, 1024),
    height: Range = (256, 1024),
    iterations: Range = (128, 512),
    *,
    progress: bool = False,
) -> list[dict]:
    """Render ``n`` fractals into the database at ``db_url``; return their records.

    Parameters and uuids come from ``random.Random(seed)``, so the same call
    always makes the same fractals. Fractals that already exist (same uuid) are
    kept as they are, so calling it twice adds nothing. The records have the
    shape the API returns, rendered exactly as the worker renders them.
    """
    rng = random.Random(seed)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    records = []
    created = utcnow()
    try:
        for i in tqdm(range(n), desc="rendering", unit="fractal", disable=not progress):
            params = random_params(rng, width=width, height=height, iterations=iterations)
            uuid = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
            with sessions.begin() as session:
                fractal = session.get(Fractal, uuid)
                if fractal is None:
                    fractal = Fractal(
                        uuid=uuid,
                        created_at=created + timedelta(microseconds=i),
                        **params.as_dict(),
                        **render_fractal(params).columns(),
                    )
                    session.add(fractal)
                records.append(fractal.to_json())
    finally:
        engine.dispose()
    return records
