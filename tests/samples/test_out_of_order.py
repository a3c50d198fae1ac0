"""Steps run out of order, as a learner clicking around a notebook does, stop with one line
naming the step to run first; an interrupted step 14 leaves no segments behind; the goat is
found whatever the working directory.

The steps run in one namespace, as in a notebook kernel (no ``__file__``), against the real
local cloud; the store is checked with python-swiftclient.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from firstapp import steps
from firstapp.cloud.fixtures import delete_container

from .helpers import GOAT, ROOT, SDKS, MiB, object_names, sample_path, status_of

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::PendingDeprecationWarning")


class Kernel:
    """One namespace that runs a sample's steps by name, in any order, like notebook cells."""

    def __init__(self, sdk: str, overrides: str = "") -> None:
        self.path = sample_path(sdk)
        self.code = {step.name: step for step in steps.load(self.path)}
        self.ns: dict = {"__name__": "__main__"}  # no __file__: a notebook kernel
        self.run("1")
        exec(compile(overrides, "<papermill parameters>", "exec"), self.ns)  # noqa: S102

    def run(self, *names: str) -> None:
        for name in names:
            step = self.code[name]
            padded = "\n" * (step.first_line - 1) + step.code
            exec(compile(padded, str(self.path), "exec"), self.ns)  # noqa: S102

    def stops(self, name: str) -> str:
        """Run step ``name``; it must stop with SystemExit. Its message."""
        with pytest.raises(SystemExit) as stopped:
            self.run(name)
        message = str(stopped.value.code)
        assert "\n" not in message
        return message


@pytest.fixture
def container(swift_conn):
    name = f"order-{uuid.uuid4().hex[:10]}"
    yield name
    delete_container(swift_conn, name)


@pytest.mark.parametrize("sdk", SDKS)
def test_steps_run_before_what_they_need_name_the_step_to_run_first(
        sdk, use_sample_env, swift_conn, container, monkeypatch):
    monkeypatch.chdir(ROOT)
    kernel = Kernel(sdk, f"container_name = {container!r}")
    kernel.run("1-connect", "2", "4", "5", "6", "8")  # the goat stored, then deleted again
    no_goat = f"There is no object 'an amazing goat' in {container!r}: run step 4 first"
    assert kernel.stops("6").startswith(no_goat)
    assert kernel.stops("8").startswith(no_goat)
    if sdk == "openstacksdk":  # the others check what step 6 downloaded, without a request
        assert kernel.stops("7").startswith(no_goat)

    kernel.run("12")  # deletes the (empty) container this run created
    assert status_of(swift_conn.head_container, container) == 404
    no_container = f"There is no container {container!r}: run step 2 first, it creates"
    for name in ("4", "5", "9", "10", "11", "12"):
        assert kernel.stops(name).startswith(no_container), name
    assert kernel.stops("14").startswith(
        f"There is no container {container!r}: run step 13 first")
    assert status_of(swift_conn.head_container, container) == 404  # none of them created it

    kernel.run("2", "4")  # back in order: it works again
    assert object_names(swift_conn, container) == ["an amazing goat"]


INTERRUPTED_AT = {  # a call that step 14 makes after (or while) uploading the segments
    "libcloud": ("swift", "list_container_objects"),
    "shade": ("conn", "list_objects"),
    "openstacksdk": ("conn.object_store", "get_object_metadata"),
}


@pytest.mark.parametrize("sdk", SDKS)
def test_an_interrupted_step_14_leaves_no_segments_behind(sdk, use_sample_env, swift_conn,
                                                          container, monkeypatch):
    monkeypatch.chdir(ROOT)
    kernel = Kernel(sdk, f"container_name = {container!r}\n"
                         f"large_object_size = {3 * MiB}\nsegment_size = {MiB}")
    kernel.run("1-connect", "2", "4", "8", "13")
    owner_name, method = INTERRUPTED_AT[sdk]
    owner = kernel.ns[owner_name.split(".")[0]]
    for part in owner_name.split(".")[1:]:
        owner = getattr(owner, part)
    original = getattr(owner, method)
    seen = {}

    def interrupted(*args, **kwargs):
        """The learner presses "interrupt" at this call, once segments are in the store."""
        stored = object_names(swift_conn, container)
        if not seen and any(name.startswith("large-object.bin/") for name in stored):
            seen["stored"] = stored
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    setattr(owner, method, interrupted)
    with pytest.raises(KeyboardInterrupt):
        kernel.run("14")
    assert len([n for n in seen["stored"] if n.startswith("large-object.bin/")]) == 3
    assert object_names(swift_conn, container) == ["an amazing goat"]  # no segment left


@pytest.mark.parametrize("sdk", SDKS)
@pytest.mark.parametrize("cwd", ["root", "notebooks", "elsewhere"])
def test_the_goat_is_found_from_the_working_directory_or_tutorial_dir(
        sdk, cwd, use_sample_env, swift_conn, container, monkeypatch, tmp_path):
    monkeypatch.chdir({"root": ROOT, "notebooks": ROOT / "notebooks",
                       "elsewhere": tmp_path}[cwd])
    kernel = Kernel(sdk, f"container_name = {container!r}")
    kernel.run("1-connect", "2")
    if cwd == "elsewhere":  # no samples/ folder in or above it
        assert kernel.stops("4") == (
            f"goat.jpg is not in any samples folder in or above {Path(tmp_path).resolve()}: "
            "set TUTORIAL_DIR (in a notebook: tutorial_dir in step 1) to the tutorial's "
            "samples folder")
        kernel.ns["tutorial_dir"] = str(GOAT.parent)  # papermill -p tutorial_dir ...
    kernel.run("4")
    assert Path(kernel.ns["goat_path"]).resolve() == GOAT
    assert swift_conn.get_object(container, "an amazing goat")[1] == GOAT.read_bytes()


@pytest.mark.parametrize("sdk", SDKS)
def test_a_wrong_tutorial_dir_is_one_clear_line(sdk, use_sample_env, swift_conn, container,
                                                 monkeypatch):
    monkeypatch.chdir(ROOT)
    kernel = Kernel(sdk, f"container_name = {container!r}\ntutorial_dir = '/nonexistent'")
    kernel.run("1-connect", "2")
    assert kernel.stops("4").startswith("goat.jpg is not in /nonexistent: set TUTORIAL_DIR")
    assert object_names(swift_conn, container) == []
