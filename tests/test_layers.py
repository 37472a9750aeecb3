"""Every module of the core is named in the import contracts (pyproject.toml), so a new one
cannot slip past `lint-imports`; and the contracts do catch an upward import."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINTS = {"gateway", "gateway.__main__", "gateway.app", "gateway.cli"}


def _contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["contracts"]


def _gateway_modules() -> set[str]:
    """gateway's modules and sub-packages, one level down (web/ holds only static files)."""
    found = set()
    for path in (ROOT / "gateway").iterdir():
        if path.suffix == ".py":
            found.add("gateway" if path.stem == "__init__" else f"gateway.{path.stem}")
        elif (path / "__init__.py").exists():
            found.add(f"gateway.{path.name}")
    return found


def test_every_gateway_module_is_core_capability_or_entry_point() -> None:
    core = _contracts()[0]
    classified = set(core["source_modules"]) | set(core["forbidden_modules"]) | ENTRY_POINTS
    assert sorted(_gateway_modules() - classified) == []
    assert sorted(set(core["source_modules"]) & set(core["forbidden_modules"])) == []


def test_an_upward_import_breaks_the_contracts(tmp_path: Path) -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.fail("lint-imports is not installed (pip install -e '.[dev]')")
    tree = tmp_path / "tree"
    shutil.copytree(
        ROOT, tree, ignore=shutil.ignore_patterns(".venv", ".git", "var", "tests", "*cache*")
    )
    clean = subprocess.run([lint], cwd=tree, capture_output=True, text=True, check=False)
    assert clean.returncode == 0, clean.stdout[-2000:]
    ops = tree / "gateway" / "ops.py"
    ops.write_text(ops.read_text() + "\nfrom gateway.console import hub  # noqa\n")
    broken = subprocess.run([lint], cwd=tree, capture_output=True, text=True, check=False)
    assert broken.returncode != 0
    assert "gateway.ops -> gateway.console.hub" in broken.stdout
