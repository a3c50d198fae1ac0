"""Keystone's own virtualenv: where it lives, and a failed install said in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from firstapp.cloud import keystone_venv
from firstapp.errors import FirstappError

ROOT = Path(__file__).resolve().parents[2]


def test_it_lives_in_the_checkout_and_is_ignored_by_git():
    assert keystone_venv.location() == ROOT / ".venv-keystone"
    assert ".venv-keystone/" in (ROOT / ".gitignore").read_text().splitlines()


def test_a_failed_install_is_one_line_and_leaves_it_not_ready(tmp_path, monkeypatch):
    # a requirement pip cannot satisfy without any network: a wheel file that is not there
    monkeypatch.setattr(keystone_venv, "REQUIREMENTS", (str(tmp_path / "missing-1.0.whl"),))
    lines: list[str] = []
    where = tmp_path / "venv"
    with pytest.raises(FirstappError) as failed:
        keystone_venv.ensure(where, say=lines.append)
    message = str(failed.value)
    assert "\n" not in message and "make keystone" in message and str(where) in message
    assert lines and lines[0].startswith("setting up Keystone (first use)")
    assert not keystone_venv.ready(where)
