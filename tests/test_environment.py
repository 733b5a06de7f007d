"""pyproject.toml and environment.yml describe the same environment, and it imports."""

import re

import tomllib
import yaml

from lrc_utils.config import REPO_ROOT


def normalise(requirement):
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def test_pyproject_and_environment_yml_agree():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml needs one pip section"
    pip = [r for r in pip_lists[0] if not r.startswith("-")]
    assert sorted(map(normalise, pip)) == sorted(map(normalise, project["dependencies"]))
    assert "-e ." in pip_lists[0], "environment.yml must install lrc_utils itself (-e .)"
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    minimum = project["requires-python"].removeprefix(">=")
    assert tuple(map(int, python.split("=")[1].split("."))) >= tuple(map(int, minimum.split(".")))


def test_torch_and_torchvision_import():
    import torch
    import torchvision

    assert torchvision.datasets.MNIST is not None
    assert torch.ones(2).sum().item() == 2.0
