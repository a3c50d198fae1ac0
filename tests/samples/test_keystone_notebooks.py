"""The SDK notebooks, rendered from the current narrative and samples, executed by papermill
against the local cloud's real Keystone v3 with no OS_* variable at all: the Keystone settings
are papermill parameters of step 1 (the notebook's parameters cell). Settings from the
environment take the same step 1: the samples' Keystone tests give them to the scripts
(test_keystone_samples.py), and the notebooks' own runs read their store's from the
environment (tests/notebooks)."""

from __future__ import annotations

import json
import os
import uuid

import nbformat
import pytest

from firstapp.cloud import keystone
from firstapp.notebooks import build
from firstapp.paths import project_root

from .helpers import SDKS

ROOT = project_root()


@pytest.mark.parametrize("sdk", SDKS)
def test_notebook_runs_under_papermill_with_keystone_parameters(sdk, keystone_cloud,
                                                                fractals_app, monkeypatch,
                                                                tmp_path):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from firstapp.notebooks.kernel import IPCKernelManager

    for key in [k for k in os.environ if k.startswith(("OS_", "ST_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("FRACTALS_ENDPOINT", fractals_app.endpoint)
    container = f"nb-ks-{uuid.uuid4().hex[:8]}"
    parameters = {"container_name": container, "large_object_size": 3 << 20,
                  "segment_size": 1 << 20}
    ident = keystone_cloud.identity
    # what a learner passes with papermill -p; the openrc's variables would give the same
    parameters.update(auth_url=ident.auth_url, auth_type="password", username=ident.username,
                      password=ident.password, project_name=ident.project_name,
                      region_name="RegionOne")
    source = tmp_path / f"durability-{sdk}.ipynb"
    nbformat.write(build.render(ROOT, build.track(f"durability-{sdk}")), source)
    output = tmp_path / f"out-{sdk}.ipynb"
    try:
        papermill.execute_notebook(str(source), str(output), parameters=parameters,
                                   cwd=str(ROOT), progress_bar=False, kernel_name="python3",
                                   kernel_manager_class=IPCKernelManager)
    except PapermillExecutionError as exc:
        pytest.fail(f"{sdk}: cell {exc.cell_index} failed: {exc.ename}: {exc.evalue}")
    outputs = json.dumps([c.get("outputs", []) for c in nbformat.read(output, 4).cells])
    assert f"Connected to {ident.auth_url} as {ident.username}" in outputs
    assert f"Backed up {len(fractals_app.fractals)} fractals" in outputs
    assert ident.password not in outputs
    conn = keystone.swift_connection(ident)
    assert container not in [c["name"] for c in conn.get_account()[1]]  # it cleaned up
