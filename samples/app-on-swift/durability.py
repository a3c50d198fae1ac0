"""The Fractals app keeps its images in Swift: start it on a container, ask it for a few
fractals, and compare what the container holds with what the app's API says.

Run it after ``eval "$(firstapp cloud env)"`` (the app signs in with those OS_* settings):
``python samples/app-on-swift/durability.py``. It starts its own app, on a temporary
database, and deletes its container at the end.
"""

# step-1
container_name: str = "app-on-swift-tutorial"  # the app's image container
fractal_count: int = 4
fractal_seed: int = 2015
fractal_size: int = 128  # pixels a side

# step-2
import tempfile
from pathlib import Path

from swiftclient import client as swift

from firstapp.fractals.db import resolve_db_url
from firstapp.fractals.server import ThreadedServer
from firstapp.fractals.transfer import connector_from_env

conn = connector_from_env(timeout=30)()  # python-swiftclient, signed in from OS_*
try:  # this page deletes what it stores at the end: never a container holding other data
    if conn.get_container(container_name)[1]:
        raise SystemExit(f"The container {container_name!r} is not empty: set "
                         "container_name in step 1 to another name")
except swift.ClientException as exc:
    if exc.http_status != 404:
        raise
workdir = tempfile.TemporaryDirectory(prefix="app-on-swift-")
# what `firstapp fractals serve --image-store swift://CONTAINER` starts, in this process
app = ThreadedServer(resolve_db_url(Path(workdir.name) / "fractals.db"),
                     image_store=f"swift://{container_name}")
endpoint = app.endpoint
print(f"The app keeps its records in a new database (fractals.db in a temporary "
      f"directory) and its images in swift://{container_name}")

# step-3
from firstapp.fractals import client
from firstapp.fractals.seed import seeded_fractals

# the same uuids and parameters on every run, so the same images and checksums
wanted = seeded_fractals(fractal_count, fractal_seed, width=fractal_size,
                         height=fractal_size)
for uuid, params in wanted:
    client.create_fractal(endpoint, params, uuid=uuid)
records = client.wait_until_rendered(endpoint, [uuid for uuid, _ in wanted], timeout=120)
for record in records:
    print(f"{record['uuid']}  {record['status']:7}  {record['size']:6} bytes  "
          f"sha256 {record['checksum'][:16]}...")

# step-4
import requests

where = requests.get(f"{endpoint}/v1/image-store", timeout=10).json()
print("GET /v1/image-store:", where)

_, objects = conn.get_container(container_name)
api = {record["uuid"]: record for record in client.list_fractals(endpoint)}
print(f"\n{'object in ' + container_name:38}  {'bytes':>6}  {'API size':>8}  "
      "checksum metadata = API checksum")
for obj in objects:
    headers = conn.head_object(container_name, obj["name"])
    record = api[obj["name"]]
    same = headers["x-object-meta-checksum"] == record["checksum"]
    print(f"{obj['name']:38}  {obj['bytes']:6}  {record['size']:8}  {same}")
print(f"\n{len(objects)} objects in the container, {len(api)} fractals in the API")

# step-5
import hashlib

from IPython.display import Image

first = records[0]["uuid"]
served = requests.get(f"{endpoint}/fractal/{first}", timeout=30)
_, stored = conn.get_object(container_name, first)
print("served by the app:", served.status_code, served.headers["Content-Type"],
      served.headers["ETag"][:18] + '..."')
print("same bytes as the object:", served.content == stored)
print("SHA-256 is the record's checksum:",
      hashlib.sha256(served.content).hexdigest() == records[0]["checksum"])
Image(data=served.content)  # a notebook shows the picture here

# step-6
app.stop()
for uuid, _ in wanted:  # only what this page stored
    conn.delete_object(container_name, uuid)
conn.delete_container(container_name)
conn.close()
workdir.cleanup()
print(f"Stopped the app, deleted the container {container_name!r} and the database")

# step-15
