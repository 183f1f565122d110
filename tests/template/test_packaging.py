"""What `pip install` and `sam build` ship: every package directory is named in pyproject, and
the Lambda layer holds only what runs in Lambda (the CLI and the local stack live outside it)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared" / "o2o_bridge"


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _packages_under(name: str, directory: Path, skip: set[Path]) -> set[str]:
    found = set()
    for init in directory.rglob("__init__.py"):
        package_dir = init.parent
        if "__pycache__" in package_dir.parts or any(package_dir.is_relative_to(s) for s in skip):
            continue
        relative = package_dir.relative_to(directory).parts
        found.add(".".join((name, *relative)))
    return found


def test_every_package_directory_is_installed():
    config = _setuptools()
    roots = {name: ROOT / path for name, path in config["package-dir"].items()}
    expected: set[str] = set()
    for name, directory in roots.items():
        nested = {d for n, d in roots.items() if n != name and n.startswith(name + ".")}
        expected |= _packages_under(name, directory, nested)
    assert set(config["packages"]) == expected


def test_the_layer_holds_no_cli_and_no_local_stack():
    assert not (LAYER / "cli").exists(), "the o2o CLI belongs in tools/, not in the Lambda layer"
    offenders = [str(p.relative_to(ROOT)) for p in LAYER.rglob("*.py") if "o2o_local" in p.read_text(encoding="utf-8")]
    assert offenders == [], "production code must not import the local stack"
