"""pyproject.toml (ranges), requirements.lock (exact versions) and environment.yml (the lock's versions of the
core's dependencies and the extras book and cluster) describe the same environment, and it imports."""

import re

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lrc_utils.book.paths import REPO_ROOT

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def lock() -> dict[str, str]:
    """canonical name -> exact version, from requirements.lock."""
    pins = {}
    for line in (REPO_ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"requirements.lock: {line!r} is not an exact version"
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def environment_yml_pip() -> list[str]:
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml needs one pip section"
    assert "-e ." in pip_lists[0], "environment.yml must install lrc_utils itself (-e .)"
    return [r for r in pip_lists[0] if not r.startswith("-")]


def test_the_lock_pins_every_dependency_within_the_projects_ranges():
    pins = lock()
    extras = PROJECT["optional-dependencies"]
    wanted = PROJECT["dependencies"] + extras["book"] + extras["cluster"] + extras["dev"]
    for text in wanted:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock has {name}=={pins[name]}, outside pyproject.toml's {text!r}: run make lock")


def test_environment_yml_pins_the_direct_dependencies_to_the_lock():
    pins = lock()
    listed = {canonicalize_name(Requirement(r).name): Requirement(r) for r in environment_yml_pip()}
    extras = PROJECT["optional-dependencies"]
    wanted = PROJECT["dependencies"] + extras["book"] + extras["cluster"]
    assert set(listed) == {canonicalize_name(Requirement(d).name) for d in wanted}
    for name, requirement in listed.items():
        assert str(requirement.specifier) == f"=={pins[name]}", f"environment.yml: {requirement} (lock: {pins[name]})"
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    locked_on = re.search(r"Python (\d+\.\d+)", (REPO_ROOT / "requirements.lock").read_text()).group(1)
    assert python.split("=")[1] == locked_on, f"environment.yml asks for {python}, the lock was made on {locked_on}"


def test_the_fingerprints_were_written_in_the_locked_environment():
    """Their exact checks run where the environment is the lock's: so the lock must be the environment that wrote
    them (after `make lock` moves a version, rewrite them: make fingerprints)."""
    from lrc_utils.book.fingerprint import recorded_environment

    recorded, pins = recorded_environment(), lock()
    for name in ("torch", "numpy", "scipy", "pandas"):
        assert recorded[name].split("+")[0] == pins[name], (
            f"the fingerprints were written with {name} {recorded[name]}, the lock has {pins[name]}")
    locked_on = re.search(r"Python (\d+\.\d+\.\d+)", (REPO_ROOT / "requirements.lock").read_text()).group(1)
    assert recorded["python"] == locked_on


def test_torch_and_torchvision_import():
    import torch
    import torchvision

    assert torchvision.datasets.MNIST is not None
    assert torch.ones(2).sum().item() == 2.0
