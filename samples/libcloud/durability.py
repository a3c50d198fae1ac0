"""Making it durable with Apache Libcloud: store, check and back up objects in Swift.
Run it as ``python samples/libcloud/durability.py`` from any directory, after pointing it
at an object store with the standard variables of an openrc file: OS_AUTH_URL,
OS_USERNAME, OS_PASSWORD and, for Keystone v3, OS_PROJECT_NAME or OS_PROJECT_ID,
OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_ID (or a domain name), OS_REGION_NAME and
OS_INTERFACE. OS_AUTH_TYPE is ``password`` for Keystone v3 (the default for a .../v3
OS_AUTH_URL or OS_IDENTITY_API_VERSION=3) and ``v1password`` for Swift's own auth (for the
local cloud: ``eval "$(firstapp cloud env)"``). Step 11 reads the Fractals app at
FRACTALS_ENDPOINT; LARGE_OBJECT_SIZE and SEGMENT_SIZE (bytes) size the step-14 upload;
TUTORIAL_CONTAINER names the container it works in (it deletes only what it stored there).
"""

# step-1
import os

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
import requests
from libcloud.common.exceptions import BaseHTTPError
from libcloud.common.openstack_identity import OpenStackIdentity_3_0_Connection
from libcloud.common.types import InvalidCredsError, LibcloudError
from libcloud.storage.providers import get_driver
from libcloud.storage.types import (
    ContainerAlreadyExistsError,
    ContainerDoesNotExistError,
    ObjectDoesNotExistError,
    Provider,
)

if not password:
    raise SystemExit("OS_PASSWORD is not set: export your object store's credentials first "
                     '(for the local cloud: eval "$(firstapp cloud env)")')
if interface != "public":
    raise SystemExit(f"OS_INTERFACE={interface}: libcloud uses the catalog's public "
                     "endpoints only; set OS_INTERFACE=public (or use shade or openstacksdk)")

Swift = get_driver(Provider.OPENSTACK_SWIFT)
swift = None
storage_url = ""
try:
    if auth_type == "v1password":
        # Swift's own auth is one GET that answers with a token and the account's storage
        # URL. libcloud 3.9 makes that request, then looks for an endpoint named "swift"
        # in the answer and fails ("Could not find specified endpoint"). So ask for the
        # storage URL ourselves and hand it to the driver.
        reply = requests.get(auth_url, headers={"X-Auth-User": username,
                                                "X-Auth-Key": password}, timeout=30)
        if reply.status_code == 401:
            raise InvalidCredsError("401 Unauthorized")
        reply.raise_for_status()
        storage_url = reply.headers["X-Storage-Url"]
        swift = Swift(username, password,
                      ex_force_auth_url=auth_url.removesuffix("/v1.0"),  # libcloud adds it
                      ex_force_auth_version="1.0", ex_force_base_url=storage_url)
    else:
        # Keystone v3. libcloud adds "/v3/auth/tokens" to the URL itself, and signs in to a
        # project by its name and its domain's ID. A first sign-in without a project checks
        # the user and password alone, and lists the projects the user has a role on, with
        # their IDs and domain IDs: that finds the project of OS_PROJECT_ID, or of a name.
        keystone_url = auth_url.rstrip("/").removesuffix("/v3")
        keystone = OpenStackIdentity_3_0_Connection(
            keystone_url, username, password, domain_name=user_domain_name,
            token_scope="unscoped", timeout=30)
        keystone.authenticate()
        projects = keystone.authenticated_request("/v3/auth/projects").object["projects"]
        matches = [project for project in projects if project["id"] == project_id] or [
            project for project in projects if project["name"] == project_name
            and project["domain_id"] in (project_domain_id or project["domain_id"])]
        if len(matches) != 1:
            raise SystemExit(
                f"User {username!r} has a role on {len(matches) or 'no'} project(s) called "
                f"{project_id or project_name!r} (of {len(projects)}: "
                f"{', '.join(project['name'] for project in projects)}): check "
                "OS_PROJECT_NAME or OS_PROJECT_ID, and OS_PROJECT_DOMAIN_ID")
        swift = Swift(username, password, ex_force_auth_url=keystone_url,
                      ex_force_auth_version="3.x_password", ex_domain_name=user_domain_name,
                      ex_tenant_name=matches[0]["name"],
                      ex_tenant_domain_id=matches[0]["domain_id"],
                      ex_force_service_region=region_name or None)  # its public endpoint
        swift.connection.get_service_catalog()  # signs in, and reads the catalog
        storage_url = swift.connection.get_endpoint()  # the object store in region_name
    # one cheap authenticated call, so that a wrong password or a stopped store shows here
    containers = swift.list_containers()
except InvalidCredsError:
    raise SystemExit(f"The sign-in at {auth_url} refused user {username!r}: check "
                     "OS_USERNAME and OS_PASSWORD (and OS_USER_DOMAIN_NAME; for the local "
                     'cloud: eval "$(firstapp cloud env)")') from None
except requests.ConnectionError:
    raise SystemExit(f"Nothing answers at {storage_url or auth_url}: is "
                     + ("the object store, at its address in the catalog, running? (check "
                        "OS_REGION_NAME)" if storage_url else "the sign-in (Keystone, or the "
                        "object store itself) running? Check OS_AUTH_URL (for the local "
                        "cloud: firstapp cloud start)")) from None
except requests.RequestException as error:  # an address that is not one, an odd answer
    raise SystemExit(f"The sign-in at {auth_url} failed ({error}): check OS_AUTH_URL"
                     ) from None
except (LibcloudError, ValueError):  # none, or several, in the catalog for that region
    if swift is None:
        raise
    regions = swift.connection.get_service_catalog().get_regions("object-store")
    raise SystemExit(f"The catalog at {auth_url} has no single public object store in region "
                     f"{region_name!r} (it has one in {', '.join(regions) or 'none'}): check "
                     "OS_REGION_NAME") from None
except BaseHTTPError as error:
    if error.code != 403:
        raise
    who = f"user {username!r}" if auth_type == "v1password" else f"project {matches[0]['name']!r}"
    raise SystemExit(f"The object store at {storage_url} refused {who} (403): your user has "
                     "no role on it that the store accepts (usually 'member'): ask your "
                     "cloud's admin for one") from None
print(f"Connected to {auth_url} as {username}, using the OS_* variables")
if os.environ.get("OS_CLOUD"):
    print("OS_CLOUD is ignored: libcloud does not read clouds.yaml")


written = set()  # the objects this run stores: the only ones it will ever delete
created_container = False  # whether this run created the container (then it deletes it)

# step-2
from urllib.parse import quote

# Use the container only if nothing in it is someone else's: the tutorial deletes what it
# stored, and an existing container may hold data that must stay.
try:
    container = swift.create_container(container_name)
    created_container = True
except ContainerAlreadyExistsError:
    container = swift.get_container(container_name)
# The names, read from the store's listing a page at a time. Not with
# swift.list_container_objects: libcloud 3.9 fails with KeyError: 'content_type' when an
# object has none, as Ceph's RADOS Gateway lists an object stored without a content type
# (someone else's, here: this tutorial's own objects always have one).
names = []
while True:
    reply = swift.connection.request(f"/{quote(container_name)}",
                                     params={"marker": names[-1] if names else ""})
    if reply.status not in (200, 204):
        raise LibcloudError(f"Listing {container_name!r} failed: HTTP {reply.status}")
    page = [listed["name"] for listed in reply.object or []]  # none: the last page was read
    if not page:
        break
    names += page
others = [name for name in names if name not in written]
if others:
    raise SystemExit(f"The container {container_name!r} already holds {len(others)} object(s) "
                     "that this tutorial did not store: choose another container name "
                     "(TUTORIAL_CONTAINER, or container_name in step 1) and start again")
print(container)

# step-3
containers = swift.list_containers()
print(containers)

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

# Into a container that does not exist, libcloud 3.9 fails with "Server didn't return
# etag": ask for the container first, which says clearly when it is missing.
try:
    container = swift.get_container(container_name)
except ContainerDoesNotExistError:
    raise SystemExit(f"There is no container {container_name!r}: run step 2 first, it "
                     "creates the container") from None
written.add(object_name)
uploaded = swift.upload_object(str(goat_path), container, object_name)
print(uploaded)

# step-5
try:
    container = swift.get_container(container_name)  # listing no container fails obscurely
except ContainerDoesNotExistError:
    raise SystemExit(f"There is no container {container_name!r}: run step 2 first, it "
                     "creates the container") from None
objects = swift.list_container_objects(container)
print(objects)

# step-6
import io

from PIL import Image

try:
    stored = swift.get_object(container_name, object_name)  # a HEAD request: the facts only
except (ContainerDoesNotExistError, ObjectDoesNotExistError):
    raise SystemExit(f"There is no object {object_name!r} in {container_name!r}: run step 4 "
                     "first, it uploads the goat") from None
downloaded = b"".join(swift.download_object_as_stream(stored, chunk_size=64 * 1024))
print(f"Downloaded {len(downloaded)} bytes of {stored.name!r}")
Image.open(io.BytesIO(downloaded))  # in a notebook, the last line shows the picture

# step-7
import hashlib

downloaded_md5 = hashlib.md5(downloaded).hexdigest()
local_md5 = hashlib.md5(goat_path.read_bytes()).hexdigest()
print("md5 of the downloaded bytes:", downloaded_md5)
print("ETag the store returned:    ", stored.hash)
print("md5 of the local goat.jpg:  ", local_md5)
assert downloaded_md5 == stored.hash == local_md5, "the stored object differs from goat.jpg"

# step-8
try:
    swift.delete_object(swift.get_object(container_name, object_name))
except (ContainerDoesNotExistError, ObjectDoesNotExistError):
    raise SystemExit(f"There is no object {object_name!r} in {container_name!r}: run step 4 "
                     "first, it uploads the goat") from None
print(f"Deleted {object_name!r}")

# step-9
try:
    container = swift.get_container(container_name)  # listing no container fails obscurely
except ContainerDoesNotExistError:
    raise SystemExit(f"There is no container {container_name!r}: run step 2 first, it "
                     "creates the container") from None
objects = swift.list_container_objects(container)
print(objects)

# step-10
try:
    container = swift.get_container(container_name)
except ContainerDoesNotExistError:
    raise SystemExit(f"There is no container {container_name!r}: run step 2 first, it "
                     "creates the container") from None
print(container)

# step-11
import contextlib

from libcloud.storage.types import ObjectHashMismatchError
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

try:  # still there? (as in step 4: an upload into no container fails obscurely)
    container = swift.get_container(container_name)
except ContainerDoesNotExistError:
    raise SystemExit(f"There is no container {container_name!r}: run step 2 first, it "
                     "creates the container") from None
for fractal in tqdm(fractals, desc="backing up", unit="fractal"):
    # stream each image from the app straight into the store, 64 KiB at a time
    written.add(fractal["uuid"])
    with requests.get(f"{fractals_endpoint}/fractal/{fractal['uuid']}",
                      stream=True, timeout=30) as image:
        image.raise_for_status()
        # libcloud 3.9 stores the stream, then hashes the used-up generator and reports
        # a mismatch that is not there (ObjectHashMismatchError). The real check follows.
        with contextlib.suppress(ObjectHashMismatchError):
            swift.upload_object_via_stream(image.iter_content(64 * 1024), container,
                                           fractal["uuid"], extra={"content_type": "image/png"})
    # read the copy back from the store and compare it with the app's own checksum
    digest = hashlib.sha256()
    backup = swift.get_object(container_name, fractal["uuid"])
    for chunk in swift.download_object_as_stream(backup, chunk_size=64 * 1024):
        digest.update(chunk)
    assert digest.hexdigest() == fractal["checksum"], f"{fractal['uuid']} was not stored intact"
print(f"Backed up {len(fractals)} fractals; every copy matches the app's sha256 checksum")
Image.open(io.BytesIO(b"".join(swift.download_object_as_stream(backup))))  # the last one

# step-12
# Delete only what this run stored; the container too if this run created it.
try:
    container = swift.get_container(container_name)  # listing no container fails obscurely
except ContainerDoesNotExistError:
    raise SystemExit(f"There is no container {container_name!r}: run step 2 first, it "
                     "creates the container") from None
objects = swift.list_container_objects(container)
for stored in objects:
    if stored.name in written:
        swift.delete_object(stored)
kept = [stored.name for stored in objects if stored.name not in written]
if created_container and not kept:
    swift.delete_container(container)
    created_container = False
    print(f"Deleted the {len(objects)} objects in {container_name!r}, then the container itself")
else:
    print(f"Deleted the {len(objects) - len(kept)} objects this run stored in "
          f"{container_name!r}; the container stays, with {len(kept)} objects")

# step-13
from datetime import datetime

# Step 12 deleted the container if this run had created it: create it again if so.
try:
    container = swift.get_container(container_name)
except ContainerDoesNotExistError:
    container = swift.create_container(container_name)
    created_container = True
metadata = {"description": "a goat, uploaded from a stream",
            "created": datetime.now().astimezone().isoformat(timespec="seconds")}
# Pass an open file, not a generator: libcloud 3.9 reads the stream a second time to check
# its MD5, which only works with a file it can rewind (a generator ends in
# ObjectHashMismatchError even though the upload worked).
written.add(object_name)
with open(goat_path, "rb") as stream:
    swift.upload_object_via_stream(stream, container, object_name,
                                   extra={"meta_data": metadata})
print(dict(sorted(swift.get_object(container_name, object_name).meta_data.items())))

# step-14
import hashlib
import tempfile
from pathlib import Path
from urllib.parse import quote

from tqdm.auto import tqdm

try:
    container = swift.get_container(container_name)
except ContainerDoesNotExistError:
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

        # libcloud uploads the file in segments named "<name>/00000000", "<name>/00000001",
        # ... and then a manifest: a Dynamic Large Object. verify_hash=False because libcloud
        # 3.9 otherwise checks each segment against a hash of the used-up stream and fails.
        swift.ex_multipart_upload_object(str(large_path), container, large_name,
                                         chunk_size=segment_size, verify_hash=False)
        segments = swift.list_container_objects(container, prefix=f"{large_name}/")
        print(f"Uploaded {large_object_size} bytes as {len(segments)} segments and a manifest")

        # Downloading the manifest returns all segments joined together. Not with
        # download_object_as_stream: libcloud 3.9's Swift driver reads the whole object into
        # memory before it hands out the first chunk. requests streams: give it the driver's
        # storage URL (the one from step 1-connect, or Keystone's catalog) and token.
        storage_url = swift.connection.base_url or swift.connection.get_endpoint()
        download_md5 = hashlib.md5()
        with requests.get(f"{storage_url}/{quote(container_name)}/{quote(large_name)}",
                          headers={"X-Auth-Token": swift.connection.auth_token},
                          stream=True, timeout=30) as reply, \
                tqdm(total=large_object_size, desc="downloading", unit="B",
                     unit_scale=True) as bar:
            reply.raise_for_status()
            for chunk in reply.iter_content(chunk_size=1024 * 1024):
                download_md5.update(chunk)
                bar.update(len(chunk))
        print("md5 of the local file:", local_md5.hexdigest())
        print("md5 of the download:  ", download_md5.hexdigest())
        assert download_md5.hexdigest() == local_md5.hexdigest(), "the large object came back wrong"
finally:
    # Also when the step fails or is interrupted. Deleting a DLO manifest leaves its
    # segments behind: they are ordinary objects, so delete them too, one by one.
    for stored in swift.list_container_objects(container, prefix=large_name):
        if stored.name == large_name or stored.name.startswith(f"{large_name}/"):
            swift.delete_object(stored)

# Clean up as step 12 does: what this run stored, and the container if this run created it.
objects = swift.list_container_objects(container)
print("Left in the container:", [stored.name for stored in objects])
for stored in objects:
    if stored.name in written:
        swift.delete_object(stored)
kept = [stored.name for stored in objects if stored.name not in written]
if created_container and not kept:
    swift.delete_container(container)
    created_container = False
    print(f"Deleted {object_name!r} and the container {container_name!r}: "
          "nothing is left behind")
else:
    print(f"Deleted {object_name!r}; the container {container_name!r} stays, with the "
          f"{len(kept)} objects that were not this run's: nothing of this run is left behind")

# step-15
