"""Configuration: YAML plus environment, and errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.settings import ConfigError, load_settings, mask_url

GOOD = """
security:
  secret_key: a-secret-that-is-long-enough-0123456789
amqp:
  url: amqp://guest:hunter2@127.0.0.1:5672/
webchat:
  rate_per_second: 3
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return path


def test_yaml_with_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, GOOD)
    monkeypatch.setenv("CG_WEBCHAT__RATE_PER_SECOND", "9")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://cg@db/cg")
    settings = load_settings(path)
    assert settings.webchat.rate_per_second == 9
    assert settings.database.url == "postgresql+asyncpg://cg@db/cg"
    assert settings.amqp.url.get_secret_value().endswith("@127.0.0.1:5672/")


def test_the_demo_config_is_valid() -> None:
    settings = load_settings(Path(__file__).parents[1] / "config" / "demo.yaml")
    assert settings.demo.users and settings.database.url.startswith("sqlite")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD + "webchat:\n  rate_per_second: -1\n",
            "webchat.rate_per_second: Input should be greater than 0",
        ),
        (GOOD.replace("webchat:", "webchta:"), "webchta: unknown key"),
        (
            "security:\n  secret_key: short\n",
            "security.secret_key: Value error, must be at least 32",
        ),
        (GOOD + "database:\n  url: mysql://x\n", "database.url: Value error, must start with"),
        (GOOD + "amqp:\n  prefix: 'Bad Prefix'\n", "amqp.prefix"),
        ("- a list\n", "the top level must be a mapping"),
        ("security: [unclosed\n", "line 2"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert str(path) in message and expected in message, message


def test_env_errors_name_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_HTTP__PORT", "99999")
    with pytest.raises(ConfigError) as err:
        load_settings(_write(tmp_path, GOOD))
    assert "http.port (from environment variable CG_HTTP__PORT)" in str(err.value)


def test_secrets_are_never_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, GOOD + "http:\n  port: banana\n")
    with pytest.raises(SystemExit):
        main(["--config", str(path), "check-config"])
    out = capsys.readouterr()
    assert "http.port" in out.err
    assert "hunter2" not in out.err + out.out and "a-secret-that" not in out.err + out.out
    assert main(["--config", str(_write(tmp_path, GOOD)), "check-config"]) == 0
    out = capsys.readouterr()
    assert "hunter2" not in out.out and "***" in out.out


def test_mask_url() -> None:
    assert (
        mask_url("postgresql+asyncpg://cg:s3cret@db:5432/cg")
        == "postgresql+asyncpg://cg:***@db:5432/cg"
    )
    assert mask_url("sqlite+aiosqlite:///var/x.db") == "sqlite+aiosqlite:///var/x.db"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yaml")
