"""The three samples against the local cloud's real Keystone v3 (``--auth keystone``), with
each way a learner gets settings: Horizon's openrc file (the whole sample), then
`firstapp cloud env`'s exported variables with and without OS_AUTH_TYPE and (shade,
openstacksdk) OS_CLOUD alone (step 1 and its connect step: the sign-in, the catalog and
one call to the store; every later step uses the connection they make). Then each mistake
step 1 must explain in one line."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from swiftclient import client as swift

from firstapp.cloud import keystone
from firstapp.cloud.fixtures import delete_container
from firstapp.net import free_port

from .helpers import (
    DEFAULT_CONTAINER,
    SDKS,
    MiB,
    one_clear_line,
    run_script,
    sample_path,
    script_of,
    status_of,
)
from .keystone_support import (
    cloud_only,
    exported,
    reader_only,
    run_with_openrc,
    unreachable_region,
    write_openrc,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::PendingDeprecationWarning")
SMALL = {"LARGE_OBJECT_SIZE": str(5 * MiB), "SEGMENT_SIZE": str(MiB)}
YAML_SDKS = ("shade", "openstacksdk")


@pytest.fixture(scope="module")
def ks_conn(keystone_cloud) -> swift.Connection:
    """python-swiftclient through Keystone: the independent checker."""
    return keystone.swift_connection(keystone_cloud.identity)


@pytest.fixture
def fresh(ks_conn) -> Iterator[None]:
    """No tutorial container before the run (a failed run may leave one) nor after."""
    delete_container(ks_conn, DEFAULT_CONTAINER)
    yield
    delete_container(ks_conn, DEFAULT_CONTAINER)


def assert_whole_run(result, ks_conn, keystone_cloud) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Connected to {keystone_cloud.auth_url} as learner" in result.stdout
    assert "every copy matches the app's sha256 checksum" in result.stdout
    assert "nothing is left behind" in result.stdout
    assert status_of(ks_conn.head_container, DEFAULT_CONTAINER) == 404


WAYS = {
    "exported": lambda cloud: exported(cloud),
    "exported-without-OS_AUTH_TYPE": lambda cloud: exported(cloud, OS_AUTH_TYPE=""),
    "OS_CLOUD-only": cloud_only,
}


@pytest.mark.parametrize(("sdk", "way"), [
    (sdk, way) for sdk in SDKS for way in WAYS
    if not (sdk == "libcloud" and way == "OS_CLOUD-only")  # libcloud reads no clouds.yaml
])
def test_step_1_signs_in_with_keystone_settings(sdk, way, keystone_cloud, tmp_path):
    env = WAYS[way](keystone_cloud)
    if way != "OS_CLOUD-only":
        assert "OS_CLOUD" not in env and env["OS_AUTH_URL"].endswith("/v3")
    result = run_script(connect_only(sdk, tmp_path), env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    source = "clouds.yaml entry 'local'" if way == "OS_CLOUD-only" else "the OS_* variables"
    assert f"Connected to {keystone_cloud.auth_url} as learner, using " in result.stdout
    assert source in result.stdout


@pytest.mark.parametrize("sdk", SDKS)
def test_sample_runs_after_sourcing_a_horizon_openrc(sdk, keystone_cloud, fractals_app,
                                                     ks_conn, fresh, tmp_path):
    """The file Horizon hands out: no OS_AUTH_TYPE, OS_PROJECT_ID and OS_PROJECT_DOMAIN_ID,
    OS_INTERFACE, OS_IDENTITY_API_VERSION=3; the password typed at its prompt."""
    openrc = write_openrc(keystone_cloud, tmp_path)
    text = openrc.read_text()
    assert "OS_AUTH_TYPE" not in text and "OS_PROJECT_DOMAIN_NAME" not in text
    work = tmp_path / "work"
    work.mkdir()
    result = run_with_openrc(openrc, keystone_cloud.identity.password,
                             [sys.executable, str(sample_path(sdk))], cwd=work,
                             extra={**SMALL, "FRACTALS_ENDPOINT": fractals_app.endpoint})
    assert_whole_run(result, ks_conn, keystone_cloud)


# --- mistakes: step 1 and its connect step only, one line each ------------------------------


def connect_only(sdk: str, folder) -> object:
    script = folder / f"connect_{sdk}.py"
    script.write_text(script_of(sample_path(sdk), ["1", "1-connect"]))
    return script


def failure(sdk, env, tmp_path) -> str:
    return one_clear_line(run_script(connect_only(sdk, tmp_path), env, cwd=tmp_path))


@pytest.mark.parametrize("sdk", SDKS)
def test_wrong_password(sdk, keystone_cloud, tmp_path):
    line = failure(sdk, exported(keystone_cloud, OS_PASSWORD="not-the-password"), tmp_path)
    assert "refused user 'learner'" in line and "check OS_USERNAME and OS_PASSWORD" in line


@pytest.mark.parametrize("sdk", SDKS)
def test_unknown_user(sdk, keystone_cloud, tmp_path):
    line = failure(sdk, exported(keystone_cloud, OS_USERNAME="nobody"), tmp_path)
    assert "refused user 'nobody'" in line and "OS_USERNAME" in line


@pytest.mark.parametrize("sdk", SDKS)
@pytest.mark.parametrize("change", [{"OS_PROJECT_NAME": "no-such-project"},
                                    {"OS_PROJECT_DOMAIN_ID": "no-such-domain"}])
def test_wrong_project_or_domain_is_not_called_a_wrong_password(sdk, change, keystone_cloud,
                                                                 tmp_path):
    line = failure(sdk, exported(keystone_cloud, **change), tmp_path)
    assert "OS_PROJECT_NAME or OS_PROJECT_ID" in line
    assert "OS_PROJECT_DOMAIN_ID" in line
    assert "OS_PASSWORD" not in line


@pytest.mark.parametrize("sdk", SDKS)
def test_wrong_region(sdk, keystone_cloud, tmp_path):
    line = failure(sdk, exported(keystone_cloud, OS_REGION_NAME="RegionNine"), tmp_path)
    assert f"The catalog at {keystone_cloud.auth_url} has no" in line
    assert "region 'RegionNine'" in line and "check OS_REGION_NAME" in line


@pytest.mark.parametrize("sdk", SDKS)
def test_no_role_the_store_accepts(sdk, keystone_cloud, tmp_path):
    with reader_only(keystone_cloud) as changes:
        line = failure(sdk, exported(keystone_cloud, **changes), tmp_path)
    assert f"refused project '{changes['OS_PROJECT_NAME']}' (403)" in line
    assert "usually 'member'" in line


@pytest.mark.parametrize("sdk", YAML_SDKS)
def test_unknown_os_cloud(sdk, keystone_cloud, tmp_path):
    env = {**cloud_only(keystone_cloud), "OS_CLOUD": "no-such-cloud"}
    line = failure(sdk, env, tmp_path)
    assert line.startswith("OS_CLOUD=no-such-cloud: ")
    assert "Check OS_CLOUD and OS_CLIENT_CONFIG_FILE" in line


@pytest.mark.parametrize("sdk", SDKS)
def test_keystone_unreachable(sdk, keystone_cloud, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v3"
    line = failure(sdk, exported(keystone_cloud, OS_AUTH_URL=url), tmp_path)
    assert f"Nothing answers at {url}" in line and "OS_AUTH_URL" in line


@pytest.mark.parametrize("sdk", SDKS)
def test_swift_unreachable_names_the_catalogs_storage_url(sdk, keystone_cloud, tmp_path):
    with unreachable_region(keystone_cloud) as (region, storage_url):
        line = failure(sdk, exported(keystone_cloud, OS_REGION_NAME=region), tmp_path)
    assert f"Nothing answers at {storage_url}" in line
    assert keystone_cloud.auth_url not in line


@pytest.mark.parametrize("sdk", YAML_SDKS)
def test_another_interface_is_found_in_the_catalog(sdk, keystone_cloud, tmp_path):
    script = connect_only(sdk, tmp_path)
    script.write_text(script.read_text() + "\nprint('storage at', storage_url)\n")
    result = run_script(script, exported(keystone_cloud, OS_INTERFACE="internal"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"storage at {keystone_cloud.storage_url}" in result.stdout


def test_libcloud_says_it_uses_public_endpoints_only(keystone_cloud, tmp_path):
    line = failure("libcloud", exported(keystone_cloud, OS_INTERFACE="internal"), tmp_path)
    assert line.startswith("OS_INTERFACE=internal: libcloud uses the catalog's public")
