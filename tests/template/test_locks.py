"""The venv and the layer are installed from hashed lock files: a dependency added to
pyproject.toml (or the layer's requirements.txt) without `make lock` fails here, by name,
instead of installing an unpinned version on the next machine."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pinned(lock: Path) -> dict[str, str]:
    text = lock.read_text(encoding="utf-8")
    pins = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", block)
        if match:
            pins[_name(match.group(1))] = block
    return pins


def test_dev_lock_pins_every_project_and_dev_dependency_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    pins = _pinned(ROOT / "requirements" / "dev.lock")
    assert not wanted - set(pins), f"run make lock: {sorted(wanted - set(pins))} are not in requirements/dev.lock"
    assert all("--hash=sha256:" in block for block in pins.values())


def test_the_makefile_installs_from_the_locks_with_hashes_only():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements/dev.lock" in makefile
    assert "--no-deps --no-build-isolation -e ." in makefile  # the project itself adds nothing unpinned
    assert "--require-hashes -r \"$LOCK\"" in (ROOT / "scripts" / "build_layer.sh").read_text(encoding="utf-8")
