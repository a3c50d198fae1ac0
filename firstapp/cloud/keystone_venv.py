"""Keystone's own virtualenv: ``.venv-keystone/`` in the checkout.

Keystone 30 from PyPI brings ~80 packages (oslo.*, pysaml2, kombu, an older Flask API
layer...) that the tutorial itself does not need; a virtualenv of its own keeps them out of
``.venv`` and lets either side move its pins without breaking the other. It is created by
``make keystone``, or on first use of ``firstapp cloud start --auth keystone``, with the
Python that runs firstapp. A firstapp installed from a wheel rather than a checkout keeps it
in the per-user data directory (``keystone-venv``).

Run ``python -m firstapp.cloud.keystone_venv`` to create or update it.
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
import venv
from pathlib import Path

from firstapp.errors import FirstappError
from firstapp.paths import default_data_dir

#: What the virtualenv holds: Keystone and the pure-Python WSGI server that serves it.
REQUIREMENTS = ("keystone>=30,<31", "waitress>=3.0,<4")
PIP_TIMEOUT = 60  # s pip waits for PyPI on each connection or read
STAMP = ".installed"  # written last, holds the requirements it was built with


def location() -> Path:
    """``.venv-keystone`` next to firstapp's checkout, else in the per-user data directory."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "firstapp").is_dir():
        return checkout / ".venv-keystone"
    return default_data_dir() / "keystone-venv"


def python(where: Path | None = None) -> Path:
    return (where or location()) / "bin" / "python"


def _fingerprint() -> str:
    return hashlib.sha256("\n".join(REQUIREMENTS).encode()).hexdigest()[:16]


def ready(where: Path | None = None) -> bool:
    """True when the virtualenv exists and holds what :data:`REQUIREMENTS` asks for."""
    where = where or location()
    try:
        return (where / STAMP).read_text().strip() == _fingerprint() and python(where).exists()
    except OSError:
        return False


def ensure(where: Path | None = None, say=None) -> Path:
    """Create (or update) the virtualenv unless it is ready; return its Python.

    ``say`` receives progress lines (default: printed to stderr). Two firstapp commands that
    need it at once take turns: the second finds it ready.
    """
    where = where or location()
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    if ready(where):
        return python(where)
    try:
        where.mkdir(parents=True, exist_ok=True)
        lock = open(where / ".lock", "a")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise FirstappError(f"cannot create Keystone's virtualenv in {where}: "
                            f"{exc.strerror}") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready(where):
            _build(where, say)
    return python(where)


def _build(where: Path, say) -> None:
    say(f"setting up Keystone (first use): a virtualenv in {where} with "
        f"{', '.join(REQUIREMENTS)} from PyPI; this takes a minute or two")
    try:
        if not python(where).exists():
            venv.EnvBuilder(with_pip=True).create(where)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise FirstappError(f"cannot create Keystone's virtualenv in {where}: {exc}; remove "
                            "it and try again") from None
    command = [str(python(where)), "-m", "pip", "install", "--disable-pip-version-check",
               "--progress-bar", "off", "--timeout", str(PIP_TIMEOUT), *REQUIREMENTS]
    seen = 0
    tail: list[str] = []
    with subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            line = line.rstrip()
            tail = (tail + [line])[-5:]
            if line.startswith("Collecting "):  # one per package: a visible count
                seen += 1
                say(f"  [{seen}] {line.split()[1]}")
            elif line.startswith(("Installing collected", "Successfully installed")):
                say("  " + (line if len(line) < 100 else line[:97] + "..."))
    if proc.returncode != 0:
        detail = next((t for t in reversed(tail) if t.startswith("ERROR")), tail[-1] if tail
                      else "no output")
        raise FirstappError(f"installing Keystone into {where} failed ({detail}); check the "
                            "network connection to PyPI, then run `make keystone` again")
    (where / STAMP).write_text(_fingerprint() + "\n")
    say(f"Keystone is installed in {where}")


def main() -> None:
    """``make keystone``: create or update the virtualenv, or say it is ready."""
    try:
        where = location()
        if ready(where):
            print(f"Keystone's virtualenv is ready: {where}")
        else:
            ensure(where)
    except FirstappError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
