"""The contact-gateway command: migrate, user add/list, and clear failures."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import build_parser, config_path, main
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


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (["check-config"], {}, "config/demo.yaml"),
        (["check-config"], {"CG_CONFIG": "env.yaml"}, "env.yaml"),
        (["--config", "before.yaml", "check-config"], {"CG_CONFIG": "env.yaml"}, "before.yaml"),
        (["check-config", "--config", "after.yaml"], {"CG_CONFIG": "env.yaml"}, "after.yaml"),
        (["--config", "before.yaml", "run", "--config", "after.yaml"], {}, "after.yaml"),
        (["migrate", "--config", "after.yaml", "--revision", "0001"], {}, "after.yaml"),
        (["user", "list", "--config", "after.yaml"], {}, "after.yaml"),
        (["user", "--config", "user.yaml", "list"], {}, "user.yaml"),
        (["user", "add", "ada", "--config", "after.yaml", "--token"], {}, "after.yaml"),
        (["simulate", "sms", "Hello", "--config", "after.yaml"], {}, "after.yaml"),
    ],
)
def test_config_before_or_after_the_command(
    argv: list[str], environ: dict[str, str], expected: str
) -> None:
    args = build_parser().parse_args(argv)
    assert config_path(args, environ) == expected


def test_check_config_with_config_after_the_command(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"{config}: ok" in done.stdout


def test_users_on_a_database_never_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    manual = str(write_config(tmp_path, database={"migrate_on_start": False}))
    for command in (["user", "list"], ["user", "add", "ada"]):
        monkeypatch.setenv("CG_NEW_USER_PASSWORD", "a-long-password")
        assert main([*command, "--config", manual]) == 1
        err = capsys.readouterr().err
        assert "was never migrated" in err and "run `contact-gateway migrate`" in err
        assert len(err.strip().splitlines()) == 1
    # `run` itself says the same instead of failing on a missing table.
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "run", "--config", manual],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "was never migrated" in done.stderr and "run `contact-gateway migrate`" in done.stderr
    # As `run` does: with database.migrate_on_start the command brings the schema up first.
    automatic = str(write_config(tmp_path))
    assert main(["user", "list", "--config", automatic]) == 0
    assert capsys.readouterr().err == ""


def test_a_database_that_cannot_be_reached_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    away = "postgresql+asyncpg://postgres@127.0.0.1:9/nowhere"  # the discard port: refused
    config = str(write_config(tmp_path, database={"url": away}))
    for command in (["user", "list"], ["migrate"]):
        assert main([*command, "--config", config]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("cannot use the database postgresql+asyncpg://"), err
        assert len(err.splitlines()) == 1
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "run", "--config", config],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "cannot use the database postgresql+asyncpg://" in done.stderr


def test_check_config_names_a_topics_mistake_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topics = tmp_path / "topics.yaml"
    topics.write_text(
        "topics:\n  refund:\n    title: {en: Refund}\n    category: request\n"
        "    route:\n      - {name: First line, queue: bilIing, max: 4h, may_resolve: true}\n"
    )
    config = str(write_config(tmp_path, appeals={"topics_file": str(topics)}))
    assert main(["--config", config, "check-config"]) == 2
    err = capsys.readouterr().err
    assert "appeal topics are not valid" in err
    assert "line 6" in err and "route[0].queue" in err and "bilIing" in err
    topics.write_text(topics.read_text().replace("bilIing", "general"))
    assert main(["--config", config, "check-config"]) == 0
    assert "topics:   " in capsys.readouterr().out


def test_check_config_checks_an_appeal_nodes_topic_against_the_topics_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topics = tmp_path / "topics.yaml"
    topics.write_text(
        "topics:\n  refund:\n    title: {en: Refund}\n    category: request\n"
        "    route:\n      - {name: First line, queue: general, max: 4h, may_resolve: true}\n"
    )
    menus = tmp_path / "ivr"
    menus.mkdir()
    (menus / "main.yaml").write_text(
        "id: main\nlanguages: [en]\nstart: open\nnodes:\n"
        "  open: {kind: appeal, topic: refnud, next: bye, fallback: bye}\n"
        "  bye: {kind: hangup}\n"
    )
    config = str(
        write_config(tmp_path, appeals={"topics_file": str(topics)}, ivr={"directory": str(menus)})
    )
    assert main(["--config", config, "check-config"]) == 2
    err = capsys.readouterr().err
    assert "main.yaml:5: node 'open': topic: unknown appeal topic 'refnud' (refund)" in err
    (menus / "main.yaml").write_text((menus / "main.yaml").read_text().replace("refnud", "refund"))
    assert main(["--config", config, "check-config"]) == 0
