"""The per-pixel Julia set renderer, in plain Python, the way the original worker drew it.

It is the specification of :mod:`firstapp.fractals.render`: the tests check that
the vectorised renderer gives exactly the same pixels, and ``bench/render.py``
measures how much faster it is. Not used to serve images.
"""

from __future__ import annotations

from PIL import Image

from firstapp.fractals.params import FractalParams
from firstapp.fractals.render import colour, escape_count, julia_constant


def escape_counts_reference(params: FractalParams, c: complex | None = None) -> list[list[int]]:
    """Escape counts, one row per image row, computed pixel by pixel."""
    c = julia_constant(params) if c is None else c
    cr, ci = c.real, c.imag
    p = params
    x_steps = max(p.width - 1, 1)
    y_steps = max(p.height - 1, 1)
    rows = []
    for y in range(p.height):
        zi = y * (p.yb - p.ya) / y_steps + p.ya
        rows.append(
            [
                escape_count(x * (p.xb - p.xa) / x_steps + p.xa, zi, cr, ci, p.iterations)
                for x in range(p.width)
            ]
        )
    return rows


def render_image_reference(params: FractalParams) -> Image.Image:
    """The RGB image, written one pixel at a time as the original worker did."""
    image = Image.new("RGB", (params.width, params.height))
    for y, row in enumerate(escape_counts_reference(params)):
        for x, count in enumerate(row):
            image.putpixel((x, y), colour(count))
    return image
