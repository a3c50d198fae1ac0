"""The suite's own scheduling hint: tests/conftest.py names real test files."""

from __future__ import annotations

from firstapp.paths import project_root
from tests.conftest import LONGEST_FIRST


def test_longest_first_names_test_files_that_exist_once_each():
    root = project_root()
    missing = [name for name in LONGEST_FIRST if not (root / name).is_file()]
    assert missing == [], f"tests/conftest.py LONGEST_FIRST names missing files: {missing}"
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)
    assert all(name.startswith("tests/") and name.rsplit("/", 1)[1].startswith("test_")
               for name in LONGEST_FIRST)
