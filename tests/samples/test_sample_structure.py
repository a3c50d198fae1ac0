"""The shape of the samples that Sphinx, the notebook builder and papermill rely on."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

from firstapp import steps

from .helpers import SDKS, sample_path

STEP_NAMES = ["1", "1-connect"] + [str(n) for n in range(2, 15)]
COMMON_SETTINGS = [
    "auth_url", "auth_type", "username", "password", "project_name", "user_domain_name",
    "project_domain_name", "region_name", "fractals_endpoint", "container_name", "object_name",
    "tutorial_dir", "goat_path", "large_object_size", "segment_size",
]
VARIABLES = ("OS_AUTH_URL", "OS_AUTH_TYPE", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME",
             "OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME", "OS_REGION_NAME", "OS_CLOUD",
             "FRACTALS_ENDPOINT", "LARGE_OBJECT_SIZE", "SEGMENT_SIZE")


def step_code(sdk: str, name: str) -> str:
    return {step.name: step.code for step in steps.load(sample_path(sdk))}[name]


def run_step_1(sdk: str, **namespace) -> dict:
    exec(compile(step_code(sdk, "1"), str(sample_path(sdk)), "exec"), namespace)  # noqa: S102
    return namespace


@pytest.fixture
def clean_env(monkeypatch):
    for key in VARIABLES:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.mark.parametrize("sdk", SDKS)
def test_markers_in_order_and_nothing_after_the_closing_one(sdk):
    assert [step.name for step in steps.load(sample_path(sdk))] == STEP_NAMES
    text = sample_path(sdk).read_text()
    assert text.count("\n# step-15\n") == 1
    assert text.split("\n# step-15\n", 1)[1].strip() == ""


@pytest.mark.parametrize("sdk", SDKS)
def test_only_a_one_paragraph_docstring_before_step_1(sdk):
    head = sample_path(sdk).read_text().split("\n# step-1\n", 1)[0]
    tree = ast.parse(head)
    assert len(tree.body) == 1 and isinstance(tree.body[0].value, ast.Constant)
    docstring = tree.body[0].value.value
    assert "\n\n" not in docstring.strip()
    assert head.strip().endswith('"""')


@pytest.mark.parametrize("sdk", SDKS)
def test_plain_python_3_10_without_helpers_or_shadowed_builtins(sdk):
    tree = ast.parse(sample_path(sdk).read_text(), feature_version=(3, 10))
    kinds = {type(node) for node in ast.walk(tree)}
    assert not kinds & {ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda}
    assigned = {node.id for node in ast.walk(tree)
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    assert not assigned & set(dir(builtins)), "a sample variable shadows a builtin"


@pytest.mark.parametrize("sdk", SDKS)
def test_step_1_is_settings_only_with_local_defaults(sdk, clean_env):
    imports = [node for node in ast.walk(ast.parse(step_code(sdk, "1")))
               if isinstance(node, ast.Import | ast.ImportFrom)]
    assert {alias.name for node in imports for alias in node.names} == {"os", "Path"}
    ns = run_step_1(sdk, __file__=str(sample_path(sdk)))
    settings = COMMON_SETTINGS + ([] if sdk == "libcloud" else ["cloud_name"])
    assert {key for key in ns if not key.startswith("__")} - {"os", "Path"} == set(settings)
    assert ns["auth_url"] == "http://127.0.0.1:8080/auth/v1.0"
    assert (ns["auth_type"], ns["username"], ns["password"]) == (
        "v1password", "tutorial:learner", "")
    assert (ns["project_name"], ns["region_name"]) == (None, None)
    assert ns["user_domain_name"] == ns["project_domain_name"] == "Default"
    assert ns["fractals_endpoint"] == "http://127.0.0.1:8081"
    assert (ns["container_name"], ns["object_name"]) == ("fractals", "an amazing goat")
    assert ns["goat_path"] == sample_path(sdk).parents[1] / "goat.jpg"
    assert ns["goat_path"].is_file() and ns["goat_path"].stat().st_size < 100_000
    assert (ns["large_object_size"], ns["segment_size"]) == (64 * 1024**2, 16 * 1024**2)
    if sdk != "libcloud":
        assert ns["cloud_name"] is None


@pytest.mark.parametrize("sdk", SDKS)
def test_step_1_reads_the_environment(sdk, clean_env):
    values = {"OS_AUTH_URL": "https://keystone.example:5000/v3", "OS_AUTH_TYPE": "password",
              "OS_USERNAME": "demo", "OS_PASSWORD": "secret", "OS_PROJECT_NAME": "demo",
              "OS_USER_DOMAIN_NAME": "users", "OS_PROJECT_DOMAIN_NAME": "projects",
              "OS_REGION_NAME": "RegionTwo", "OS_CLOUD": "mycloud",
              "FRACTALS_ENDPOINT": "http://api.example:80", "LARGE_OBJECT_SIZE": "1000",
              "SEGMENT_SIZE": "100"}
    for key, value in values.items():
        clean_env.setenv(key, value)
    ns = run_step_1(sdk, __file__=str(sample_path(sdk)))
    assert [ns["auth_url"], ns["auth_type"], ns["username"], ns["password"],
            ns["project_name"], ns["user_domain_name"], ns["project_domain_name"],
            ns["region_name"], ns["fractals_endpoint"]] == [
        values[key] for key in ("OS_AUTH_URL", "OS_AUTH_TYPE", "OS_USERNAME", "OS_PASSWORD",
                                "OS_PROJECT_NAME", "OS_USER_DOMAIN_NAME",
                                "OS_PROJECT_DOMAIN_NAME", "OS_REGION_NAME",
                                "FRACTALS_ENDPOINT")]
    assert (ns["large_object_size"], ns["segment_size"]) == (1000, 100)
    if sdk != "libcloud":
        assert ns["cloud_name"] == "mycloud"


@pytest.mark.parametrize("sdk", SDKS)
def test_step_1_in_a_notebook_finds_the_goat_next_door(sdk, clean_env):
    ns = run_step_1(sdk)  # a notebook kernel has no __file__; it runs in notebooks/
    assert ns["goat_path"] == Path("../samples/goat.jpg")
