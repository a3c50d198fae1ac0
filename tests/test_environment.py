"""environment.yml (conda) and pyproject.toml (pip) describe the same installation."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


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
        assert name.lower() in pip, f"{name} is in environment.yml but not in pyproject.toml"
        assert SpecifierSet(spec) == pip[name.lower()].specifier, (
            f"{name}: environment.yml says {spec!r}, pyproject.toml says "
            f"{str(pip[name.lower()].specifier)!r}"
        )
        compared += 1
    assert compared >= 1


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
