"""Filling a database with rendered fractals directly, without the web API."""

from __future__ import annotations

import random
import uuid as uuidlib
from datetime import timedelta
from itertools import islice

from tqdm import tqdm

from firstapp.fractals.db import make_engine, make_sessionmaker
from firstapp.fractals.models import Fractal, utcnow
from firstapp.fractals.params import FractalParams, seeded_params
from firstapp.fractals.worker import render_fractal

Range = int | tuple[int, int]


def seeded_fractals(n: int, seed: int = 0,
                    **fixed: Range | None) -> list[tuple[str, FractalParams]]:
    """The uuids and parameters of ``n`` seeded fractals.

    The parameters are those ``firstapp fractals create -n N --seed S`` asks for with the
    same fixed fields (one generator, :func:`~firstapp.fractals.params.seeded_params`), so
    the images and their checksums are the same; the uuids come from a generator of their
    own, seeded from ``seed`` too.
    """
    uuids = random.Random(f"uuids {seed}")
    return [(str(uuidlib.UUID(int=uuids.getrandbits(128), version=4)), params)
            for params in islice(seeded_params(seed, **fixed), n)]


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

    Uuids and parameters come from :func:`seeded_fractals`, so the same call always
    makes the same fractals. Fractals that already exist (same uuid) are kept as they
    are, so calling it twice adds nothing. The records have the shape the API returns,
    rendered exactly as the worker renders them.
    """
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    records = []
    created = utcnow()
    wanted = seeded_fractals(n, seed, width=width, height=height, iterations=iterations)
    try:
        for i, (uuid, params) in enumerate(tqdm(wanted, desc="rendering", unit="fractal",
                                                disable=not progress)):
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
