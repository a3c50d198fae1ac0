"""Small helpers shared by the Fractals app tests."""

from __future__ import annotations

PARAMS = {"width": 64, "height": 48, "iterations": 100,
          "xa": -2.0, "xb": 2.0, "ya": -1.5, "yb": 1.5}
