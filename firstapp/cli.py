"""The ``firstapp`` command: one sub-command group per component.

Each group lives in its own module exposing ``add_parser(subparsers)``; the
parsers set ``func`` to a callable taking the parsed arguments and returning an
exit status. This is the one place where failures become exit statuses: a
:class:`~firstapp.errors.FirstappError` is one ``error:`` line and status 1, and so
is any unexpected exception (its traceback only with ``--debug`` or
``FIRSTAPP_DEBUG=1``). Nothing else in the package imports this module.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from firstapp.errors import FirstappError, printable

GROUPS = ("firstapp.cloud.cli", "firstapp.fractals.cli", "firstapp.tutorial")
DEBUG_VARIABLE = "FIRSTAPP_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="firstapp", description="Making it durable: the tutorial's local cloud and tools."
    )
    parser.add_argument(
        "--debug", action="store_true",
        help=f"show the traceback of an unexpected error (or set {DEBUG_VARIABLE}=1)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in GROUPS:
        importlib.import_module(name).add_parser(sub)
    return parser


def debugging(args: argparse.Namespace | None = None) -> bool:
    """``--debug`` was given, or FIRSTAPP_DEBUG is set to something other than 0."""
    return bool(getattr(args, "debug", False)) or os.environ.get(
        DEBUG_VARIABLE, "").strip() not in ("", "0")


def run(args: argparse.Namespace) -> int:
    """Run a parsed command; every failure becomes one ``error:`` line and status 1."""
    try:
        return int(args.func(args) or 0)
    except FirstappError as exc:
        print(printable(f"error: {exc}", keep="\n"), file=sys.stderr)  # some quote a log
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debugging(args):
            traceback.print_exc()
        print(printable(f"error: {type(exc).__name__}: {exc}")
              + f" (run with --debug or {DEBUG_VARIABLE}=1 for the traceback)", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
