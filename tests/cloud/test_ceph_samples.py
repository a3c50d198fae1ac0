"""The tutorial on the local Ceph: the three samples with their default 64 MiB large object,
six runs in a row, and a backup and restore of the Fractals app's images."""

from __future__ import annotations

import hashlib

import pytest

from firstapp.cloud import ceph
from firstapp.cloud.client import connection
from firstapp.fractals import client
from firstapp.fractals.backup import backup
from firstapp.fractals.db import resolve_db_url
from firstapp.fractals.fixtures import start_fractals_app
from firstapp.fractals.restore import restore
from firstapp.net import wait_until
from tests.samples.helpers import DEFAULT_CONTAINER, SDKS, MiB, run_script, sample_path

RUNS = 6


@pytest.mark.ci  # eighteen runs of the samples, 64 MiB each: CI runs it (pytest -m ci)
def test_three_samples_six_runs_in_a_row_never_fill_the_store(ceph_cloud, fractals_app,
                                                                tmp_path):
    layout, settings = ceph_cloud.layout, ceph_cloud.settings
    env = {**ceph_cloud.env(), "FRACTALS_ENDPOINT": fractals_app.endpoint}
    baseline = ceph.space(layout, settings)["used_bytes"]
    for run in range(RUNS):
        for sdk in SDKS:
            result = run_script(sample_path(sdk), env, cwd=tmp_path, timeout=900)
            assert result.returncode == 0, f"run {run + 1}, {sdk}: {result.stdout}{result.stderr}"
            assert "every copy matches the app's sha256 checksum" in result.stdout
            assert "nothing is left behind" in result.stdout
            if sdk == "libcloud":
                assert f"Uploaded {64 * MiB} bytes as 4 segments and a manifest" in result.stdout
    report = ceph.status(layout.root)
    assert report["warnings"] == []
    conn = connection(ceph_cloud.auth_url, ceph_cloud.username, ceph_cloud.password)
    names = [c["name"] for c in conn.get_account(full_listing=True)[1]]
    assert DEFAULT_CONTAINER not in names  # the samples cleaned up after themselves
    # and the gateway collected what they deleted: the OSDs hold about what they held before
    assert wait_until(lambda: ceph.space(layout, settings)["used_bytes"] < baseline + 64 * MiB,
                      180, interval=1)


def test_backup_then_restore_of_25_fractals_gives_the_same_images(ceph_cloud,
                                                                    fractals_app_factory,
                                                                    tmp_path):
    app = fractals_app_factory(25, seed=10, width=48, height=48)
    original = {f["uuid"]: f["checksum"] for f in app.fractals}
    assert len(original) == 25

    def conn_factory():
        return connection(ceph_cloud.auth_url, ceph_cloud.username, ceph_cloud.password)

    report = backup(app.endpoint, conn_factory, "ceph-backup", workers=4)
    assert not report.failures
    db_url = resolve_db_url(tmp_path / "fractals.db")
    restored = restore(conn_factory, "ceph-backup", db_url, workers=4)
    assert (restored.restored, restored.failed) == (25, 0)
    copy = start_fractals_app(tmp_path, 0)  # serves the restored tmp_path/fractals.db
    try:
        served = list(client.iter_fractals(copy.endpoint))
        assert {f["uuid"] for f in served} == set(original)
        for record in served:
            image = client.download_image(copy.endpoint, record["uuid"])
            assert hashlib.sha256(image).hexdigest() == original[record["uuid"]]
    finally:
        copy.stop()
