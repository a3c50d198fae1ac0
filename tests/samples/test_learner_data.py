"""The tutorial deletes only what it stored: a learner's own containers survive every run.

Each sample runs as a script, as a learner runs it, against a store that already holds the
learner's data: a ``fractals`` container (the name the original guide used for its backup)
with objects in it, and in some tests a container of the samples' own default name. What
was there before must come out byte for byte the same.
"""

from __future__ import annotations

import hashlib

import pytest

from firstapp.cloud.fixtures import delete_container

from .helpers import (
    DEFAULT_CONTAINER,
    SDKS,
    MiB,
    object_names,
    one_clear_line,
    run_script,
    sample_path,
    status_of,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::PendingDeprecationWarning")
SMALL = {"LARGE_OBJECT_SIZE": str(3 * MiB), "SEGMENT_SIZE": str(MiB)}
LEARNERS = {  # the learner's own backup, from before the tutorial
    "fractals": {
        "0b6bd3a4-9a8f-4c53-9d4a-4a3e0f6f5a11": hashlib.sha256(b"one").digest() * 500,
        "an amazing goat": b"the learner's own goat, not the tutorial's",
        "large-object.bin": b"a name the samples use too",
        "notes/2015.txt": b"kept for years",
    },
}


def contents(swift_conn, container: str) -> dict[str, bytes]:
    return {name: swift_conn.get_object(container, name)[1]
            for name in object_names(swift_conn, container)}


@pytest.fixture
def learner_data(swift_conn):
    """The learner's containers, put in place before the test and removed after it."""
    delete_container(swift_conn, DEFAULT_CONTAINER)
    for container, objects in LEARNERS.items():
        swift_conn.put_container(container)
        for name, data in objects.items():
            swift_conn.put_object(container, name, data)
    yield LEARNERS
    for container in [*LEARNERS, DEFAULT_CONTAINER]:
        delete_container(swift_conn, container)


@pytest.mark.parametrize("sdk", SDKS)
def test_a_whole_run_leaves_the_learners_containers_as_they_were(sdk, sample_env, swift_conn,
                                                                 learner_data, tmp_path):
    """The samples' whole run as a script (also what test_sample_scripts.py leaves out)."""
    result = run_script(sample_path(sdk), {**sample_env, **SMALL}, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every copy matches the app's sha256 checksum" in result.stdout
    assert "nothing is left behind" in result.stdout
    for container, objects in learner_data.items():
        assert contents(swift_conn, container) == objects
    assert status_of(swift_conn.head_container, DEFAULT_CONTAINER) == 404  # its own: gone
    assert list(tmp_path.iterdir()) == []  # wrote nothing into the working directory


@pytest.mark.parametrize("sdk", SDKS)
@pytest.mark.parametrize("target", ["default name, someone's object in it", "fractals"])
def test_step_2_refuses_a_container_that_holds_objects_it_did_not_store(
        sdk, target, sample_env, swift_conn, learner_data, tmp_path):
    env = {**sample_env, **SMALL}
    if target == "fractals":  # the learner names their own container
        env["TUTORIAL_CONTAINER"] = container = "fractals"
    else:
        container = DEFAULT_CONTAINER
        swift_conn.put_container(container)
        swift_conn.put_object(container, "someone else's", b"must stay")
    before = {name: contents(swift_conn, name) for name in [*learner_data, container]}
    result = run_script(sample_path(sdk), env, cwd=tmp_path)
    line = one_clear_line(result)
    assert line.startswith(f"The container {container!r} already holds "), line
    assert "that this tutorial did not store: choose another container name" in line
    assert "TUTORIAL_CONTAINER" in line
    assert "Uploaded" not in result.stdout  # it stopped at step 2, before writing anything
    for name, objects in before.items():
        assert contents(swift_conn, name) == objects


@pytest.mark.parametrize("sdk", SDKS)
def test_an_empty_container_from_before_is_used_and_kept(sdk, sample_env, swift_conn,
                                                         learner_data, tmp_path):
    swift_conn.put_container(DEFAULT_CONTAINER)
    result = run_script(sample_path(sdk), {**sample_env, **SMALL}, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing of this run is left behind" in result.stdout
    assert status_of(swift_conn.head_container, DEFAULT_CONTAINER) == 200  # not its own
    assert object_names(swift_conn, DEFAULT_CONTAINER) == []
    for container, objects in learner_data.items():
        assert contents(swift_conn, container) == objects
