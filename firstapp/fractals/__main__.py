"""``python -m firstapp.fractals ARGS``: the same as ``firstapp fractals ARGS``."""

import sys

from firstapp.cli import main

raise SystemExit(main(["fractals", *sys.argv[1:]]))
