"""Fractal rendering: the NumPy renderer against the per-pixel reference.

Both draw the same 512x512 Julia set (the original renderer's default window,
[-2, 2] x [-1.5, 1.5], 255 iterations) into an RGB image, in the same run; the
reference is firstapp.fractals.reference, written pixel by pixel as the original
worker did. Checks that the pixels are identical, then prints the median times
and the ratio. Target: the NumPy renderer at least 50x faster.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from firstapp.fractals.params import FractalParams
from firstapp.fractals.reference import escape_counts_reference, render_image_reference
from firstapp.fractals.render import escape_counts, julia_constant, render_image

PARAMS = FractalParams(width=512, height=512, iterations=255, xa=-2.0, xb=2.0, ya=-1.5, yb=1.5)
TARGET = 50.0


def median_time(task: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        task()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> int:
    if render_image(PARAMS).tobytes() != render_image_reference(PARAMS).tobytes():
        print("FAILED: the NumPy renderer and the reference disagree", file=sys.stderr)
        return 1
    counts = escape_counts(PARAMS)
    print(f"parameters: {PARAMS}, c = {julia_constant(PARAMS):.6f}, "
          f"mean escape count {counts.mean():.1f}")
    for label, fast, slow in (
        ("image (escape counts + colours)", lambda: render_image(PARAMS),
         lambda: render_image_reference(PARAMS)),
        ("escape counts only", lambda: escape_counts(PARAMS),
         lambda: escape_counts_reference(PARAMS)),
    ):
        fast_s, slow_s = median_time(fast, 7), median_time(slow, 3)
        ratio = slow_s / fast_s
        verdict = "met" if ratio >= TARGET else "MISSED"
        print(f"{label}: reference {slow_s:.3f} s, NumPy {fast_s * 1000:.1f} ms, "
              f"{ratio:.0f}x faster (target >= {TARGET:.0f}x: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
