"""Fixtures: each component ships its own pytest plugin next to its code."""

pytest_plugins = ["firstapp.cloud.fixtures", "firstapp.fractals.fixtures"]
