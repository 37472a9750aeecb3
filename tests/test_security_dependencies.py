"""Every dependency with a published security advisory is required at its fixed release or
newer, and what is installed here satisfies that."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"

# The lowest release that has every advisory fixed, per package (advisory ids alongside).
ADVISORY_FLOORS: dict[str, str] = {
    # GHSA-5h86-8mv2-jq9f, GHSA-8qpw-xqxj-h4r2 (3.9.2); GHSA-5m98-qgg9-wh84,
    # GHSA-7gpw-8wmc-pm8g (3.9.4); GHSA-8495-4g3g-x7pr (3.10.11); GHSA-9548-qrrj-x5pj
    # (3.12.14); PYSEC-2026-2101/2102/2103 (3.13.4); PYSEC-2026-2106 (3.14.0);
    # PYSEC-2026-2108 (3.14.1); PYSEC-2026-4369, PYSEC-2026-4371 (3.14.4)
    "aiohttp": "3.14.4",
    # GHSA-pr2m-px7j-xg65 / CVE-2024-27305 SMTP smuggling (1.4.5);
    # GHSA-wgjv-9j3q-jhg8 / CVE-2024-34083 STARTTLS command injection (1.4.6)
    "aiosmtpd": "1.4.6",
    # PYSEC-2021-142 / CVE-2020-14343 arbitrary code execution in full_load (5.4)
    "pyyaml": "5.4",
    # CVE-2024-3772 regular expression denial of service in email validation (2.4.0)
    "pydantic": "2.4.0",
}

# Build requirements ([build-system] requires).
BUILD_FLOORS: dict[str, str] = {
    # CVE-2024-6345 / PYSEC-2026-1918 (70.0.0); GHSA-5rjg-fvgr-3xxf / CVE-2025-47273 (78.1.1)
    "setuptools": "78.1.1",
    # CVE-2022-40898 (0.38.1); GHSA-8rrh-rw8j-w5fx / CVE-2026-24049 (0.46.2)
    "wheel": "0.46.2",
}


def _floors(requirements: list[str]) -> dict[str, Version]:
    floors: dict[str, Version] = {}
    for line in requirements:
        req = Requirement(line)
        lows = [Version(s.version) for s in req.specifier if s.operator in (">=", "==", "~=")]
        if lows:
            floors[req.name.lower()] = max(lows)
    return floors


def _pyproject() -> dict[str, object]:
    return tomllib.loads(PYPROJECT.read_text())


@pytest.mark.parametrize(("name", "fixed"), sorted(ADVISORY_FLOORS.items()))
def test_runtime_floor_is_at_least_the_fixed_release(name: str, fixed: str) -> None:
    floors = _floors(_pyproject()["project"]["dependencies"])  # type: ignore[index]
    assert name in floors, f"{name} has no lower bound in pyproject.toml"
    assert floors[name] >= Version(fixed), f"{name}>={floors[name]} allows releases before {fixed}"


@pytest.mark.parametrize(("name", "fixed"), sorted(BUILD_FLOORS.items()))
def test_build_floor_is_at_least_the_fixed_release(name: str, fixed: str) -> None:
    floors = _floors(_pyproject()["build-system"]["requires"])  # type: ignore[index]
    assert name in floors, f"{name} has no lower bound in [build-system]"
    assert floors[name] >= Version(fixed), f"{name}>={floors[name]} allows releases before {fixed}"


@pytest.mark.parametrize(("name", "fixed"), sorted(ADVISORY_FLOORS.items()))
def test_installed_release_has_the_fixes(name: str, fixed: str) -> None:
    try:
        installed = Version(version(name))
    except PackageNotFoundError:
        pytest.fail(f"{name} is a dependency but is not installed")
    assert installed >= Version(fixed), f"{name} {installed} is installed; needs {fixed} or newer"
