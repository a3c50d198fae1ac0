"""Under the hood on Ceph: where a local Ceph keeps the three copies of an object, and what
happens when one, then two, of its three OSDs go down.

This sample stops OSDs of YOUR LOCAL CEPH CLOUD on purpose and starts them again. Run it
only against a local Ceph that you own (``firstapp cloud start --backend ceph``):
``python samples/under-the-hood-ceph/durability.py`` after ``eval "$(firstapp cloud env)"``.

It reads FIRSTAPP_CLOUD_DIR, the cloud's data directory (default: the per-user one), and
signs in with that cloud's own credentials: it only talks to the cloud whose files it
can reach.
"""

# step-1
import os

cloud_dir: str = os.environ.get("FIRSTAPP_CLOUD_DIR", "")  # empty: the per-user default cloud

container_name: str = "under-the-hood-ceph"
object_count: int = 36
object_size: int = 16 * 1024
client_timeout: int = 10  # seconds a request may wait for an answer

# step-1-connect
from swiftclient import client as swift

from firstapp.cloud import backends, ceph

if backends.of(cloud_dir or None) != "ceph":
    raise SystemExit("This page looks inside a local Ceph cloud, and the cloud in "
                     "FIRSTAPP_CLOUD_DIR is not one: start one with `firstapp cloud start "
                     "--backend ceph --data-dir DIR` and set cloud_dir in step 1 to DIR")
cloud = ceph.info(cloud_dir or None)
if not cloud.running:
    raise SystemExit(f"The local cloud in {cloud.layout.root} is not running: start it with "
                     f"`firstapp cloud start --data-dir {cloud.layout.root}`")
down = [name for name in ceph.daemons(cloud.settings) if name not in cloud.pids]
if down:  # left down by an interrupted earlier run
    cloud, _ = ceph.start(cloud.layout.root)
    print("Started again what was down:", ", ".join(down))


def ceph_cli(*args):
    """``ceph ARGS --format json`` on this cloud: its ceph.conf names the monitor and keys."""
    return ceph.ceph_json(cloud.layout, *args)


def osds():
    """Each OSD and whether the monitor counts it up, as `ceph osd tree` shows them."""
    tree = ceph_cli("osd", "tree")
    return {n["name"]: n["status"] for n in tree["nodes"] if n["type"] == "osd"}


# retries=0: every failure shows up here; timeout: no request waits longer than this
conn = swift.Connection(authurl=cloud.auth_url, user=cloud.username, key=cloud.password,
                        auth_version="1.0", retries=0, timeout=client_timeout)
storage_url, _ = conn.get_auth()
print(f"Connected to {storage_url}")
print("The cluster's OSDs:", ", ".join(f"{n} ({s})" for n, s in sorted(osds().items())))

# step-2
import hashlib
import random

# This page's objects are called object-NN and written-...; anything else in the container
# belongs to someone else, and the clean-up at the end must not delete it.
try:
    _, listing = conn.get_container(container_name, full_listing=True)
except swift.ClientException as exc:
    if exc.http_status != 404:
        raise
    listing = []
others = [entry["name"] for entry in listing
          if not entry["name"].startswith(("object-", "written-"))]
if others:
    raise SystemExit(f"The container {container_name!r} holds {len(others)} object(s) that "
                     "this page did not store: set container_name in step 1 to another name")
conn.put_container(container_name)
md5s = {}  # object name -> md5 of what we stored: our own record, kept outside the store
for index in range(object_count):
    name = f"object-{index:02d}"
    data = random.Random(name).randbytes(object_size)  # the same bytes on every run
    etag = conn.put_object(container_name, name, data)
    md5s[name] = hashlib.md5(data).hexdigest()
    assert etag == md5s[name]
print(f"Stored {len(md5s)} objects of {object_size} bytes in {container_name!r}")

# step-3
POOL = "default.rgw.buckets.data"  # where the gateway keeps objects' bytes
pool = next(p for p in ceph_cli("osd", "pool", "ls", "detail") if p["pool_name"] == POOL)
print(f"Pool {POOL}: {pool['size']} copies of everything, "
      f"in {pool['pg_num']} placement groups; I/O needs {pool['min_size']} (min_size)")

watched = "object-00"
# the gateway stores a Swift object as the RADOS object <bucket marker>_<object name>
rados_name = next(n for n in ceph.rados(cloud.layout, "-p", POOL, "ls").decode().split()
                  if n.endswith(f"_{watched}"))
where = ceph_cli("osd", "map", POOL, rados_name)
print(f"{watched} is the RADOS object {rados_name}")
print(f"CRUSH maps it to placement group {where['pgid']}, held by "
      f"{len(where['acting'])} OSDs: " + ", ".join(f"osd.{i}" for i in sorted(where["acting"])))
stored = ceph.rados(cloud.layout, "-p", POOL, "get", rados_name, "-")
print(f"Its bytes in RADOS: {len(stored)}, md5 "
      f"{'matches' if hashlib.md5(stored).hexdigest() == md5s[watched] else 'DIFFERS from'} "
      "what we stored")

# step-4
import time
from collections import Counter

import matplotlib.pyplot as plt

STATES = {"active+clean": "tab:green", "active, fewer copies": "tab:orange",
          "inactive: no I/O": "tab:red"}


def kind(state):
    """A placement group's state, in one of three words: how I/O to it fares."""
    if state == "active+clean":
        return "active+clean"
    return "active, fewer copies" if state.startswith("active") else "inactive: no I/O"


def settled(states):
    """No placement group is between two states (peering, recovering, ...)."""
    busy = ("peering", "activating", "recover", "backfill", "unknown", "wait")
    return states and not any(word in s for s in states.values() for word in busy)


def health():
    """`ceph health`: the status and each check's summary, less MGR_DOWN: the local cloud
    runs no manager daemon (ceph-mgr), on purpose, and says so after two minutes."""
    report = ceph_cli("health")
    checks = {key: check for key, check in report.get("checks", {}).items()
              if key != "MGR_DOWN"}
    order = ["HEALTH_OK", "HEALTH_WARN", "HEALTH_ERR"]
    status = max((check["severity"] for check in checks.values()), key=order.index,
                 default="HEALTH_OK")
    named = [f"{key} ({check['summary']['message']})" for key, check in sorted(checks.items())]
    return ": ".join([status, ", ".join(named)] if named else [status])


snapshots = []  # (title, Counter of kinds), one per census


def census(title, timeout=60):
    """Wait until the data pool's placement groups settle; count them by kind, print, keep."""
    deadline = time.monotonic() + timeout
    while not settled(states := ceph.pg_states(cloud.layout, cloud.settings,
                                               pool["pool_id"])):
        if time.monotonic() > deadline:
            raise RuntimeError(f"placement groups still changing after {timeout} s")
        time.sleep(0.5)
    counts = Counter(kind(s) for s in states.values())
    snapshots.append((title, counts))
    up = sum(status == "up" for status in osds().values())
    print(f"{title}: {up} of 3 OSDs up; {health()}")
    print(f"  placement groups of {POOL}: "
          + ", ".join(f"{counts[k]} {k}" for k in STATES if counts[k]))


def draw(shown):
    """One bar per census: the data pool's placement groups, stacked by kind."""
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    bottom = [0] * len(shown)
    titles = [title for title, _ in shown]
    for state, colour in STATES.items():
        heights = [counts[state] for _, counts in shown]
        ax.bar(titles, heights, bottom=bottom, color=colour, label=state)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_ylabel("placement groups")
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(STATES),
              frameon=False)
    fig.tight_layout()
    plt.close(fig)  # shown once, by the expression that ends the step, not twice
    return fig


census("as stored")
draw(snapshots)

# step-5
import requests

ceph.take_down(cloud.layout.root, "osd.2")
census("osd.2 down")
where = ceph_cli("osd", "map", POOL, rados_name)
print(f"{watched}'s placement group is now held by "
      + ", ".join(f"osd.{i}" for i in sorted(where["acting"])))


def read_verified(name):
    """GET ``name``; its body, if its md5 equals both the ETag and our own record."""
    headers, body = conn.get_object(container_name, name)
    digest = hashlib.md5(body).hexdigest()
    if not digest == headers["etag"] == md5s[name]:
        raise RuntimeError(f"{name}: wrong bytes (md5 {digest})")
    return body


right = sum(1 for name in md5s if read_verified(name))
print(f"Read back {right} of {len(md5s)} objects with the right md5")
for index in range(6):
    name = f"written-while-osd.2-was-down-{index}"
    data = random.Random(name).randbytes(object_size)
    response = {}
    conn.put_object(container_name, name, data, response_dict=response)
    md5s[name] = hashlib.md5(data).hexdigest()
    print(f"PUT {name}: {response['status']} {response['reason']}")

# step-6
cloud, _ = ceph.start(cloud.layout.root)  # starts what is not running: osd.2
report = ceph.repair(cloud.layout.root)  # waits for Ceph's own recovery
print(f"osd.2 is back. {report.summary()}")
census("osd.2 back")
where = ceph_cli("osd", "map", POOL, rados_name)
print(f"{watched}'s placement group is held by "
      + ", ".join(f"osd.{i}" for i in sorted(where["acting"])) + " again")

# step-7
ceph.take_down(cloud.layout.root, "osd.1")
ceph.take_down(cloud.layout.root, "osd.2")
census("osd.1 and osd.2 down")
for method, name in (("GET", "object-00"), ("PUT", "written-with-one-osd-left")):
    try:
        if method == "GET":
            read_verified(name)
        else:
            data = random.Random(name).randbytes(object_size)
            conn.put_object(container_name, name, data)
            md5s[name] = hashlib.md5(data).hexdigest()
        print(f"{method} {name}: answered")
    except (swift.ClientException, requests.RequestException) as exc:
        print(f"{method} {name}: no answer within {client_timeout} s "
              f"({type(exc).__name__})")

# step-8
cloud, _ = ceph.start(cloud.layout.root)  # starts osd.1 and osd.2
report = ceph.repair(cloud.layout.root)
print(f"osd.1 and osd.2 are back. {report.summary()}")
census("all back")
print(f"GET {watched}: {len(read_verified(watched))} bytes, right md5")
name = "written-with-one-osd-left"
try:
    headers = conn.head_object(container_name, name)
    data = random.Random(name).randbytes(object_size)
    md5s[name] = hashlib.md5(data).hexdigest()
    print(f"HEAD {name}: it exists (ETag {'as sent' if headers['etag'] == md5s[name] else '?'})"
          ": the gateway finished the PUT once the OSDs returned")
except swift.ClientException as exc:
    print(f"HEAD {name}: {exc.http_status}: the PUT was not stored")

# step-9
draw(snapshots)

# step-10
for name in md5s:
    conn.delete_object(container_name, name)
conn.delete_container(container_name)
print(f"Deleted {len(md5s)} objects and the container {container_name!r}")

# step-15
