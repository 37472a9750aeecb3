"""The contact-gateway command: migrate, user add/list, and clear failures."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from tests.support import write_config


def test_migrate_and_manage_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path))
    assert main(["--config", config, "migrate"]) == 0
    assert "database at head" in capsys.readouterr().out

    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert (
        main(
            [
                "--config",
                config,
                "user",
                "add",
                "ada",
                "--role",
                "operator",
                "--password-stdin",
                "--token",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "added operator 'ada'" in out and "api token: cgt_" in out
    assert "a-long-password" not in out

    monkeypatch.setenv("CG_NEW_USER_PASSWORD", "another-long-one")
    assert (
        main(
            [
                "--config",
                config,
                "user",
                "add",
                "sam",
                "--role",
                "supervisor",
                "--display-name",
                "Sam S",
            ]
        )
        == 0
    )
    assert main(["--config", config, "user", "add", "sam"]) == 1
    assert "exists already" in capsys.readouterr().err

    monkeypatch.setenv("CG_NEW_USER_PASSWORD", "short")
    assert main(["--config", config, "user", "add", "bob"]) == 2
    assert "at least 8" in capsys.readouterr().err

    assert main(["--config", config, "user", "list"]) == 0
    listing = capsys.readouterr().out
    assert (
        "ada" in listing and "operator" in listing and "Sam S" in listing and "bob" not in listing
    )


def test_bad_role_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(write_config(tmp_path)), "user", "add", "x", "--role", "king"])
    assert exit_.value.code == 2


def test_run_refuses_a_broken_menu_with_its_problems(tmp_path: Path) -> None:
    menus = tmp_path / "ivr"
    menus.mkdir()
    (menus / "main.yaml").write_text(
        "id: main\nlanguages: [en]\nstart: main\nnodes:\n"
        "  main: {kind: say, prompt: Hello., next: nowhere}\n"
    )
    config = write_config(
        tmp_path,
        http={"host": "127.0.0.1", "port": 0},
        ivr={"directory": str(menus)},
    )
    # In a process of its own: `run` configures logging for the whole process.
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(config), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    err = done.stderr
    assert "IVR menus are not valid:" in err
    assert "main.yaml:5: node 'main': next: unknown node 'nowhere'" in err
