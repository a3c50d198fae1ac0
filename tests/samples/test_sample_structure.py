"""The shape of the samples that Sphinx, the notebook builder and papermill rely on."""

from __future__ import annotations

import ast
import builtins
import re

import pytest

from firstapp import steps

from .helpers import SDKS, sample_path

STEP_NAMES = ["1", "1-connect"] + [str(n) for n in range(2, 15)]
COMMON_SETTINGS = [
    "auth_url", "identity_api_version", "auth_type", "username", "password", "project_id",
    "project_name", "project_domain_id", "project_domain_name", "user_domain_name",
    "region_name", "interface", "fractals_endpoint", "container_name", "object_name",
    "tutorial_dir", "large_object_size", "segment_size",
]
DEFAULT_CONTAINER = "making-it-durable-tutorial"
VARIABLES = ("OS_AUTH_URL", "OS_AUTH_TYPE", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME",
             "OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME", "OS_REGION_NAME", "OS_CLOUD",
             "OS_IDENTITY_API_VERSION", "OS_PROJECT_ID", "OS_PROJECT_DOMAIN_ID", "OS_INTERFACE",
             "FRACTALS_ENDPOINT", "LARGE_OBJECT_SIZE", "SEGMENT_SIZE", "TUTORIAL_CONTAINER",
             "TUTORIAL_DIR")


def step_code(sdk: str, name: str) -> str:
    return {step.name: step.code for step in steps.load(sample_path(sdk))}[name]


def joined(code: str) -> str:
    """Source with adjacent string literals run together, as Python joins them."""
    return re.sub(r'"\s*f?"', "", code)


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
    assert {alias.name for node in imports for alias in node.names} == {"os"}
    ns = run_step_1(sdk, __file__=str(sample_path(sdk)))
    settings = COMMON_SETTINGS + ([] if sdk == "libcloud" else ["cloud_name"])
    assert {key for key in ns if not key.startswith("__")} - {"os"} == set(settings)
    assert ns["auth_url"] == "http://127.0.0.1:8080/auth/v1.0"
    assert (ns["auth_type"], ns["username"], ns["password"]) == (
        "v1password", "tutorial:learner", "")
    assert (ns["project_name"], ns["region_name"]) == ("", "")
    assert ns["user_domain_name"] == ns["project_domain_name"] == "Default"
    assert ns["fractals_endpoint"] == "http://127.0.0.1:8081"
    # not "fractals": the original guide's name, which a learner may use for real data
    assert (ns["container_name"], ns["object_name"]) == (DEFAULT_CONTAINER, "an amazing goat")
    assert ns["tutorial_dir"] == ""  # step 4 looks for goat.jpg itself
    assert (ns["large_object_size"], ns["segment_size"]) == (64 * 1024**2, 16 * 1024**2)
    if sdk != "libcloud":
        assert ns["cloud_name"] == ""


@pytest.mark.parametrize("sdk", SDKS)
def test_step_1_reads_the_environment(sdk, clean_env):
    values = {"OS_AUTH_URL": "https://keystone.example:5000/v3", "OS_AUTH_TYPE": "password",
              "OS_USERNAME": "demo", "OS_PASSWORD": "secret", "OS_PROJECT_NAME": "demo",
              "OS_USER_DOMAIN_NAME": "users", "OS_PROJECT_DOMAIN_NAME": "projects",
              "OS_REGION_NAME": "RegionTwo", "OS_CLOUD": "mycloud",
              "FRACTALS_ENDPOINT": "http://api.example:80", "LARGE_OBJECT_SIZE": "1000",
              "SEGMENT_SIZE": "100", "TUTORIAL_CONTAINER": "my-try", "TUTORIAL_DIR": "/x/y"}
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
    assert (ns["container_name"], ns["tutorial_dir"]) == ("my-try", "/x/y")
    if sdk != "libcloud":
        assert ns["cloud_name"] == "mycloud"


@pytest.mark.parametrize("sdk", SDKS)
def test_papermill_sees_every_setting_with_its_type(sdk):
    """`papermill --help-notebook` lists each parameter of step 1 with a type, not "Unknown"."""
    from papermill.translators import PythonTranslator

    parameters = PythonTranslator.inspect({"source": step_code(sdk, "1")})
    types = {p.name: p.inferred_type_name for p in parameters}
    settings = COMMON_SETTINGS + ([] if sdk == "libcloud" else ["cloud_name"])
    assert sorted(types) == sorted(settings)
    assert {name for name, kind in types.items() if kind == "int"} == {
        "large_object_size", "segment_size"}
    assert set(types.values()) == {"str", "int"}


@pytest.mark.parametrize("sdk", SDKS)
def test_step_1_and_step_2_say_the_same_names(sdk):
    """The refusal of step 2 names the variable and the setting step 1 really reads."""
    assert 'os.environ.get("TUTORIAL_CONTAINER"' in step_code(sdk, "1")
    assert "TUTORIAL_CONTAINER, or container_name in step 1" in joined(step_code(sdk, "2"))
    assert 'os.environ.get("TUTORIAL_DIR"' in step_code(sdk, "1")
    assert "set TUTORIAL_DIR (in a notebook: tutorial_dir in step 1)" in joined(
        step_code(sdk, "4"))


@pytest.mark.parametrize("sdk", SDKS)
def test_every_run_step_n_first_names_an_earlier_step_that_does_it(sdk):
    """Each "run step N first" hint names a step before the one that prints it, and the
    promise that follows ("it creates the container", "it uploads the goat") is that
    step's job."""
    jobs = {"creates the container": ("create_container", "put("),
            "creates the container again": ("create_container", "put("),
            "uploads the goat": ("goat_path",)}
    code = {step.name: step.code for step in steps.load(sample_path(sdk))}
    found = 0
    for name, text in code.items():
        for number, job in re.findall(r"run step (\d+) first, it ([a-z ]+)", joined(text)):
            found += 1
            assert int(number) < int(name.split("-")[0]), (name, number)
            assert any(call in code[number] for call in jobs[job.strip()]), (name, number, job)
    assert found >= 8
