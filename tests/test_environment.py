"""environment.yml (conda) and pyproject.toml (pip) describe the same installation, and the
package declares its license as the files that ship with it say."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent

#: pip name -> conda-forge name, where conda-forge packages the same thing under another name.
#: conda-forge's ``matplotlib`` is ``matplotlib-base`` plus a Qt GUI; ``matplotlib-base`` is what
#: pip's ``matplotlib`` installs (and registers as the ``matplotlib`` distribution pip then sees).
CONDA_NAMES = {"matplotlib": "matplotlib-base"}
PIP_NAMES = {conda: pip for pip, conda in CONDA_NAMES.items()}


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pip_requirements() -> dict[str, Requirement]:
    project = pyproject()["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += [r for r in extra if not r.startswith(project["name"])]
    return {Requirement(r).name.lower(): Requirement(r) for r in reqs}


def conda_environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_conda_packages_match_pip_ranges():
    pip = pip_requirements()
    conda = [d for d in conda_environment()["dependencies"] if isinstance(d, str)]
    compared = 0
    for dep in conda:
        name, spec = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", dep).groups()
        if name in ("python", "pip"):
            continue
        assert name.lower() not in CONDA_NAMES, (
            f"environment.yml: use conda-forge's {CONDA_NAMES[name.lower()]}, not {name}"
        )
        pip_name = PIP_NAMES.get(name.lower(), name.lower())
        assert pip_name in pip, f"{name} is in environment.yml but not in pyproject.toml"
        assert SpecifierSet(spec) == pip[pip_name].specifier, (
            f"{name}: environment.yml says {spec!r}, pyproject.toml says "
            f"{str(pip[pip_name].specifier)!r}"
        )
        compared += 1
    assert compared >= 1


def conda_names() -> set[str]:
    deps = [d for d in conda_environment()["dependencies"] if isinstance(d, str)]
    return {re.match(r"^([A-Za-z0-9_.-]+)", d).group(1).lower() for d in deps}


def test_renamed_packages_are_used_under_their_conda_forge_name():
    assert set(CONDA_NAMES.values()) <= conda_names()
    assert set(CONDA_NAMES) <= set(pip_requirements())


def test_conda_python_satisfies_requires_python():
    conda = conda_environment()["dependencies"]
    python = next(d for d in conda if isinstance(d, str) and d.startswith("python="))
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    assert Version(python.split("=", 1)[1]) in requires


def test_pip_section_installs_what_make_installs():
    pip_section = next(d["pip"] for d in conda_environment()["dependencies"]
                       if isinstance(d, dict))
    makefile = (ROOT / "Makefile").read_text()
    extras = re.search(r"pip install --quiet -e '\.\[(\w+)\]'", makefile).group(1)
    assert pip_section == [f"-e .[{extras}]"]
    assert conda_environment()["channels"] == ["conda-forge"]


def test_netifaces_comes_from_a_distribution_with_wheels():
    """shade imports ``netifaces``; the unmaintained original builds from source (needs a
    C compiler), netifaces-plus ships wheels of the same module."""
    pip = pip_requirements()
    assert "netifaces-plus" in pip
    assert "netifaces" not in pip and "netifaces" not in conda_names()
    shade_utils = (Path(importlib.util.find_spec("shade").origin).parent / "_utils.py")
    assert "import netifaces" in shade_utils.read_text()
    import netifaces

    assert {"gateways", "AF_INET6"} <= set(dir(netifaces))
    provided = importlib.metadata.packages_distributions()["netifaces"]
    assert provided == ["netifaces-plus"], provided


def test_license_file_is_the_declared_license():
    project = pyproject()["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    # PEP 639's license expression and license-files need setuptools 77 or later.
    build = [Requirement(r) for r in pyproject()["build-system"]["requires"]]
    setuptools = next(r for r in build if r.name == "setuptools")
    assert not setuptools.specifier.contains("76.9") and setuptools.specifier.contains("77.0")
    # The installed metadata says the same (pip install -e . writes it from pyproject.toml).
    metadata = importlib.metadata.metadata("firstapp-durability")
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
