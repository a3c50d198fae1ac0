"""The under-the-hood sample never touches objects it did not store."""

from __future__ import annotations

from pathlib import Path

import pytest

from firstapp import steps

from .support import connect

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "under-the-hood" / "durability.py"


def test_step_2_refuses_a_container_with_someone_elses_objects(cloud, monkeypatch):
    for key, value in cloud.env().items():
        monkeypatch.setenv(key, value)
    check = connect(cloud)
    check.put_container("under-the-hood")
    check.put_object("under-the-hood", "my-notes.txt", b"not the sample's")
    ns: dict = {}
    try:
        with pytest.raises(SystemExit) as stopped:
            for _ in steps.run(SAMPLE, ns):
                pass
        assert str(stopped.value.code) == (
            "The container 'under-the-hood' holds 1 object(s) that this page did not store: "
            "set container_name in step 1 to another name")
        names = [o["name"] for o in check.get_container("under-the-hood")[1]]
        assert names == ["my-notes.txt"]  # stopped before writing anything
        assert check.get_object("under-the-hood", "my-notes.txt")[1] == b"not the sample's"
    finally:
        check.delete_object("under-the-hood", "my-notes.txt")
        check.delete_container("under-the-hood")
