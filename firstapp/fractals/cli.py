"""``firstapp fractals ...``: serve the app, stop it, create, list, back up and restore fractals."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from firstapp.errors import FirstappError, printable
from firstapp.fractals.defaults import (
    DEFAULT_ENDPOINT,
    DEFAULT_PORT,
    DEFAULT_WORKERS,
    IMAGE_STORE_ENV,
    default_db_path,
)
from firstapp.net import LOOPBACK, port_number

# The commands import the app, the database layer and the client when they run,
# so that `firstapp --help` and the other command groups start quickly.


def _db_url(args: argparse.Namespace, *, allow_memory: bool = True) -> str:
    """``--db`` as a URL, checked up front (in memory only where nothing must persist)."""
    from firstapp.fractals.db import check_db_url, resolve_db_url

    return check_db_url(resolve_db_url(args.db), allow_memory=allow_memory)


def _serve(args: argparse.Namespace) -> int:
    from firstapp.fractals.db import shown_url
    from firstapp.fractals.imagestore import DATABASE, parse_image_store
    from firstapp.fractals.process import start_background
    from firstapp.fractals.server import serve_forever
    from firstapp.fractals.transfer import check_timeout

    db_url = _db_url(args)
    parse_image_store(args.image_store)
    check_timeout(args.image_store_timeout)
    if args.background:
        info = start_background(db_url, args.host, args.port, args.workers,
                                image_store=args.image_store,
                                store_timeout=args.image_store_timeout)
        where = "" if args.image_store == DATABASE else f", images in {args.image_store}"
        print(f"Fractals app running at {info['endpoint']} (pid {info['pid']}, "
              f"database {shown_url(db_url)}{where}, log {info['log']})")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    serve_forever(db_url, args.host, args.port, args.workers, image_store=args.image_store,
                  store_timeout=args.image_store_timeout)
    return 0


def _stop(args: argparse.Namespace) -> int:
    from firstapp.fractals.process import stop_background

    info = stop_background(_db_url(args))
    if info is None:
        print("the Fractals app is not running (nothing to stop)")
    else:
        print(f"stopped the Fractals app at {info['endpoint']} (pid {info['pid']})")
    return 0


def _print_table(records: list[dict[str, Any]]) -> None:
    print(f"{'uuid':36}  {'size':>8}  {'checksum':64}  dims")
    for r in records:  # escaped: the records come from whatever answers at --endpoint
        checksum = r.get("checksum") or f"({r.get('status')})"
        size = r.get("size") if r.get("size") is not None else "-"
        print(printable(f"{r['uuid']:36}  {size!s:>8}  {checksum!s:64}  "
                        f"{r.get('width')}x{r.get('height')}"))


def _create(args: argparse.Namespace) -> int:
    from firstapp.fractals import client
    from firstapp.fractals.params import InvalidParameter

    if args.count < 1:
        raise FirstappError("-n must be at least 1")
    fixed = {f: getattr(args, f) for f in ("width", "height", "iterations", "xa", "xb", "ya", "yb")}
    try:
        records = client.create_fractals(
            args.endpoint, args.count, seed=args.seed, wait=args.wait, timeout=args.timeout,
            progress=sys.stderr.isatty() or args.count > 1, **fixed,
        )
    except InvalidParameter as exc:
        raise FirstappError(f"--{exc.field}: {exc.message}") from None
    _print_table(records)
    return 0


def _list(args: argparse.Namespace) -> int:
    from firstapp.fractals import client

    records = client.list_fractals(args.endpoint)
    _print_table(records)
    print(f"{len(records)} fractal{'s' if len(records) != 1 else ''}")
    return 0


def _transfer_args(args: argparse.Namespace) -> None:
    """Check what backup and restore share before connecting to anything."""
    from firstapp.fractals.transfer import check_container_name, check_timeout, check_workers

    check_container_name(args.container)
    check_workers(args.workers)
    check_timeout(args.timeout)


def _finish(report: Any) -> int:
    """Print a report's lines (stderr) and summary (stdout); its exit status."""
    for line in report.lines():
        print(line, file=sys.stderr)
    print(printable(report.summary()))
    if report.stopped is not None:
        raise FirstappError(report.stopped)
    return 0 if report.ok else 1


def _backup(args: argparse.Namespace) -> int:
    from firstapp.fractals.backup import backup
    from firstapp.fractals.transfer import connector_from_env

    _transfer_args(args)
    report = backup(args.endpoint, connector_from_env(timeout=args.timeout), args.container,
                    args.workers, progress=True, timeout=args.timeout)
    return _finish(report)


def _restore(args: argparse.Namespace) -> int:
    from firstapp.fractals.restore import restore
    from firstapp.fractals.transfer import connector_from_env

    _transfer_args(args)
    if not args.settle >= 0:
        raise FirstappError(f"--settle must be 0 or more seconds (got {args.settle})")
    db_url = _db_url(args, allow_memory=False)
    from firstapp.fractals.imagestore import parse_image_store

    parse_image_store(args.image_store)
    report = restore(connector_from_env(timeout=args.timeout), args.container, db_url,
                     args.workers, progress=True, timeout=args.timeout, settle=args.settle,
                     image_store=args.image_store)
    return _finish(report)


def _move_images(args: argparse.Namespace) -> int:
    from firstapp.fractals.move import move_images

    db_url = _db_url(args, allow_memory=False)
    report = move_images(db_url, args.to, source=args.source, workers=args.workers,
                         timeout=args.timeout, progress=True)
    return _finish(report)


def _add_endpoint(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint", default=None, metavar="URL",
        help=f"the app's base URL (default: $FRACTALS_ENDPOINT or {DEFAULT_ENDPOINT})",
    )


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", default=None, metavar="PATH|URL",
        help="SQLite file or SQLAlchemy database URL "
        f"(default: $FRACTALS_DB, else {default_db_path()})",
    )


def _add_image_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--image-store", default=os.environ.get(IMAGE_STORE_ENV) or "db",
        metavar="db|swift://CONTAINER",
        help="where the images are kept: the database, or a container of the object store "
        "OS_CLOUD or the OS_* variables name, created if missing "
        f"(default: ${IMAGE_STORE_ENV}, else db)")
    parser.add_argument(
        "--image-store-timeout", type=float, default=10.0, metavar="SECONDS",
        help="longest wait for any answer from the image store; a request for an image "
        "then answers 503 (default: 10)")


def _add_transfer(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=16,
                        help="concurrent transfers, one connection each (default: 16)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="longest wait for any answer from the store or the app; a store "
                        "that does not answer in time stops the run (default: 30)")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fractals`` and its sub-commands to the ``firstapp`` command."""
    parser = subparsers.add_parser(
        "fractals", help="the Fractals app: serve it, create and list fractals",
        description="The Fractals app whose images the tutorial backs up.",
    )
    sub = parser.add_subparsers(dest="fractals_command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve the API and gallery")
    serve.add_argument("--host", default=LOOPBACK, help=f"address to bind (default: {LOOPBACK})")
    serve.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                       help=f"port (default: {DEFAULT_PORT})")
    _add_db(serve)
    serve.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                       help="render threads; 0 leaves fractals pending "
                       f"(default: {DEFAULT_WORKERS})")
    serve.add_argument("--background", action="store_true",
                       help="run as a background process; return once it answers")
    _add_image_store(serve)
    serve.set_defaults(func=_serve)

    stop = sub.add_parser("stop", help="stop the server started with serve --background")
    _add_db(stop)
    stop.set_defaults(func=_stop)

    create = sub.add_parser("create", help="ask the app for new fractals")
    create.add_argument("-n", "--count", type=int, default=1, help="how many (default: 1)")
    create.add_argument("--seed", type=int, default=None,
                        help="make the random parameters reproducible")
    for name, kind in (("width", int), ("height", int), ("iterations", int),
                       ("xa", float), ("xb", float), ("ya", float), ("yb", float)):
        create.add_argument(f"--{name}", type=kind, default=None,
                            help=f"fix {name} (default: random, as the original producer)")
    create.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True,
                        help="wait until they are rendered (default: wait)")
    create.add_argument("--timeout", type=float, default=300.0,
                        help="seconds to wait for rendering (default: 300)")
    _add_endpoint(create)
    create.set_defaults(func=_create)

    listing = sub.add_parser("list", help="list every fractal")
    _add_endpoint(listing)
    listing.set_defaults(func=_list)

    backup = sub.add_parser(
        "backup", help="copy every fractal's image into an object storage container",
        description="Back up every rendered fractal into a Swift container, one object per "
        "uuid, with the record as metadata. Needs the OS_* variables: "
        'eval "$(firstapp cloud env)". An object whose stored ETag is already the MD5 of the '
        "app's image is skipped, so a second run uploads nothing and an interrupted run can "
        "be run again. Ends by checking every object written and writing a manifest.",
    )
    backup.add_argument("--container", required=True, help="the container (created if missing)")
    _add_endpoint(backup)
    _add_transfer(backup)
    backup.set_defaults(func=_backup)

    restore = sub.add_parser(
        "restore", help="restore backed-up fractals into an app database",
        description="Restore every fractal backed up in a container into a Fractals app "
        "database, checking each image against its checksum. Existing fractals are never "
        "overwritten. Exits non-zero, naming them, when objects the backup's manifest names "
        "could not be restored. Needs the OS_* variables: eval \"$(firstapp cloud env)\".",
    )
    restore.add_argument("--container", required=True, help="the backup container")
    _add_db(restore)
    _add_transfer(restore)
    restore.add_argument("--settle", type=float, default=10.0, metavar="SECONDS",
                         help="how long to read the container listing again until it shows "
                         "every object the backup's manifest names (default: 10)")
    restore.add_argument("--image-store", default=os.environ.get(IMAGE_STORE_ENV) or "db",
                         metavar="db|swift://CONTAINER",
                         help="where the app restored into keeps its images: its database, "
                         "or a container of the same account, into which each image is "
                         f"copied server-side (default: ${IMAGE_STORE_ENV}, else db)")
    restore.set_defaults(func=_restore)

    move = sub.add_parser(
        "move-images", help="move a database's images into a Swift container, or back",
        description="Move every rendered image of an app database into a Swift container "
        "(--to swift://CONTAINER), or from one back into the database (--to db --from "
        "swift://CONTAINER). Each image is read back and checked against its SHA-256 before "
        "its old copy is freed; an interrupted run can be run again. Then serve the app with "
        "--image-store set to where the images are. Needs the OS_* variables: "
        'eval "$(firstapp cloud env)".',
    )
    move.add_argument("--to", required=True, metavar="swift://CONTAINER|db",
                      help="where the images go")
    move.add_argument("--from", dest="source", default=None, metavar="swift://CONTAINER",
                      help="with --to db: the container the images are in")
    _add_db(move)
    _add_transfer(move)
    move.set_defaults(func=_move_images)

