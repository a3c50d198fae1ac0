"""The Fractals app: a local, faafo-compatible service whose images the tutorial backs up.

``firstapp fractals serve`` runs it; :mod:`firstapp.fractals.client` talks to
it; :func:`seed_database` fills a database directly.
"""

from __future__ import annotations

from typing import Any

__all__ = ["seed_database"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that the command line starts without NumPy and Flask.
    if name == "seed_database":
        from firstapp.fractals.seed import seed_database

        return seed_database
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
