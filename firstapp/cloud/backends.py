"""Which store a local cloud runs: OpenStack Swift (``control``) or Ceph (``ceph``).

``FIRSTAPP_BACKEND`` (``swift`` or ``ceph``) picks the store for new clouds; an existing
data directory keeps the store it was created with (Ceph's ``settings.json`` says
``"backend": "ceph"``).
"""

from __future__ import annotations

import os

from firstapp.cloud import ceph, control
from firstapp.cloud.layout import Layout
from firstapp.errors import FirstappError

BACKENDS = ("swift", "ceph")
ENV = "FIRSTAPP_BACKEND"
STORE_NAMES = {"swift": "OpenStack Swift", "ceph": "Ceph RADOS Gateway"}


def default() -> str:
    """The backend for new clouds: ``FIRSTAPP_BACKEND``, else swift."""
    value = os.environ.get(ENV, "").strip().lower() or "swift"
    if value not in BACKENDS:
        raise FirstappError(f"{ENV}={os.environ[ENV]!r} is not a backend: use "
                            f"{' or '.join(BACKENDS)}")
    return value


def of(data_dir: str | os.PathLike[str] | None = None) -> str | None:
    """The backend of the cloud in ``data_dir``; None when it holds none."""
    layout = Layout.at(data_dir)
    if ceph.is_ceph(layout):
        return "ceph"
    if control.config.exists(layout):
        return "swift"
    return None


def _module(data_dir, backend: str | None = None):
    existing = of(data_dir)
    chosen = backend or existing or default()
    if existing and chosen != existing:
        raise FirstappError(f"{Layout.at(data_dir).root} holds a {existing} cloud: use "
                            f"--backend {existing}, or another --data-dir for {chosen}")
    return ceph if chosen == "ceph" else control


def store_name(data_dir: str | os.PathLike[str] | None = None) -> str:
    """The store the cloud in ``data_dir`` runs, by name; when ``FIRSTAPP_BACKEND`` asks for
    another, a note that it applies to new clouds only (an existing one keeps its store)."""
    backend = of(data_dir) or default()
    wanted = os.environ.get(ENV, "").strip().lower()
    if wanted in BACKENDS and wanted != backend:
        return (f"{STORE_NAMES[backend]}; {ENV}={wanted} picks the store of new clouds only, "
                f"and {Layout.at(data_dir).root} holds a {backend} cloud: use --data-dir DIR "
                f"for a {wanted} cloud in a new directory")
    return STORE_NAMES[backend]


def start(data_dir: str | os.PathLike[str] | None = None, port: int | None = None,
          devices: int | None = None, replicas: int | None = None,
          backend: str | None = None, auth: str | None = None,
          keystone_port: int | None = None, workers: int | None = None):
    """Start the cloud in ``data_dir`` with its backend (new ones: ``backend`` or the
    default); return it and whether it was started now. ``auth`` and ``keystone_port``
    (Keystone v3 sign-in) and ``workers`` (processes serving Swift) are the Swift
    backend's."""
    module = _module(data_dir, backend)
    if module is ceph:
        if auth not in (None, "v1"):
            raise FirstappError(f"--auth {auth} works with --backend swift only; the Ceph "
                                "backend signs users in with Swift's v1 auth")
        if workers is not None:
            raise FirstappError("--workers works with --backend swift only; the Ceph "
                                "backend runs one RADOS Gateway")
        for name, wanted in (("devices", devices), ("replicas", replicas)):
            if wanted is not None and wanted != 3:
                raise FirstappError(f"the Ceph backend runs 3 OSDs keeping 3 copies: "
                                    f"--{name} {wanted} works with --backend swift only")
        return ceph.start(data_dir, port)
    return control.start(data_dir, port, devices, replicas, auth=auth,
                         keystone_port=keystone_port, workers=workers)


def stop(data_dir: str | os.PathLike[str] | None = None) -> bool:
    """Stop every process of the cloud; False when it was not running."""
    return (ceph if of(data_dir) == "ceph" else control).stop(data_dir)


def info(data_dir: str | os.PathLike[str] | None = None):
    """The cloud in ``data_dir`` (a CloudInfo or CephCloud: same attributes)."""
    return (ceph if of(data_dir) == "ceph" else control).info(data_dir)


def status(data_dir: str | os.PathLike[str] | None = None) -> dict:
    if of(data_dir) == "ceph":
        return ceph.status(data_dir)
    return {"backend": "swift", **control.status(data_dir)}


def repair(data_dir: str | os.PathLike[str] | None = None):
    if of(data_dir) == "ceph":
        return ceph.repair(data_dir)
    from firstapp.cloud.repair import repair as swift_repair

    return swift_repair(data_dir)
