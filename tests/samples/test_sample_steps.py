"""Run each sample step by step against the real local cloud and a real Fractals app.

The steps run in one namespace, as in a notebook, with papermill-style overrides after
step 1 (a unique container, a 5 MiB large object in 1 MiB segments). After every step the
store is inspected with python-swiftclient, not by trusting what the sample printed.
"""

from __future__ import annotations

import hashlib
import math
import uuid

import pytest

from firstapp.cloud.fixtures import delete_container

from .helpers import (
    GOAT,
    SDKS,
    MiB,
    large_object_facts,
    object_names,
    run_steps,
    sample_path,
    status_of,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::PendingDeprecationWarning")
STEP_NAMES = ["1", "1-connect"] + [str(n) for n in range(2, 15)]
LARGE_SIZE, SEGMENT = 5 * MiB, 1 * MiB
SETTINGS = {
    "auth_url", "auth_type", "username", "password", "project_name", "user_domain_name",
    "project_domain_name", "region_name", "fractals_endpoint", "container_name", "object_name",
    "tutorial_dir", "large_object_size", "segment_size",
}


def observe_large_object_deletion(sdk, ns, swift_conn, seen):
    """Before the sample deletes the step-14 large object, record what the store holds.

    Step 14 uploads, checks and deletes in one step; to check the upload itself the test
    wraps the SDK's delete call with an observer that looks at the store (with swiftclient)
    first and then makes the very same call. Nothing is faked: every request still goes to
    the real store.
    """
    if sdk == "libcloud":
        owner, name_of = ns["swift"], lambda target, *a, **k: target.name
    elif sdk == "shade":
        owner, name_of = ns["conn"], lambda container, name, *a, **k: name
    else:
        owner = ns["conn"].object_store
        name_of = lambda target, *a, **k: getattr(target, "name", target)  # noqa: E731
    original = owner.delete_object

    def delete_object(*args, **kwargs):
        if name_of(*args, **kwargs) == ns["large_name"] and "facts" not in seen:
            seen["facts"] = large_object_facts(swift_conn, ns["container_name"],
                                               ns["large_name"])
            seen["local_md5"] = ns["local_md5"].hexdigest()  # of the file, as written
        return original(*args, **kwargs)

    owner.delete_object = delete_object


@pytest.mark.parametrize("sdk", SDKS)
def test_steps_leave_the_expected_state_in_the_store(sdk, use_sample_env, swift_conn,
                                                     fractals_app):
    container = f"test-{sdk}-{uuid.uuid4().hex[:10]}"
    overrides = (f"container_name = {container!r}\n"
                 f"large_object_size = {LARGE_SIZE}\n"
                 f"segment_size = {SEGMENT}\n")
    goat = GOAT.read_bytes()
    goat_md5 = hashlib.md5(goat).hexdigest()
    checksums = {f["uuid"]: f["checksum"] for f in fractals_app.fractals}
    seen: dict = {}
    ran = []
    try:
        for step, ns in run_steps(sample_path(sdk), overrides):
            ran.append(step.name)
            match step.name:
                case "1":
                    assert ns.keys() >= SETTINGS
                    assert ns["auth_url"] == use_sample_env["OS_AUTH_URL"]
                    if sdk != "libcloud":
                        assert ns["cloud_name"] == "local"
                case "1-connect":
                    assert ("swift" if sdk == "libcloud" else "conn") in ns
                case "2":
                    headers = swift_conn.head_container(container)
                    assert headers["x-container-object-count"] == "0"
                case "3":
                    _, listing = swift_conn.get_account(full_listing=True)
                    assert container in [entry["name"] for entry in listing]
                case "4":
                    assert ns["goat_path"] == GOAT  # found next to the sample, from any cwd
                    headers, body = swift_conn.get_object(container, "an amazing goat")
                    assert body == goat
                    assert headers["etag"] == goat_md5
                case "5":
                    _, listing = swift_conn.get_container(container)
                    assert [(e["name"], e["bytes"], e["hash"]) for e in listing] == [
                        ("an amazing goat", len(goat), goat_md5)]
                case "6":
                    assert ns["downloaded"] == goat  # the real bytes, not text or a HEAD
                case "7":
                    assert ns["downloaded_md5"] == ns["local_md5"] == goat_md5
                case "8":
                    assert status_of(swift_conn.head_object, container, "an amazing goat") == 404
                case "9":
                    assert object_names(swift_conn, container) == []
                case "10":
                    assert status_of(swift_conn.head_container, container) == 200
                case "11":
                    assert ns["listing"]["total_pages"] >= 3 and ns["page"] == ns["listing"][
                        "total_pages"], "the sample must follow every page"
                    assert sorted(object_names(swift_conn, container)) == sorted(checksums)
                    for name, checksum in checksums.items():
                        headers, body = swift_conn.get_object(container, name)
                        assert hashlib.sha256(body).hexdigest() == checksum, name
                        assert headers["content-type"] == "image/png"
                case "12":
                    assert status_of(swift_conn.head_container, container) == 404
                case "13":
                    headers, body = swift_conn.get_object(container, "an amazing goat")
                    assert body == goat
                    assert headers["x-object-meta-description"] == "a goat, uploaded from a stream"
                    assert headers["x-object-meta-created"].startswith("20")
                    observe_large_object_deletion(sdk, ns, swift_conn, seen)
                case "14":
                    facts = seen["facts"]
                    assert facts["kind"] == ("DLO" if sdk == "libcloud" else "SLO")
                    assert len(facts["segments"]) == math.ceil(LARGE_SIZE / SEGMENT)
                    assert sum(size for _, _, size in facts["segments"]) == LARGE_SIZE
                    assert int(facts["headers"]["content-length"]) == LARGE_SIZE
                    assert facts["md5"] == seen["local_md5"]  # the whole download is right
                    assert "x-object-meta-description" not in facts["headers"]  # no leak
                    # nothing left behind: no container, no segment anywhere
                    assert status_of(swift_conn.head_container, container) == 404
                    for segment_container, segment, _ in facts["segments"]:
                        assert status_of(swift_conn.head_object, segment_container,
                                         segment) == 404
                    _, listing = swift_conn.get_account(full_listing=True)
                    assert not [e["name"] for e in listing if e["name"].startswith(container)]
        assert ran == STEP_NAMES
    finally:
        delete_container(swift_conn, container)
        delete_container(swift_conn, f"{container}_segments")



@pytest.mark.parametrize("sdk", SDKS)
def test_connect_from_variables_without_clouds_yaml(sdk, use_sample_env, monkeypatch):
    """Without OS_CLOUD the shade and openstacksdk samples build the auth from OS_* alone."""
    monkeypatch.delenv("OS_CLOUD")
    monkeypatch.delenv("OS_CLIENT_CONFIG_FILE")
    ns: dict = {}
    for step, _ in run_steps(sample_path(sdk), "", ns):
        if step.name == "1-connect":
            break
    assert not ns.get("cloud_name")
    assert isinstance(ns["containers"], list)


@pytest.mark.parametrize("sdk", SDKS)
def test_step_1_says_which_store_and_which_settings(sdk, use_sample_env, monkeypatch, capsys):
    """OS_CLOUD left over from `firstapp cloud env` while OS_AUTH_URL points elsewhere: the
    connect step says which store it reached, where its settings came from, and how to
    switch (shade and openstacksdk follow OS_CLOUD; libcloud never reads clouds.yaml)."""
    elsewhere = "http://127.0.0.1:9/auth/v1.0"  # nothing answers there
    monkeypatch.setenv("OS_AUTH_URL", elsewhere)
    ns: dict = {}
    if sdk == "libcloud":
        with pytest.raises(SystemExit, match=f"Nothing answers at {elsewhere}"):
            for _ in run_steps(sample_path(sdk), "", ns):
                pass
        assert "OS_CLOUD" not in capsys.readouterr().out
        return
    for step, _ in run_steps(sample_path(sdk), "", ns):
        if step.name == "1-connect":
            break
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"Connected to {use_sample_env['OS_AUTH_URL']} as tutorial:learner, using the "
        "clouds.yaml entry 'local' (OS_CLOUD)",
        f"Not to OS_AUTH_URL ({elsewhere}): OS_CLOUD wins. To use the OS_* variables instead: "
        "unset OS_CLOUD OS_CLIENT_CONFIG_FILE"]


@pytest.mark.parametrize("sdk", SDKS)
def test_step_1_prints_nothing_that_differs_between_stores_but_the_address(
        sdk, use_sample_env, monkeypatch, capsys):
    monkeypatch.delenv("OS_CLOUD")
    ns: dict = {}
    for step, _ in run_steps(sample_path(sdk), "", ns):
        if step.name == "1-connect":
            break
    out = capsys.readouterr().out
    assert out == (f"Connected to {use_sample_env['OS_AUTH_URL']} as tutorial:learner, using "
                   "the OS_* variables\n")
