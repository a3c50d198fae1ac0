"""What the Keystone tests of the samples and of backup/restore share: the ways a learner
gives Keystone v3 settings (exported variables, a Horizon openrc file, OS_CLOUD alone),
and real Keystone entities made for one test (a user whose role Swift does not accept, a
region whose object store does not answer), removed afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from firstapp.cloud.control import CloudInfo
from firstapp.net import free_port

TIMEOUT = 30
#: What clients read from a clouds.yaml entry: with these alone, OS_CLOUD is the only source.
CLOUD_ONLY = ("OS_CLOUD", "OS_CLIENT_CONFIG_FILE")

#: Horizon's "OpenStack RC File" (its openrc.sh template for Keystone v3), filled in: no
#: OS_AUTH_TYPE, the project by ID and name, the project's domain by ID, the password read
#: from the terminal.
HORIZON_OPENRC = """\
#!/usr/bin/env bash
export OS_AUTH_URL={auth_url}
export OS_PROJECT_ID={project_id}
export OS_PROJECT_NAME="{project_name}"
export OS_USER_DOMAIN_NAME="Default"
if [ -z "$OS_USER_DOMAIN_NAME" ]; then unset OS_USER_DOMAIN_NAME; fi
export OS_PROJECT_DOMAIN_ID="default"
if [ -z "$OS_PROJECT_DOMAIN_ID" ]; then unset OS_PROJECT_DOMAIN_ID; fi
unset OS_TENANT_ID
unset OS_TENANT_NAME
export OS_USERNAME="{username}"
echo "Please enter your OpenStack Password for project $OS_PROJECT_NAME as user $OS_USERNAME: "
read -sr OS_PASSWORD_INPUT
export OS_PASSWORD=$OS_PASSWORD_INPUT
export OS_REGION_NAME="RegionOne"
if [ -z "$OS_REGION_NAME" ]; then unset OS_REGION_NAME; fi
export OS_INTERFACE=public
export OS_IDENTITY_API_VERSION=3
"""


def exported(cloud: CloudInfo, **changes: str) -> dict[str, str]:
    """`firstapp cloud env`'s Keystone v3 variables without OS_CLOUD (so they are used);
    ``changes`` set (or, when empty, remove) variables."""
    env = {k: v for k, v in cloud.env().items() if k not in CLOUD_ONLY}
    env.update(changes)
    return {k: v for k, v in env.items() if v}


def cloud_only(cloud: CloudInfo) -> dict[str, str]:
    """Only OS_CLOUD and the clouds.yaml it names: no other OS_* variable."""
    return {k: v for k, v in cloud.env().items() if k in CLOUD_ONLY}


def write_openrc(cloud: CloudInfo, folder: Path) -> Path:
    """A Horizon-style openrc file for the cloud's learner (mode 0600: it names the user)."""
    ident = cloud.identity
    path = folder / "tutorial-openrc.sh"
    path.write_text(HORIZON_OPENRC.format(auth_url=ident.auth_url, project_id=ident.project_id,
                                          project_name=ident.project_name,
                                          username=ident.username))
    path.chmod(0o600)
    return path


def run_with_openrc(openrc: Path, password: str, argv: list[str], cwd: Path,
                    extra: dict[str, str] | None = None, timeout: float = 180,
                    ) -> subprocess.CompletedProcess[str]:
    """``source openrc && argv`` in bash, the password typed at the openrc's prompt, and no
    OS_* variable but those the openrc sets."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OS_", "ST_", "FRACTALS_"))
           and k not in ("LARGE_OBJECT_SIZE", "SEGMENT_SIZE")}
    env.update(extra or {})
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    command = f'. "{openrc}" && exec "$@"'
    return subprocess.run(["bash", "-c", command, "openrc", *argv], input=password + "\n",
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def admin_session(cloud: CloudInfo) -> ks_session.Session:
    """Keystone's bootstrap admin (its password is in the cloud's private identity.json)."""
    state = json.loads((cloud.layout.root / "keystone" / "identity.json").read_text())
    auth = v3.Password(auth_url=cloud.auth_url, username="admin",
                       password=state["admin_password"], project_name="admin",
                       user_domain_name="Default", project_domain_name="Default")
    return ks_session.Session(auth=auth, timeout=TIMEOUT)


@contextmanager
def reader_only(cloud: CloudInfo) -> Iterator[dict[str, str]]:
    """A new project and user who has only the ``reader`` role on it: Keystone signs them
    in, Swift (operator roles admin, member) answers 403. Yields the variables to change."""
    admin, api = admin_session(cloud), cloud.auth_url
    suffix, password = uuid.uuid4().hex[:8], uuid.uuid4().hex
    project = admin.post(f"{api}/projects", json={"project": {
        "name": f"readers-{suffix}", "domain_id": "default"}}).json()["project"]
    user = admin.post(f"{api}/users", json={"user": {
        "name": f"reader-{suffix}", "domain_id": "default", "password": password}}).json()["user"]
    reader = admin.get(f"{api}/roles?name=reader").json()["roles"][0]
    admin.put(f"{api}/projects/{project['id']}/users/{user['id']}/roles/{reader['id']}")
    try:
        yield {"OS_USERNAME": user["name"], "OS_PASSWORD": password,
               "OS_PROJECT_NAME": project["name"]}
    finally:
        admin.delete(f"{api}/users/{user['id']}")
        admin.delete(f"{api}/projects/{project['id']}")


@contextmanager
def unreachable_region(cloud: CloudInfo) -> Iterator[tuple[str, str]]:
    """A new region whose catalog entry for the object store is an address where nothing
    answers. Yields the region's name and that storage URL."""
    admin, api = admin_session(cloud), cloud.auth_url
    name = f"Gone-{uuid.uuid4().hex[:6]}"
    admin.post(f"{api}/regions", json={"region": {"id": name}})
    service = admin.get(f"{api}/services?type=object-store").json()["services"][0]
    url = f"http://127.0.0.1:{free_port()}/v1/AUTH_$(project_id)s"
    endpoint = admin.post(f"{api}/endpoints", json={"endpoint": {
        "service_id": service["id"], "interface": "public", "region_id": name,
        "url": url}}).json()["endpoint"]
    try:
        yield name, url.replace("$(project_id)s", cloud.identity.project_id)
    finally:
        admin.delete(f"{api}/endpoints/{endpoint['id']}")
        admin.delete(f"{api}/regions/{name}")
