"""Under the hood: watch the local cloud keep three copies of everything, and break it.

This sample takes devices of YOUR LOCAL CLOUD offline and damages files on its disks, on
purpose, then lets Swift repair them. Run it only against a local cloud that you own:
``python samples/under-the-hood/durability.py`` after ``eval "$(firstapp cloud env)"``.

It reads OS_AUTH_URL, OS_USERNAME and OS_PASSWORD (default: the local cloud's own) and
FIRSTAPP_CLOUD_DIR, the cloud's data directory (default: the per-user one), and refuses to
run when the two do not name the same cloud.
"""

# step-1
import os

auth_url: str = os.environ.get("OS_AUTH_URL", "")  # empty: the local cloud's own
username: str = os.environ.get("OS_USERNAME", "")
password: str = os.environ.get("OS_PASSWORD", "")
cloud_dir: str = os.environ.get("FIRSTAPP_CLOUD_DIR", "")  # empty: the per-user default cloud

container_name: str = "under-the-hood"
object_count: int = 36
object_size: int = 16 * 1024

# step-1-connect
from swiftclient import client as swift

from firstapp.cloud import backends, control, faults, placement

if backends.of(cloud_dir or None) == "ceph":
    raise SystemExit("The local cloud in FIRSTAPP_CLOUD_DIR is a Ceph cloud: this page looks "
                     "inside Swift's devices (notebooks/durability-under-the-hood-ceph.ipynb "
                     "is Ceph's). Set cloud_dir in step 1 to a Swift cloud's data directory "
                     "(`firstapp cloud start --backend swift --data-dir DIR`)")
cloud = control.info(cloud_dir or None)
if not cloud.running:
    raise SystemExit(f"The local cloud in {cloud.layout.root} is not running: start it with "
                     "`firstapp cloud start`")
if auth_url and auth_url != cloud.auth_url:
    raise SystemExit(f"OS_AUTH_URL is {auth_url}, but the cloud in {cloud.layout.root} answers "
                     f"at {cloud.auth_url}. This sample breaks a cloud on purpose, so it only "
                     "talks to the one whose files it can reach: set FIRSTAPP_CLOUD_DIR (or "
                     'run eval "$(firstapp cloud env)" again)')
returned = faults.bring_all_back(cloud.layout)  # left offline by an interrupted earlier run
if returned:
    print("Brought back devices left offline earlier:", ", ".join(returned))

# retries=0: every failure shows up here, none is quietly retried away
conn = swift.Connection(authurl=cloud.auth_url, user=username or cloud.username,
                        key=password or cloud.password, auth_version="1.0", retries=0)
storage_url, _ = conn.get_auth()
account = placement.account_of(storage_url)
devices = cloud.layout.device_names()
print(f"Connected to {storage_url}")
print(f"The cloud's data directory holds {len(devices)} devices: {', '.join(devices)}")

# step-2
import hashlib
import random

# This page's objects are called object-NN and written-...; anything else in the container
# belongs to someone else, and the clean-up of step 14 must not delete it.
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
name = "object-00"
copies = placement.replicas(cloud.layout, account, container_name, name)
print(f"{name} hashes to ring partition {copies[0].partition} of 256; "
      f"the ring maps that partition to {len(copies)} devices:")
print(f"{'device':<8}{'zone':<6}{'md5 ok':<8}file, in the cloud's data directory")
for copy in sorted(copies, key=lambda c: c.device):
    ok = hashlib.md5(copy.data_file.read_bytes()).hexdigest() == md5s[name]
    print(f"{copy.device:<8}{copy.zone:<6}{'yes' if ok else 'NO':<8}"
          f"{copy.data_file.relative_to(cloud.layout.root)}")

# step-4
from collections import Counter

import matplotlib.pyplot as plt

STATES = {"good": "tab:green", "damaged": "tab:red", "missing": "lightgray",
          "offline": "dimgray"}


def copy_states(name):
    """Each device's copy of ``name``: good, damaged, missing or offline."""
    states = {}
    for copy in placement.replicas(cloud.layout, account, container_name, name):
        if copy.device in faults.offline_devices(cloud.layout):
            states[copy.device] = "offline"
        elif not copy.present:
            states[copy.device] = "missing"
        elif hashlib.md5(copy.data_file.read_bytes()).hexdigest() == md5s[name]:
            states[copy.device] = "good"
        else:
            states[copy.device] = "damaged"
    return states


snapshots = []  # (title, {device: Counter of states}), one per census


def census(title):
    """Count every object's copies on disk, by device and state; print and remember it."""
    table = {device: Counter() for device in devices}
    for name in md5s:
        for device, state in copy_states(name).items():
            table[device][state] += 1
    snapshots.append((title, table))
    print(f"{title}: copies of our {len(md5s)} objects, by device")
    for device in devices:
        print(f"  {device}: " + ", ".join(f"{table[device][s]} {s}" for s in STATES
                                           if table[device][s]))
    good = sum(1 for name in md5s if list(copy_states(name).values()).count("good") == 3)
    print(f"  objects with 3 good copies: {good} of {len(md5s)}")


def draw(shown, columns=5):
    """A bar chart per census: each device's copies, stacked by state."""
    rows = -(-len(shown) // columns)
    width = min(len(shown), columns)
    fig, axes = plt.subplots(rows, width, figsize=(max(4.8, 2.2 * width + 0.6), 2.9 * rows + 0.4),
                             sharey=True, squeeze=False)
    for ax in axes.flat[len(shown):]:
        ax.set_visible(False)
    for ax, (title, table) in zip(axes.flat[:len(shown)], shown, strict=True):
        bottom = [0] * len(devices)
        for state, colour in STATES.items():
            heights = [table[device][state] for device in devices]
            ax.bar(devices, heights, bottom=bottom, color=colour, label=state)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.set_title(title, fontsize=9)
    for row in axes:
        row[0].set_ylabel("copies")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(STATES), frameon=False)
    fig.tight_layout(rect=(0, 0.35 / (2.9 * rows + 0.4), 1, 1))
    plt.close(fig)  # shown once, by the expression that ends the step, not twice
    return fig


census("as stored")
draw(snapshots)

# step-5
import json

import requests

faults.take_offline(cloud.layout, "d1")
copy = placement.replicas(cloud.layout, account, container_name, "object-00")[0]
object_port = json.loads(cloud.layout.ports_file.read_text())["object"]
answer = requests.head(f"http://127.0.0.1:{object_port}/d1/{copy.partition}/{account}/"
                       f"{container_name}/object-00")
print(f"d1 is offline; its object server answers for it: {answer.status_code} {answer.reason}")


def read_verified(name, rejected=None, attempts=3):
    """GET ``name`` through the proxy; accept the body only if its md5 equals the ETag."""
    for _ in range(attempts):
        response = {}
        headers, body = conn.get_object(container_name, name, response_dict=response)
        if hashlib.md5(body).hexdigest() == headers["etag"]:
            return body
        if rejected is not None:
            rejected.append((name, response["status"], headers["etag"],
                             hashlib.md5(body).hexdigest()))
    raise RuntimeError(f"{attempts} reads of {name!r} returned bytes that fail the ETag check")


right = sum(hashlib.md5(read_verified(name)).hexdigest() == md5s[name] for name in md5s)
print(f"Read back {right} of {len(md5s)} objects with the right md5")
for index in range(6):
    name = f"written-while-d1-was-away-{index}"
    data = random.Random(name).randbytes(object_size)
    response = {}
    conn.put_object(container_name, name, data, response_dict=response)
    md5s[name] = hashlib.md5(data).hexdigest()
    print(f"PUT {name}: {response['status']} {response['reason']}")
census("d1 offline")

# step-6
from firstapp.cloud.repair import repair

faults.bring_back(cloud.layout, "d1")
census("d1 back, before repair")
report = repair(cloud.layout.root, timeout=300)
print(f"Repair: {report['replication_failures']} replication failures")
census("d1 back, after repair")

# step-7
damaged = {"d2": ["object-00", "object-01", "object-02"],
           "d3": ["object-03", "object-04", "object-05"]}
for device, names in damaged.items():
    for name in names:
        copy = next(c for c in placement.replicas(cloud.layout, account, container_name, name)
                    if c.device == device)
        offset = faults.corrupt(copy.data_file)
        where = copy.data_file.relative_to(cloud.layout.root)
        print(f"Flipped 8 bytes at offset {offset} of {where}")
census("bit rot")

# step-8
rejected = []
reads = 0
for name in damaged["d2"]:
    for _ in range(30):
        body = read_verified(name, rejected)
        reads += 1
        assert hashlib.md5(body).hexdigest() == md5s[name]
for name, status, etag, body_md5 in rejected:
    print(f"Rejected {name}: status {status}, ETag {etag}, md5 of the body {body_md5}")
print(f"{reads} verified reads of {len(damaged['d2'])} objects: every accepted body was right; "
      f"{len(rejected)} damaged responses were rejected and read again")
quarantine = cloud.layout.devices / "d2" / "quarantined" / "objects"
for name in damaged["d2"]:
    copy = next(c for c in placement.replicas(cloud.layout, account, container_name, name)
                if c.device == "d2")
    where = quarantine / copy.directory.name
    print(f"{name} on d2: {'in quarantine' if where.is_dir() else 'still in place'}")
census("after reading the d2 ones")

# step-9
report = repair(cloud.layout.root, timeout=300)
print(f"Repair: the auditor quarantined {report['objects_quarantined']} damaged copies; "
      f"{report['replication_failures']} replication failures")
census("after repair")

# step-10
faults.take_offline(cloud.layout, "d1")
faults.take_offline(cloud.layout, "d2")
right = sum(hashlib.md5(read_verified(name)).hexdigest() == md5s[name] for name in md5s)
print(f"d1 and d2 are offline. Read back {right} of {len(md5s)} objects with the right md5")
census("d1 and d2 offline")

# step-11
name = "written-with-one-device-left"
data = random.Random(name).randbytes(object_size)
try:
    conn.put_object(container_name, name, data)
    print(f"PUT {name}: stored")
except swift.ClientException as exc:
    print(f"PUT {name}: {exc.http_status} {exc.http_reason}")
    log = cloud.layout.log_file.read_text(errors="replace").splitlines()
    for line in log:
        if exc.transaction_id in line:
            print("The proxy's log says:", line)
left = [c for c in placement.replicas(cloud.layout, account, container_name, name) if c.present]
print(f"Copies of {name} on disk: {len(left)}")

# step-12
back = faults.bring_all_back(cloud.layout)
print("Brought back:", ", ".join(back))
control.stop(cloud.layout.root)  # the proxy forgets that d1 and d2 failed (see the text)
cloud, _ = control.start(cloud.layout.root)
response = {}
conn.put_object(container_name, name, data, response_dict=response)
md5s[name] = hashlib.md5(data).hexdigest()
print(f"PUT {name}: {response['status']} {response['reason']}")
report = repair(cloud.layout.root, timeout=300)
print(f"Repair: {report['replication_failures']} replication failures")
census("all back, after repair")

# step-13
draw(snapshots)

# step-14
for name in md5s:
    conn.delete_object(container_name, name)
conn.delete_container(container_name)
print(f"Deleted {len(md5s)} objects and the container {container_name!r}")

# step-15
