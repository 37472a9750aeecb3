"""A secret key that is printed anywhere in this project never protects a real gateway."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway.cli import main
from gateway.secrets_check import new_secret_key, weak_key_reason
from gateway.settings import ConfigError, load_settings

ROOT = Path(__file__).parents[1]
DEMO_KEY = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())["security"]["secret_key"]


def _config(tmp_path: Path, key: str, demo: bool = False) -> Path:
    text = f"security:\n  secret_key: {key}\n"
    if demo:
        text += "demo:\n  users: []\n"
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("key", "why"),
    [
        (DEMO_KEY, "published"),
        ("local-only-secret-key-change-me-0123456789", "published"),
        ("please-change-me-before-going-live-0123456789", "placeholder"),
        ("my-example-secret-key-for-production-2026", "placeholder"),
        ("ababababababababababababababababababab", "few different characters"),
    ],
)
def test_a_published_or_placeholder_key_is_refused(tmp_path: Path, key: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_config(tmp_path, key))
    message = "\n".join(caught.value.problems)
    assert "security.secret_key" in message and why in message, message
    assert "contact-gateway secret" in message
    assert key not in message  # the key itself never appears in messages


def test_the_demo_key_is_accepted_only_with_a_demo_section(tmp_path: Path) -> None:
    assert load_settings(_config(tmp_path, DEMO_KEY, demo=True)).security.secret_key


def test_the_demo_key_from_the_environment_is_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CG_SECURITY__SECRET_KEY", DEMO_KEY)
    with pytest.raises(ConfigError):
        load_settings(_config(tmp_path, new_secret_key()))


def test_check_config_fails_and_says_how_to_make_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(_config(tmp_path, DEMO_KEY)), "check-config"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "security.secret_key" in err and "contact-gateway secret" in err


def test_run_refuses_to_start_with_the_demo_key(tmp_path: Path) -> None:
    # In a process of its own: with the check broken it would start serving, and the timeout
    # fails the test instead of hanging it.
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(_config(tmp_path, DEMO_KEY)), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "security.secret_key" in done.stderr and "contact-gateway secret" in done.stderr


def test_secret_prints_a_fresh_key_that_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["secret"]) == 0
    first = capsys.readouterr().out.strip()
    assert main(["secret"]) == 0
    second = capsys.readouterr().out.strip()
    assert first != second and len(first) >= 43
    assert weak_key_reason(first) is None
    assert main(["--config", str(_config(tmp_path, first)), "check-config"]) == 0


def test_compose_takes_the_key_from_the_environment_without_a_default() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    line = next(x for x in compose.splitlines() if "CG_SECURITY__SECRET_KEY" in x)
    assert re.search(r"\$\{CG_SECRET_KEY:\?", line), line
    docs = [p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))]
    for text in (
        compose,
        (ROOT / "Dockerfile").read_text(),
        (ROOT / "README.md").read_text(),
        *docs,
    ):
        for key in re.findall(r"SECRET_KEY[=:]\s*([^\s$'\"]{8,})", text):
            assert weak_key_reason(key) is not None or key == "...", key
