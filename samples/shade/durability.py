"""Making it durable with shade: store, check and back up objects in Swift. Run it as
``python samples/shade/durability.py`` from any directory. With OS_CLOUD set it connects
to that entry of your clouds.yaml; otherwise it reads the standard variables OS_AUTH_URL,
OS_AUTH_TYPE (``v1password`` for Swift's own auth, ``password`` for Keystone v3),
OS_USERNAME, OS_PASSWORD and, for Keystone, OS_PROJECT_NAME, OS_USER_DOMAIN_NAME,
OS_PROJECT_DOMAIN_NAME and OS_REGION_NAME (for the local cloud,
``eval "$(firstapp cloud env)"`` sets both kinds). Step 11 reads the Fractals app at
FRACTALS_ENDPOINT; LARGE_OBJECT_SIZE and SEGMENT_SIZE (bytes) size the step-14 upload.
"""

# step-1
import os
from pathlib import Path

cloud_name = os.environ.get("OS_CLOUD")  # when set, the settings come from clouds.yaml
auth_url = os.environ.get("OS_AUTH_URL", "http://127.0.0.1:8080/auth/v1.0")
auth_type = os.environ.get("OS_AUTH_TYPE", "v1password")  # "password" means Keystone v3
username = os.environ.get("OS_USERNAME", "tutorial:learner")
password = os.environ.get("OS_PASSWORD", "")
project_name = os.environ.get("OS_PROJECT_NAME")
user_domain_name = os.environ.get("OS_USER_DOMAIN_NAME", "Default")
project_domain_name = os.environ.get("OS_PROJECT_DOMAIN_NAME", "Default")
region_name = os.environ.get("OS_REGION_NAME")
fractals_endpoint = os.environ.get("FRACTALS_ENDPOINT", "http://127.0.0.1:8081")

container_name = "fractals"
object_name = "an amazing goat"
tutorial_dir = Path(__file__).parent.parent if "__file__" in globals() else Path("../samples")
goat_path = tutorial_dir / "goat.jpg"
large_object_size = int(os.environ.get("LARGE_OBJECT_SIZE", 64 * 1024 * 1024))
segment_size = int(os.environ.get("SEGMENT_SIZE", 16 * 1024 * 1024))

# step-1-connect
import shade
from keystoneauth1.exceptions import ConnectFailure, Unauthorized

if not cloud_name and not password:
    raise SystemExit("Neither OS_CLOUD nor OS_PASSWORD is set: export your object store's "
                     'credentials first (for the local cloud: eval "$(firstapp cloud env)")')

try:
    if cloud_name:
        conn = shade.openstack_cloud(cloud=cloud_name)
    else:
        # v1password (Swift's own auth) is a plugin that python-swiftclient installs
        auth = {"auth_url": auth_url, "username": username, "password": password}
        if auth_type == "password":
            auth.update(project_name=project_name, user_domain_name=user_domain_name,
                        project_domain_name=project_domain_name)
        conn = shade.openstack_cloud(auth_type=auth_type, auth=auth, region_name=region_name)
    # one cheap authenticated call, so that a wrong password or a stopped store shows here
    containers = conn.list_containers()
except Unauthorized:
    raise SystemExit(f"The object store refused the login of cloud {cloud_name!r}: check "
                     "its user name and password in clouds.yaml" if cloud_name else
                     f"The object store at {auth_url} refused user {username!r}: check "
                     "OS_USERNAME and OS_PASSWORD") from None
except ConnectFailure:
    raise SystemExit(f"Nothing answers at {conn.auth['auth_url']}: is the object store "
                     "running? (for the local cloud: firstapp cloud start)") from None
print(f"Connected to {conn.auth['auth_url']} as {conn.auth['username']}; "
      f"containers in the account: {len(containers)}")

# step-2
container = conn.create_container(container_name)
print(f"Container {container_name!r}: {container['X-Container-Object-Count']} objects")

# step-3
containers = conn.list_containers()
print([entry["name"] for entry in containers])

# step-4
from urllib.parse import quote

# shade 1.33's create_object sends a small file in text mode, so a binary file such as
# this JPEG fails with UnicodeDecodeError. Upload it with shade's authenticated session
# instead: one PUT to <storage URL>/<container>/<object>.
storage_url = conn.get_session_endpoint("object-store")
with open(goat_path, "rb") as goat:
    reply = conn.keystone_session.put(f"{storage_url}/{quote(container_name)}/"
                                      f"{quote(object_name)}", data=goat)
print(f"Uploaded {goat_path.name} as {object_name!r}: {reply.status_code}, "
      f"ETag {reply.headers['ETag']}")

# step-5
objects = conn.list_objects(container_name)
print([(entry["name"], entry["bytes"], entry["hash"]) for entry in objects])

# step-6
import io

from PIL import Image

# shade's get_object returns the body decoded as text, which garbles binary data; with
# outfile= it writes the bytes to a file (or a file-like object such as this buffer).
buffer = io.BytesIO()
headers, _ = conn.get_object(container_name, object_name, outfile=buffer,
                             resp_chunk_size=64 * 1024)
downloaded = buffer.getvalue()
print(f"Downloaded {len(downloaded)} bytes of {object_name!r}")
Image.open(io.BytesIO(downloaded))  # in a notebook, the last line shows the picture

# step-7
import hashlib

downloaded_md5 = hashlib.md5(downloaded).hexdigest()
local_md5 = hashlib.md5(goat_path.read_bytes()).hexdigest()
print("md5 of the downloaded bytes:", downloaded_md5)
print("ETag the store returned:    ", headers["etag"])
print("md5 of the local goat.jpg:  ", local_md5)
assert downloaded_md5 == headers["etag"] == local_md5, "the stored object differs from goat.jpg"

# step-8
deleted = conn.delete_object(container_name, object_name)
print(f"Deleted {object_name!r}: {deleted}")

# step-9
objects = conn.list_objects(container_name)
print(objects)

# step-10
# skip_cache=True asks the store: shade's memory of containers can be out of date
container = conn.get_container(container_name, skip_cache=True)
if container is None:
    raise SystemExit(f"There is no container {container_name!r} in this account: run step 2 "
                     "first, it creates the container")
print(f"Container {container_name!r}: {container['X-Container-Object-Count']} objects")

# step-11
import requests
from tqdm import tqdm

# The API lists the fractals a page at a time: follow the pages up to total_pages.
# Fractals the app is still drawing have no image yet; the next backup will get them.
fractals = []
page = 1
while True:
    try:
        reply = requests.get(f"{fractals_endpoint}/v1/fractal",
                             params={"page": page, "results_per_page": 10}, timeout=30)
    except requests.ConnectionError:
        raise SystemExit(f"Nothing answers at {fractals_endpoint}: is the Fractals app running? "
                         "(set FRACTALS_ENDPOINT; for the local app: "
                         "firstapp fractals serve --background)") from None
    reply.raise_for_status()
    listing = reply.json()
    fractals += [fractal for fractal in listing["objects"] if fractal["status"] == "ready"]
    if page >= listing["total_pages"]:
        break
    page += 1
print(f"The Fractals app lists {listing['num_results']} fractals on {listing['total_pages']} "
      f"pages; {len(fractals)} are ready to back up")

for fractal in tqdm(fractals, desc="backing up", unit="fractal"):
    # stream each image from the app straight into the store, 64 KiB at a time
    # (shade has no upload from a stream, so this is a PUT with its session, as in step 4)
    with requests.get(f"{fractals_endpoint}/fractal/{fractal['uuid']}",
                      stream=True, timeout=30) as image:
        image.raise_for_status()
        conn.keystone_session.put(f"{storage_url}/{quote(container_name)}/{fractal['uuid']}",
                                  data=image.iter_content(64 * 1024),
                                  headers={"Content-Type": "image/png"})
    # read the copy back from the store and compare it with the app's own checksum
    buffer = io.BytesIO()
    conn.get_object(container_name, fractal["uuid"], outfile=buffer, resp_chunk_size=64 * 1024)
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    assert digest == fractal["checksum"], f"{fractal['uuid']} was not stored intact"
print(f"Backed up {len(fractals)} fractals; every copy matches the app's sha256 checksum")
Image.open(io.BytesIO(buffer.getvalue()))  # the last one, as the store returned it

# step-12
for entry in conn.list_objects(container_name):
    conn.delete_object(container_name, entry["name"])
conn.delete_container(container_name)
print(f"Deleted every object in {container_name!r}, then the container itself")

# step-13
from datetime import datetime

# Step 12 deleted the container: create it again before uploading into it. Not with
# create_container: shade 1.33 still remembers the deleted container and would return that
# memory without creating anything. A PUT with its session creates it.
conn.keystone_session.put(f"{storage_url}/{quote(container_name)}")
metadata = {"description": "a goat, uploaded from a stream",
            "created": datetime.now().astimezone().isoformat(timespec="seconds")}
# Metadata travels as X-Object-Meta-<name> headers. The open file is sent as it is read,
# never held in memory as a whole.
with open(goat_path, "rb") as stream:
    conn.keystone_session.put(f"{storage_url}/{quote(container_name)}/{quote(object_name)}",
                              data=stream, headers={f"X-Object-Meta-{key}": value
                                                    for key, value in metadata.items()})
headers = conn.get_object_metadata(container_name, object_name)
print({key: value for key, value in headers.items() if key.startswith("X-Object-Meta-")})

# step-14
import tempfile

from tqdm import tqdm

# A name without spaces: shade 1.33 would percent-encode the segment names of
# "a large object" ("a%20large%20object/000000").
large_name = "large-object.bin"
with tempfile.TemporaryDirectory() as scratch:
    large_path = Path(scratch) / "large.bin"
    local_md5 = hashlib.md5()
    with open(large_path, "wb") as large_file:
        for offset in range(0, large_object_size, 1024 * 1024):
            block = os.urandom(min(1024 * 1024, large_object_size - offset))
            large_file.write(block)
            local_md5.update(block)

    # A file bigger than segment_size goes up as segments "<name>/000000", "<name>/000001",
    # ... and then a manifest that lists them: a Static Large Object (SLO).
    conn.create_object(container_name, large_name, filename=str(large_path),
                       segment_size=segment_size)
    segments = [entry["name"] for entry in conn.list_objects(container_name)
                if entry["name"].startswith(f"{large_name}/")]
    print(f"Uploaded {large_object_size} bytes as {len(segments)} segments and a manifest")

    # Downloading the manifest returns all segments joined together. Not with get_object:
    # shade 1.33 reads the whole object into memory, even with outfile=. Stream it with
    # shade's session (as in step 4), a chunk at a time.
    download_md5 = hashlib.md5()
    with conn.keystone_session.get(f"{storage_url}/{quote(container_name)}/{quote(large_name)}",
                                   stream=True) as reply, \
            tqdm(total=large_object_size, desc="downloading", unit="B", unit_scale=True) as bar:
        for chunk in reply.iter_content(chunk_size=1024 * 1024):
            download_md5.update(chunk)
            bar.update(len(chunk))
    print("md5 of the local file:", local_md5.hexdigest())
    print("md5 of the download:  ", download_md5.hexdigest())
    assert download_md5.hexdigest() == local_md5.hexdigest(), "the large object came back wrong"

    # delete_object sees the X-Static-Large-Object header and deletes with
    # ?multipart-manifest=delete: Swift then removes the manifest and all its segments.
    conn.delete_object(container_name, large_name)
print("Left in the container:", [entry["name"] for entry in conn.list_objects(container_name)])
conn.delete_object(container_name, object_name)  # the goat of step 13
conn.delete_container(container_name)
print(f"Deleted {object_name!r} and the container {container_name!r}: nothing is left behind")

# step-15
