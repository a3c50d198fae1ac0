"""``firstapp cloud``: start, stop, inspect and repair the local object store."""

from __future__ import annotations

import argparse
import shlex

from firstapp.cloud import backends, config, control
from firstapp.net import port_number


def count(text: str) -> int:
    """An argparse type: a number of devices or replicas, 1 to config.MAX_DEVICES."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= config.MAX_DEVICES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number from 1 to {config.MAX_DEVICES}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    cloud = sub.add_parser("cloud", help="the local object store (OpenStack Swift, or Ceph's RGW)")
    cmds = cloud.add_subparsers(dest="cloud_command", required=True, metavar="COMMAND")

    def command(name: str, func, summary: str) -> argparse.ArgumentParser:
        parser = cmds.add_parser(name, help=summary, description=summary)
        parser.add_argument(
            "--data-dir", metavar="DIR",
            help="where the cloud keeps its files (default: the per-user data directory)",
        )
        parser.set_defaults(func=func)
        return parser

    start = command("start", _start, "start the store in the background (create it first)")
    start.add_argument("--port", type=port_number,
                       help=f"proxy port (default {control.DEFAULT_PORT})")
    start.add_argument("--devices", type=count, help="device directories (default 3)")
    start.add_argument("--replicas", type=count,
                       help="copies of every object, at most --devices (default 3, or "
                            "--devices when fewer)")
    start.add_argument("--backend", choices=backends.BACKENDS,
                       help="the store of a new cloud: swift or ceph (Ceph's RADOS Gateway; "
                            "`make ceph` installs it); default $FIRSTAPP_BACKEND, else swift")
    start.add_argument("--auth", choices=config.AUTH_MODES,
                       help="how users sign in, fixed when the cloud is created: Swift's v1 "
                            "tempauth (default) or a real Keystone v3 (installed into "
                            ".venv-keystone on first use)")
    start.add_argument("--keystone-port", type=port_number,
                       help="Keystone's port with --auth keystone (default 5000)")
    start.add_argument("--workers", metavar="N",
                       help="processes serving Swift, 1 to "
                            f"{config.MAX_WORKERS} (default {config.DEFAULT_WORKERS}, one per "
                            "core of a 2-core machine); kept for later starts")
    command("stop", _stop, "stop the store started by `firstapp cloud start`")
    command("status", _status, "say whether the store runs, where, and what it holds")
    command("env", _env, "print shell exports of OS_* settings for the running store")
    command("repair", _repair, "run one maintenance pass: audit, replicate, update; "
                               "exit status 1 when something could not be repaired")


def _start(args: argparse.Namespace) -> int:
    workers = None if args.workers is None else config.parse_workers(args.workers)
    cloud, started = backends.start(args.data_dir, args.port, args.devices, args.replicas,
                                    args.backend, auth=args.auth,
                                    keystone_port=args.keystone_port, workers=workers)
    verb = "started" if started else "already running (nothing started)"
    print(f"local cloud {verb}: {cloud.auth_url} (pid {cloud.pid}, data in {cloud.layout.root})")
    if not started and args.port is not None and args.port != cloud.port:
        print(f"note: it keeps port {cloud.port}; to move it to {args.port}, "
              f"`firstapp cloud stop{_data_dir_flag(args)}` first")
    running = getattr(cloud.settings, "workers", None)
    if not started and workers is not None and workers != running:
        print(f"note: it keeps its {running} worker(s); for {workers}, "
              f"`firstapp cloud stop{_data_dir_flag(args)}` first")
    print(f'connect with: eval "$(firstapp cloud env{_data_dir_flag(args)})"')
    return 0


def _stop(args: argparse.Namespace) -> int:
    print("local cloud stopped" if backends.stop(args.data_dir) else "local cloud was not running")
    return 0


def _status(args: argparse.Namespace) -> int:
    report = backends.status(args.data_dir)
    print(f"backend:     {report['backend']}")
    print(f"running:     {'yes' if report['running'] else 'no'}")
    print(f"data dir:    {report['data_dir']}")
    print(f"auth:        {report['auth']}")
    print(f"auth url:    {report['auth_url']}")
    print(f"storage url: {report['storage_url']}")
    print(f"devices:     {len(report['devices'])} ({', '.join(report['devices'])})")
    print(f"replicas:    {report['replicas']}")
    if "workers" in report:
        serving = report.get("serving_pids")
        print(f"workers:     {report['workers']}" + (
            f" (serving: pid {', '.join(map(str, serving))})" if serving else ""))
    if report["running"]:
        print(f"containers:  {report['containers']}")
        print(f"objects:     {report['objects']}")
        print(f"bytes:       {report['bytes']}")
    if "used_bytes" in report:
        print(f"space:       {report['used_bytes']} bytes used, {report['free_bytes']} free "
              "(all copies)")
    for warning in report.get("warnings", []):
        print(f"warning:     {warning}")
    return 0 if report["running"] else 3


def _env(args: argparse.Namespace) -> int:
    cloud = backends.info(args.data_dir)
    if not cloud.running:
        from firstapp.cloud.client import START_HINT
        from firstapp.errors import FirstappError

        raise FirstappError(f"the local cloud is not running; {START_HINT}")
    for key, value in cloud.env().items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def _repair(args: argparse.Namespace) -> int:
    report = backends.repair(args.data_dir)
    print(report.summary())
    if report.problems:
        from firstapp.errors import FirstappError

        raise FirstappError("not everything could be repaired: " + "; ".join(report.problems))
    return 0


def _data_dir_flag(args: argparse.Namespace) -> str:
    return f" --data-dir {shlex.quote(args.data_dir)}" if args.data_dir else ""
