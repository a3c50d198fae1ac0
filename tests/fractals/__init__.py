"""Tests of the Fractals app (firstapp.fractals)."""
