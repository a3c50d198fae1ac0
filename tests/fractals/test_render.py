"""The vectorised renderer against the per-pixel reference, and the PNG it produces."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from firstapp.fractals.params import FractalParams, random_params
from firstapp.fractals.reference import escape_counts_reference, render_image_reference
from firstapp.fractals.render import (
    colour,
    colourize,
    escape_count,
    escape_counts,
    julia_constant,
    render_image,
    render_png,
)


def _small_params(seed: int) -> FractalParams:
    return random_params(random.Random(seed), width=(1, 60), height=(1, 60), iterations=(1, 400))


@pytest.mark.parametrize("seed", range(25))
def test_escape_counts_equal_the_reference(seed):
    params = _small_params(seed)
    expected = np.array(escape_counts_reference(params), dtype=np.int32)
    assert np.array_equal(escape_counts(params), expected.reshape(params.height, params.width))


def test_long_orbits_equal_the_reference():
    # c inside the Mandelbrot set: the Julia set is connected and many points never escape.
    params = FractalParams(48, 40, 300, -1.6, 1.6, -1.0, 1.0)
    c = complex(-0.5, 0.1)
    counts = escape_counts(params, c)
    assert (counts == params.iterations - 1).sum() > 100
    expected = np.array(escape_counts_reference(params, c))
    assert np.array_equal(counts, expected)


def test_image_equals_the_per_pixel_image():
    params = _small_params(101)
    assert render_image(params).tobytes() == render_image_reference(params).tobytes()


def test_colours_follow_the_original_mapping():
    counts = np.arange(70).reshape(7, 10)
    rgb = np.asarray(colourize(counts))
    assert rgb.shape == (7, 10, 3)
    for i in range(70):
        assert tuple(rgb.reshape(-1, 3)[i]) == (i % 8 * 32, i % 16 * 16, i % 32 * 8) == colour(i)


def test_png_is_deterministic_and_decodes_to_the_pixels():
    params = _small_params(7)
    data = render_png(params)
    assert data == render_png(params)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    assert image.size == (params.width, params.height)
    assert image.mode == "RGB"
    assert image.tobytes() == render_image_reference(params).tobytes()


def test_constant_is_a_function_of_the_parameters():
    params = random_params(random.Random(3), width=64, height=64)
    c = julia_constant(params)
    assert c == julia_constant(FractalParams(**params.as_dict()))
    assert params.xa <= c.real <= params.xb and params.ya <= c.imag <= params.yb
    assert 10 < escape_count(c.real, c.imag, c.real, c.imag, params.iterations) < 100
    other = FractalParams(**{**params.as_dict(), "iterations": params.iterations + 1})
    assert julia_constant(other) != c


def test_one_iteration_and_one_pixel():
    params = FractalParams(1, 1, 1, -1.0, 1.0, -1.0, 1.0)
    assert escape_counts(params).tolist() == [[0]]
    assert Image.open(io.BytesIO(render_png(params))).size == (1, 1)
