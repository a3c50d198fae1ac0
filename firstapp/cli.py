"""The ``firstapp`` command: one sub-command group per component.

Each group lives in its own module exposing ``add_parser(subparsers)``; the
parsers set ``func`` to a callable taking the parsed arguments and returning an
exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from firstapp.errors import FirstappError

GROUPS = ("firstapp.cloud.cli", "firstapp.fractals.cli", "firstapp.tutorial")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="firstapp", description="Making it durable: the tutorial's local cloud and tools."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in GROUPS:
        importlib.import_module(name).add_parser(sub)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run a parsed command; a FirstappError becomes one ``error:`` line and status 1."""
    try:
        return int(args.func(args) or 0)
    except FirstappError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
