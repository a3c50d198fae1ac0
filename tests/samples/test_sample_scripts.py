"""Run each sample as a learner does: ``python samples/<sdk>/durability.py`` in a new process,
from another directory, configured only by environment variables (the whole run of each
sample is in test_learner_data.py, with the learner's own containers in place). Also the
mistakes a learner makes: each must end in one clear line on stderr, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from firstapp.cloud.fixtures import delete_container

from .helpers import (
    DEFAULT_CONTAINER,
    GOAT,
    SDKS,
    MiB,
    object_names,
    one_clear_line,
    run_script,
    sample_path,
    script_of,
    status_of,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::PendingDeprecationWarning")


def test_default_sizes_upload_a_64_mib_object_in_16_mib_segments(sample_env, swift_conn,
                                                                  tmp_path):
    """Once, without size overrides: the defaults learners get (libcloud, the fastest)."""
    delete_container(swift_conn, DEFAULT_CONTAINER)
    result = run_script(sample_path("libcloud"), sample_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Uploaded {64 * MiB} bytes as 4 segments and a manifest" in result.stdout


@pytest.mark.parametrize("sdk", SDKS)
def test_wrong_password(sdk, sample_env, tmp_path):
    env = {key: value for key, value in sample_env.items() if key != "OS_CLOUD"}
    env["OS_PASSWORD"] = "not-the-password"
    line = one_clear_line(run_script(sample_path(sdk), env, cwd=tmp_path))
    assert "refused user 'tutorial:learner'" in line
    assert "check OS_USERNAME and OS_PASSWORD" in line


@pytest.mark.parametrize("sdk", ["shade", "openstacksdk"])
def test_wrong_password_in_clouds_yaml(sdk, sample_env, tmp_path):
    config = yaml.safe_load(Path(sample_env["OS_CLIENT_CONFIG_FILE"]).read_text())
    config["clouds"]["local"]["auth"]["password"] = "not-the-password"
    clouds_yaml = tmp_path / "clouds.yaml"
    clouds_yaml.write_text(yaml.safe_dump(config))
    env = {**sample_env, "OS_CLIENT_CONFIG_FILE": str(clouds_yaml)}
    line = one_clear_line(run_script(sample_path(sdk), env, cwd=tmp_path))
    assert "refused the login of cloud 'local'" in line
    assert "clouds.yaml" in line


@pytest.mark.parametrize("sdk", SDKS)
def test_no_password_set(sdk, sample_env, tmp_path):
    env = {key: value for key, value in sample_env.items()
           if key not in ("OS_CLOUD", "OS_PASSWORD")}
    line = one_clear_line(run_script(sample_path(sdk), env, cwd=tmp_path))
    assert "OS_PASSWORD" in line and "firstapp cloud env" in line


@pytest.mark.parametrize("sdk", SDKS)
def test_stopped_store(sdk, stopped_cloud, fractals_app, tmp_path):
    env = {**stopped_cloud.env(), "FRACTALS_ENDPOINT": fractals_app.endpoint}
    line = one_clear_line(run_script(sample_path(sdk), env, cwd=tmp_path))
    assert f"Nothing answers at {stopped_cloud.auth_url}" in line
    assert "firstapp cloud start" in line


@pytest.mark.parametrize("sdk", SDKS)
def test_missing_container(sdk, sample_env, swift_conn, tmp_path):
    """A learner who skipped step 2 and runs step 10 ("get the container")."""
    container = "never-created-container"
    assert status_of(swift_conn.head_container, container) == 404
    script = tmp_path / "skipped_step_2.py"
    script.write_text(script_of(sample_path(sdk), ["1", "1-connect", "10"],
                                f"container_name = {container!r}"))
    line = one_clear_line(run_script(script, sample_env, cwd=tmp_path))
    assert f"There is no container {container!r}" in line
    assert "run step 2 first" in line


@pytest.mark.parametrize("sdk", SDKS)
def test_fractals_app_not_running(sdk, sample_env, local_cloud, swift_conn, tmp_path):
    """Steps 1-11 with nothing at FRACTALS_ENDPOINT: step 11 says so in one line."""
    container = f"test-nofractals-{sdk}"
    script = tmp_path / "steps_1_to_11.py"
    names = ["1", "1-connect"] + [str(n) for n in range(2, 12)]
    script.write_text(script_of(sample_path(sdk), names, f"container_name = {container!r}\n"
                                f"tutorial_dir = {str(GOAT.parent)!r}"))
    env = {**sample_env, "FRACTALS_ENDPOINT": "http://127.0.0.1:9"}
    try:
        result = run_script(script, env, cwd=tmp_path)
        line = one_clear_line(result)
        assert "Nothing answers at http://127.0.0.1:9" in line
        assert "Fractals app" in line and "FRACTALS_ENDPOINT" in line
        assert object_names(swift_conn, container) == []
    finally:
        delete_container(swift_conn, container)
