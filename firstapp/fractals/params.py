"""Fractal parameters: their limits, validation, and the producer's random defaults."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: Largest accepted width or height, in pixels.
MAX_SIDE = 4096
#: Largest accepted image, in pixels (width x height): 2048 x 2048.
MAX_PIXELS = 2048 * 2048
#: Largest accepted iteration count.
MAX_ITERATIONS = 2048
#: Largest accepted absolute value of a bound (xa, xb, ya, yb).
MAX_BOUND = 1000.0

INT_FIELDS = ("width", "height", "iterations")
FLOAT_FIELDS = ("xa", "xb", "ya", "yb")
FIELDS = INT_FIELDS + FLOAT_FIELDS

#: The original producer's ranges: an int is a fixed value, a pair an inclusive range.
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "width": (256, 1024),
    "height": (256, 1024),
    "iterations": (128, 512),
    "xa": (-4.0, -1.0),
    "xb": (1.0, 4.0),
    "ya": (-3.0, -0.5),
    "yb": (0.5, 3.0),
}


class InvalidParameter(ValueError):
    """A parameter is missing, of the wrong type or out of range; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class FractalParams:
    """What determines a fractal image: its size, iteration cap and the window it shows."""

    width: int
    height: int
    iterations: int
    xa: float
    xb: float
    ya: float
    yb: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_int(field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter(field, f"{field} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise InvalidParameter(field, f"{field} must be between {low} and {high}, got {value}")
    return value


def _as_float(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameter(field, f"{field} must be a number, got {value!r}")
    if not math.isfinite(value) or abs(value) > MAX_BOUND:
        raise InvalidParameter(
            field, f"{field} must be a finite number between -{MAX_BOUND:g} and {MAX_BOUND:g}"
        )
    return float(value)


def validate(data: Mapping[str, Any]) -> FractalParams:
    """Check every field of ``data`` and return the parameters; raise InvalidParameter."""
    for field in FIELDS:
        if data.get(field) is None:
            raise InvalidParameter(field, f"{field} is required")
    width = _as_int("width", data["width"], 1, MAX_SIDE)
    height = _as_int("height", data["height"], 1, MAX_SIDE)
    if width * height > MAX_PIXELS:
        raise InvalidParameter(
            "width",
            f"width x height = {width * height} pixels is over the limit of {MAX_PIXELS}"
            " (2048 x 2048)",
        )
    iterations = _as_int("iterations", data["iterations"], 1, MAX_ITERATIONS)
    xa, xb, ya, yb = (_as_float(f, data[f]) for f in FLOAT_FIELDS)
    if xa >= xb:
        raise InvalidParameter("xa", f"xa must be smaller than xb, got xa={xa:g}, xb={xb:g}")
    if ya >= yb:
        raise InvalidParameter("ya", f"ya must be smaller than yb, got ya={ya:g}, yb={yb:g}")
    return FractalParams(width, height, iterations, xa, xb, ya, yb)


def random_params(rng: random.Random, **fixed: float | tuple[float, float] | None) -> FractalParams:
    """Draw parameters from the original producer's ranges.

    Each keyword (``width=64``, ``iterations=(32, 64)``, ...) fixes a field to a
    value or an inclusive range; ``None`` keeps the default range. The same
    ``rng`` state always gives the same parameters.
    """
    unknown = set(fixed) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for field in FIELDS:
        choice = fixed.get(field)
        spec = DEFAULT_RANGES[field] if choice is None else choice
        if isinstance(spec, tuple):
            low, high = spec
            if field in INT_FIELDS:
                values[field] = rng.randint(int(low), int(high))
            else:
                values[field] = rng.uniform(low, high)
        else:
            values[field] = int(spec) if field in INT_FIELDS else float(spec)
    return validate(values)


def seeded_params(seed: int | None, **fixed: float | tuple[float, float] | None
                  ) -> Iterator[FractalParams]:
    """An endless series of :func:`random_params` draws from ``random.Random(seed)``.

    The one generator behind ``firstapp fractals create --seed`` and
    :func:`~firstapp.fractals.seed.seed_database`: the same seed and fixed fields give
    the same parameters, hence the same images, whichever path made them.
    """
    rng = random.Random(seed)
    while True:
        yield random_params(rng, **fixed)
