"""Making it durable with the OpenStack SDK: store, check and back up objects in Swift.
Run it as ``python samples/openstacksdk/durability.py`` from any directory. With OS_CLOUD
set it connects to that entry of your clouds.yaml; otherwise it reads the standard
variables of an openrc file: OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and, for Keystone v3,
OS_PROJECT_NAME or OS_PROJECT_ID, OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME or
OS_PROJECT_DOMAIN_ID, OS_REGION_NAME and OS_INTERFACE. OS_AUTH_TYPE is ``password`` for
Keystone v3 (the default for a .../v3 OS_AUTH_URL or OS_IDENTITY_API_VERSION=3) and
``v1password`` for Swift's own auth (for the local cloud, ``eval "$(firstapp cloud env)"``
sets both kinds). Step 11 reads the Fractals app at FRACTALS_ENDPOINT; LARGE_OBJECT_SIZE
and SEGMENT_SIZE (bytes) size the step-14 upload; TUTORIAL_CONTAINER names the container
it works in (it deletes only what it stored there).
"""

# step-1
import os

cloud_name: str = os.environ.get("OS_CLOUD", "")  # when set, settings come from clouds.yaml
auth_url: str = os.environ.get("OS_AUTH_URL", "http://127.0.0.1:8080/auth/v1.0")
# "3" (Keystone v3) for a .../v3 URL; an openrc file from Horizon sets it, not OS_AUTH_TYPE
identity_api_version: str = os.environ.get(
    "OS_IDENTITY_API_VERSION", "3" if auth_url.rstrip("/").endswith("/v3") else "")
auth_type: str = os.environ.get(  # "password": Keystone v3; "v1password": Swift's own auth
    "OS_AUTH_TYPE", "password" if identity_api_version.startswith("3") else "v1password")
username: str = os.environ.get("OS_USERNAME", "tutorial:learner")
password: str = os.environ.get("OS_PASSWORD", "")
# Keystone v3 only: the project (by ID, or by name in its domain), the user's domain, and
# which of the catalog's object-store endpoints to use
project_id: str = os.environ.get("OS_PROJECT_ID", "")
project_name: str = os.environ.get("OS_PROJECT_NAME", "")
project_domain_id: str = os.environ.get("OS_PROJECT_DOMAIN_ID", "")
project_domain_name: str = os.environ.get("OS_PROJECT_DOMAIN_NAME", "Default")
user_domain_name: str = os.environ.get("OS_USER_DOMAIN_NAME", "Default")
region_name: str = os.environ.get("OS_REGION_NAME", "")
interface: str = os.environ.get("OS_INTERFACE", "public")
fractals_endpoint: str = os.environ.get("FRACTALS_ENDPOINT", "http://127.0.0.1:8081")

# the tutorial's own container: it deletes only what it stored there, never anything else
container_name: str = os.environ.get("TUTORIAL_CONTAINER", "making-it-durable-tutorial")
object_name: str = "an amazing goat"
tutorial_dir: str = os.environ.get("TUTORIAL_DIR", "")  # folder of goat.jpg; empty: step 4 finds it
large_object_size: int = int(os.environ.get("LARGE_OBJECT_SIZE", 64 * 1024 * 1024))
segment_size: int = int(os.environ.get("SEGMENT_SIZE", 16 * 1024 * 1024))

# step-1-connect
import logging

import openstack
from keystoneauth1.exceptions import ConnectFailure, NoMatchingPlugin, Unauthorized
from keystoneauth1.identity import Password
from keystoneauth1.session import Session

if not cloud_name and not password:
    raise SystemExit("Neither OS_CLOUD nor OS_PASSWORD is set: export your object store's "
                     'credentials first (for the local cloud: eval "$(firstapp cloud env)")')
source = f"the clouds.yaml entry {cloud_name!r} (OS_CLOUD)" if cloud_name else "the OS_* variables"
# keystoneauth's warnings as it retries stay quiet: this step says what failed, in one line
logging.getLogger("keystoneauth").setLevel(logging.ERROR)

try:
    if cloud_name:
        conn = openstack.connect(cloud=cloud_name)
    elif auth_type == "v1password":  # a plugin that python-swiftclient installs
        conn = openstack.connect(auth_type=auth_type, auth={
            "auth_url": auth_url, "username": username, "password": password})
    else:  # Keystone v3 (settings left empty are left out)
        auth = {"auth_url": auth_url, "username": username, "password": password,
                "user_domain_name": user_domain_name, "project_id": project_id,
                "project_name": project_name, "project_domain_id": project_domain_id,
                "project_domain_name": project_domain_name}
        conn = openstack.connect(auth_type=auth_type, region_name=region_name,
                                 interface=interface,
                                 auth={key: value for key, value in auth.items() if value})
    # sign in, and find the object store's URL in the catalog (for the region and interface)
    storage_url = conn.object_store.get_endpoint()
except openstack.exceptions.ServiceDisabledException:  # none in the catalog for them
    raise SystemExit(f"The catalog at {conn.auth['auth_url']} has no "
                     f"{conn.config.get_interface('object-store')} object store in region "
                     f"{conn.config.get_region_name('object-store')!r}: check OS_REGION_NAME "
                     "and OS_INTERFACE (`openstack catalog show object-store` lists them)"
                     ) from None
except (openstack.exceptions.ConfigException, NoMatchingPlugin) as error:  # bad settings
    raise SystemExit(f"OS_CLOUD={cloud_name}: {error} Check OS_CLOUD and "
                     "OS_CLIENT_CONFIG_FILE, or unset OS_CLOUD to use the OS_* variables"
                     if cloud_name else f"The settings cannot be used: {error} (check "
                     "OS_AUTH_TYPE and OS_AUTH_URL)") from None
except ConnectFailure:
    raise SystemExit(f"Nothing answers at {conn.auth['auth_url']}: is the sign-in (Keystone, "
                     "or the object store itself) running? Check OS_AUTH_URL (for the local "
                     "cloud: firstapp cloud start)") from None
except Unauthorized:
    # Keystone refuses a wrong password and a project the user has no role on alike (401):
    # a sign-in without a project tells which it is (Swift's own auth has no projects).
    signed = {key: value for key, value in conn.auth.items() if key in (
        "auth_url", "username", "password", "user_domain_name", "user_domain_id")}
    try:
        project_refused = (conn.config.config["auth_type"] != "v1password"
                           and bool(Session(auth=Password(**signed), timeout=30).get_token()))
    except Unauthorized:
        project_refused = False
    if not project_refused:
        raise SystemExit(f"The object store refused the login of cloud {cloud_name!r}: check "
                         "its user name and password in clouds.yaml" if cloud_name else
                         f"The sign-in at {auth_url} refused user {username!r}: check "
                         "OS_USERNAME and OS_PASSWORD (and OS_USER_DOMAIN_NAME)") from None
    raise SystemExit(f"Keystone accepted user {signed['username']!r}, but not for project "
                     f"{conn.auth.get('project_name') or conn.auth.get('project_id')!r}: it "
                     "does not exist in that domain or the user has no role on it; check "
                     + ("its project and project domain in clouds.yaml" if cloud_name else
                        "OS_PROJECT_NAME or OS_PROJECT_ID, and OS_PROJECT_DOMAIN_NAME or "
                        "OS_PROJECT_DOMAIN_ID") + " (`openstack project list` lists yours)"
                     ) from None
try:
    # one cheap call to the object store itself
    containers = list(conn.object_store.containers())
except openstack.exceptions.ForbiddenException:
    raise SystemExit(f"The object store at {storage_url} refused project "
                     f"{conn.auth.get('project_name') or conn.auth.get('project_id')!r} (403): "
                     "your user has no role on it that the store accepts (usually 'member'): "
                     "ask your cloud's admin for one") from None
except ConnectFailure:
    raise SystemExit(f"Nothing answers at {storage_url}, the object store's address in the "
                     "catalog: is it running? (check OS_REGION_NAME and OS_INTERFACE)"
                     ) from None
print(f"Connected to {conn.auth['auth_url']} as {conn.auth['username']}, using {source}")
if cloud_name and os.environ.get("OS_AUTH_URL", conn.auth["auth_url"]) != conn.auth["auth_url"]:
    print(f"Not to OS_AUTH_URL ({os.environ['OS_AUTH_URL']}): OS_CLOUD wins. To use the OS_* "
          "variables instead: unset OS_CLOUD OS_CLIENT_CONFIG_FILE")

written = set()  # the objects this run stores: the only ones it will ever delete
created_container = False  # whether this run created the container (then it deletes it)

# step-2
# Use the container only if nothing in it is someone else's: the tutorial deletes what it
# stored, and an existing container may hold data that must stay.
try:
    conn.object_store.get_container_metadata(container_name)
except openstack.exceptions.NotFoundException:
    conn.object_store.create_container(name=container_name)
    created_container = True
others = [entry.name for entry in conn.object_store.objects(container_name)
          if entry.name not in written]
if others:
    raise SystemExit(f"The container {container_name!r} already holds {len(others)} object(s) "
                     "that this tutorial did not store: choose another container name "
                     "(TUTORIAL_CONTAINER, or container_name in step 1) and start again")
print(f"Container {container_name!r} is ready "
      f"({'created by' if created_container else 'there before'} this run)")

# step-3
containers = conn.object_store.containers()
print([entry.name for entry in containers])

# step-4
from pathlib import Path

# goat.jpg sits in the tutorial's samples/ folder: a script finds it from its own place, a
# notebook (which has no __file__) from the folder it runs in, looking upwards.
here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
folders = [Path(tutorial_dir)] if tutorial_dir else [p / "samples" for p in [here, *here.parents]]
goat_path = next((folder / "goat.jpg" for folder in folders
                  if (folder / "goat.jpg").is_file()), None)
if goat_path is None:
    where = tutorial_dir or f"any samples folder in or above {here}"
    raise SystemExit(f"goat.jpg is not in {where}: set TUTORIAL_DIR (in a notebook: "
                     "tutorial_dir in step 1) to the tutorial's samples folder")

# object_store.upload_object with data= returns the stored object, and raises when the
# upload fails. (With filename= it returns None whatever happens: even into a container
# that does not exist, where nothing at all gets stored.) The open file is streamed.
written.add(object_name)
try:
    with open(goat_path, "rb") as goat:
        uploaded = conn.object_store.upload_object(container=container_name, name=object_name,
                                                   data=goat)
except openstack.exceptions.NotFoundException:
    raise SystemExit(f"There is no container {container_name!r}: run step 2 first, it "
                     "creates the container") from None
print(f"Uploaded {goat_path.name} as {uploaded.name!r}: ETag {uploaded.etag}")

# step-5
try:
    objects = list(conn.object_store.objects(container_name))
except openstack.exceptions.NotFoundException:
    raise SystemExit(f"There is no container {container_name!r}: run step 2 first, it "
                     "creates the container") from None
print([(entry.name, entry.content_length, entry.etag) for entry in objects])

# step-6
import io

from PIL import Image

# download_object returns bytes. (conn.get_object, the older call, decodes the body as
# text, which garbles binary data.)
try:
    downloaded = conn.object_store.download_object(object_name, container=container_name)
except openstack.exceptions.NotFoundException:
    raise SystemExit(f"There is no object {object_name!r} in {container_name!r}: run step 4 "
                     "first, it uploads the goat") from None
print(f"Downloaded {len(downloaded)} bytes of {object_name!r}")
Image.open(io.BytesIO(downloaded))  # in a notebook, the last line shows the picture

# step-7
import hashlib

try:
    stored = conn.object_store.get_object_metadata(object_name, container=container_name)
except openstack.exceptions.NotFoundException:
    raise SystemExit(f"There is no object {object_name!r} in {container_name!r}: run step 4 "
                     "first, it uploads the goat") from None
downloaded_md5 = hashlib.md5(downloaded).hexdigest()
local_md5 = hashlib.md5(goat_path.read_bytes()).hexdigest()
print("md5 of the downloaded bytes:", downloaded_md5)
print("ETag the store returned:    ", stored.etag)
print("md5 of the local goat.jpg:  ", local_md5)
assert downloaded_md5 == stored.etag == local_md5, "the stored object differs from goat.jpg"

# step-8
try:
    conn.object_store.delete_object(object_name, container=container_name,
                                    ignore_missing=False)
except openstack.exceptions.NotFoundException:
    raise SystemExit(f"There is no object {object_name!r} in {container_name!r}: run step 4 "
                     "first, it uploads the goat") from None
print(f"Deleted {object_name!r}")

# step-9
try:
    objects = list(conn.object_store.objects(container_name))
except openstack.exceptions.NotFoundException:
    raise SystemExit(f"There is no container {container_name!r}: run step 2 first, it "
                     "creates the container") from None
print(objects)

# step-10
try:
    container = conn.object_store.get_container_metadata(container_name)
except openstack.exceptions.NotFoundException:
    raise SystemExit(f"There is no container {container_name!r}: run step 2 first, it "
                     "creates the container") from None
print(f"Container {container.name!r}: {container.object_count} objects")

# step-11
import requests
from tqdm.auto import tqdm

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
    written.add(fractal["uuid"])
    with requests.get(f"{fractals_endpoint}/fractal/{fractal['uuid']}",
                      stream=True, timeout=30) as image:
        image.raise_for_status()
        # extra keyword arguments go out as HTTP headers (4.22 ignores content_type=)
        try:
            conn.object_store.upload_object(container=container_name, name=fractal["uuid"],
                                            data=image.iter_content(64 * 1024),
                                            **{"Content-Type": "image/png"})
        except openstack.exceptions.NotFoundException:
            raise SystemExit(f"There is no container {container_name!r}: run step 2 first, "
                             "it creates the container") from None
    # read the copy back from the store and compare it with the app's own checksum
    digest = hashlib.sha256()
    for chunk in conn.object_store.stream_object(fractal["uuid"], container=container_name,
                                                 chunk_size=64 * 1024):
        digest.update(chunk)
    assert digest.hexdigest() == fractal["checksum"], f"{fractal['uuid']} was not stored intact"
print(f"Backed up {len(fractals)} fractals; every copy matches the app's sha256 checksum")
last = conn.object_store.download_object(fractals[-1]["uuid"], container=container_name)
Image.open(io.BytesIO(last))  # the last one, as the store returned it

# step-12
# Delete only what this run stored; the container too if this run created it.
try:
    names = [entry.name for entry in conn.object_store.objects(container_name)]
except openstack.exceptions.NotFoundException:
    raise SystemExit(f"There is no container {container_name!r}: run step 2 first, it "
                     "creates the container") from None
for name in names:
    if name in written:
        conn.object_store.delete_object(name, container=container_name)
kept = [name for name in names if name not in written]
if created_container and not kept:
    conn.object_store.delete_container(container_name)
    created_container = False
    print(f"Deleted the {len(names)} objects in {container_name!r}, then the container itself")
else:
    print(f"Deleted the {len(names) - len(kept)} objects this run stored in "
          f"{container_name!r}; the container stays, with {len(kept)} objects")

# step-13
from datetime import datetime

# Step 12 deleted the container if this run had created it: create it again if so.
try:
    conn.object_store.get_container_metadata(container_name)
except openstack.exceptions.NotFoundException:
    conn.object_store.create_container(name=container_name)
    created_container = True
written.add(object_name)
with open(goat_path, "rb") as stream:
    conn.object_store.upload_object(container=container_name, name=object_name, data=stream)
# Set the metadata in a second request. Passing metadata= to upload_object works once, but
# openstacksdk 4.22 keeps it in a dictionary shared by the whole process, so it would also
# be written onto every object and container created after this one.
conn.object_store.set_object_metadata(
    object_name, container=container_name,
    description="a goat, uploaded from a stream",
    created=datetime.now().astimezone().isoformat(timespec="seconds"))
stored = conn.object_store.get_object_metadata(object_name, container=container_name)
print(dict(sorted(stored.metadata.items())))

# step-14
import hashlib
import tempfile
from pathlib import Path

from tqdm.auto import tqdm

try:
    conn.object_store.get_container_metadata(container_name)
except openstack.exceptions.NotFoundException:
    raise SystemExit(f"There is no container {container_name!r}: run step 13 first, it "
                     "creates the container again") from None

large_name = "large-object.bin"
written.add(large_name)
try:
    with tempfile.TemporaryDirectory() as scratch:
        large_path = Path(scratch) / "large.bin"
        local_md5 = hashlib.md5()
        with open(large_path, "wb") as large_file:
            for offset in range(0, large_object_size, 1024 * 1024):
                block = os.urandom(min(1024 * 1024, large_object_size - offset))
                large_file.write(block)
                local_md5.update(block)

        # A file bigger than segment_size goes up as segments "<name>/000000", "<name>/000001",
        # ... and then a manifest that lists them: a Static Large Object (SLO). With filename=
        # the call returns None even when it fails, so ask the store what it got.
        conn.object_store.upload_object(container=container_name, name=large_name,
                                        filename=str(large_path), segment_size=segment_size)
        large = conn.object_store.get_object_metadata(large_name, container=container_name)
        segments = list(conn.object_store.objects(container_name, prefix=f"{large_name}/"))
        print(f"Uploaded {large.content_length} bytes as {len(segments)} segments and a "
              f"manifest (static large object: {large.is_static_large_object})")

        # Downloading the manifest returns all segments joined together. stream_object hands
        # out the bytes as they arrive: one chunk in memory at a time, however big the object.
        download_md5 = hashlib.md5()
        with tqdm(total=large_object_size, desc="downloading", unit="B", unit_scale=True) as bar:
            for chunk in conn.object_store.stream_object(large_name, container=container_name,
                                                         chunk_size=1024 * 1024):
                download_md5.update(chunk)
                bar.update(len(chunk))
        print("md5 of the local file:", local_md5.hexdigest())
        print("md5 of the download:  ", download_md5.hexdigest())
        assert download_md5.hexdigest() == local_md5.hexdigest(), "the large object came back wrong"
finally:
    # Also when the step fails or is interrupted: delete_object sees that this is an SLO and
    # deletes with ?multipart-manifest=delete, so Swift removes the manifest and its segments;
    # segments of an upload that never got its manifest are deleted one by one.
    conn.object_store.delete_object(large_name, container=container_name)
    for entry in list(conn.object_store.objects(container_name, prefix=f"{large_name}/")):
        conn.object_store.delete_object(entry.name, container=container_name)

# Clean up as step 12 does: what this run stored, and the container if this run created it.
names = [entry.name for entry in conn.object_store.objects(container_name)]
print("Left in the container:", names)
for name in names:
    if name in written:
        conn.object_store.delete_object(name, container=container_name)
kept = [name for name in names if name not in written]
if created_container and not kept:
    conn.object_store.delete_container(container_name)
    created_container = False
    print(f"Deleted {object_name!r} and the container {container_name!r}: "
          "nothing is left behind")
else:
    print(f"Deleted {object_name!r}; the container {container_name!r} stays, with the "
          f"{len(kept)} objects that were not this run's: nothing of this run is left behind")

# step-15
