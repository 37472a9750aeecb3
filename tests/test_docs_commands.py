"""Every command README.md and docs/*.md show is run as written, so the documentation cannot
drift from the command line again.

Commands come from ```sh / ```bash / ```shell / ```console blocks and from code spans in
table rows. ``contact-gateway`` commands run through bash exactly as written, from the worktree
with its .venv first on PATH, against a temporary database, a fresh RabbitMQ prefix and free
ports (environment overrides of config/demo.yaml); ``simulate`` commands against a gateway
started with the demo configuration in a subprocess; ``run`` is started, must become ready and
then stops cleanly on SIGTERM. What a test cannot run is checked another way: make targets must
exist (``make -n``), pytest commands must collect, ``python -c`` code must compile and its
imports resolve, ``docker compose`` needs the compose file. Anything else fails: a documented
command nobody checks is how the drift began.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import re
import shlex
import signal
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gateway.settings import load_settings
from tests.support import AMQP_URL, delete_broker_objects, free_port, provider_queues

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
SHELL_BLOCKS = {"sh", "bash", "shell", "console"}
FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
COMMAND_WORDS = ("contact-gateway", "make", "docker", "python", "pytest")
PASSWORD = "a-docs-test-password"


@dataclass(frozen=True)
class DocCommand:
    file: str
    line: int
    text: str

    @property
    def words(self) -> list[str]:
        """The command's words without leading VAR=value assignments and comments."""
        words = shlex.split(self.text, comments=True)
        while words and ASSIGNMENT.match(words[0]):
            words.pop(0)
        return words

    @property
    def program(self) -> str:
        return Path(self.words[0]).name if self.words else ""

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def _is_command(text: str) -> bool:
    try:
        words = shlex.split(text, comments=True)
    except ValueError:
        return False
    while words and ASSIGNMENT.match(words[0]):
        words.pop(0)
    return bool(words) and Path(words[0]).name.startswith(COMMAND_WORDS)


def extract(path: Path, text: str) -> list[DocCommand]:
    """The command lines of one Markdown document, with their line numbers."""
    name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
    found: list[DocCommand] = []
    lines = text.splitlines()
    language: str | None = None
    pending: tuple[int, str] | None = None
    for number, line in enumerate(lines, start=1):
        fence = FENCE.match(line)
        if fence:
            language = None if language is not None else fence.group(2).lower()
            pending = None
            continue
        if language is not None:
            if language not in SHELL_BLOCKS:
                continue
            if language == "console":
                if pending is None and not line.lstrip().startswith("$ "):
                    continue  # output, not a command
                line = line.lstrip().removeprefix("$ ")
            start, so_far = pending if pending is not None else (number, "")
            if line.rstrip().endswith("\\"):  # continued on the next line, as the shell reads it
                pending = (start, so_far + line.rstrip()[:-1])
                continue
            pending = None
            command = (so_far + line).strip()
            if command and not command.startswith("#"):
                found.append(DocCommand(name, start, command))
        elif line.lstrip().startswith("|"):
            for span in re.findall(r"`([^`]+)`", line):
                if _is_command(span):
                    found.append(DocCommand(name, number, span))
    return found


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def documented_commands() -> list[DocCommand]:
    return [c for path in documents() for c in extract(path, path.read_text())]


# -- how each kind of command is checked ------------------------------------------------------


@dataclass
class Sandbox:
    """Where a command runs: the worktree, its .venv first, isolated by environment."""

    env: dict[str, str]
    port: int
    prefix: str

    @classmethod
    def fresh(cls, directory: Path) -> Sandbox:
        port, prefix = free_port(), f"cgtest.docs.{uuid.uuid4().hex[:10]}"
        env = {
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "CG_DATABASE__URL": f"sqlite+aiosqlite:///{directory}/docs.sqlite3",
            "CG_AMQP__URL": AMQP_URL,
            "CG_AMQP__PREFIX": prefix,
            "CG_HTTP__PORT": str(port),
            "CG_HTTP__PUBLIC_URL": f"http://127.0.0.1:{port}",
            "CG_EMAIL__PORT": str(free_port()),
            "CG_LOG_FORMAT": "json",
            "CG_NEW_USER_PASSWORD": PASSWORD,  # `user add` would prompt for it
        }
        for name in ("CG_CONFIG", "DATABASE_URL", "AMQP_URL"):
            env.pop(name, None)
        return cls(env, port, prefix)

    def shell(self, text: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", text],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def start(self, text: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen(
                ["bash", "-c", f"exec {text}"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_ready(self, process: subprocess.Popen[bytes], log: Path) -> None:
        for _ in range(600):  # up to 60 s, answered as soon as /readyz says so
            if self.ready():
                return
            if process.poll() is not None:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.1)
        raise AssertionError(f"the gateway never became ready:\n{log.read_text()[-3000:]}")

    def clean_broker(self) -> None:
        env = {k: v for k, v in self.env.items() if k.startswith("CG_")}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            settings = load_settings(ROOT / "config" / "demo.yaml")
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        asyncio.run(delete_broker_objects(self.prefix, provider_queues(settings)))


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            raise
    return int(process.returncode)


def _subcommand(words: list[str]) -> str | None:
    """The contact-gateway subcommand (skipping the options before it)."""
    rest = words[1:]
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option == "--config" and rest:
            rest.pop(0)
    return rest[0] if rest else None


def problem(command: DocCommand, sandbox: Sandbox, tmp: Path) -> str | None:
    """Check one documented command; what is wrong with it, or None."""
    words = command.words
    program = command.program
    if program == "contact-gateway":
        if _subcommand(words) == "run":
            return _run(command, sandbox, tmp)
        done = sandbox.shell(command.text)
        if done.returncode != 0:
            return f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[-1500:]}"
        return None
    if program == "make":
        targets = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        for target in targets or ["run"]:
            defined = subprocess.run(
                ["make", "-n", "-C", str(ROOT), target],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if defined.returncode != 0:
                return f"make target {target!r}: {defined.stderr.strip()}"
        return None
    if program.startswith("python"):
        return _python(command)
    if program == "pytest":
        collected = sandbox.shell(f"{command.text} --collect-only -q")
        if collected.returncode != 0:
            return f"pytest does not collect it: {collected.stdout[-1500:]}{collected.stderr}"
        return None
    if program == "docker" and words[1:2] == ["compose"]:
        compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
        return None if compose.get("services") else "compose.yaml has no services"
    return f"no way to check {program!r} commands: teach tests/test_docs_commands.py"


def _run(command: DocCommand, sandbox: Sandbox, tmp: Path) -> str | None:
    log = tmp / "run.log"
    process = sandbox.start(command.text, log)
    try:
        sandbox.wait_ready(process, log)
    finally:
        status = stop(process)
        sandbox.clean_broker()
    if status != 0:
        return f"run stopped with exit {status}:\n{log.read_text()[-2000:]}"
    return None


def _python(command: DocCommand) -> str | None:
    words = command.words
    if not (VENV_BIN / Path(words[0]).name).exists():
        return f"{words[0]} does not exist"
    if "-m" in words:
        return _python_module(words[words.index("-m") + 1 :])
    if "-c" not in words:
        return "only `python -c` and `python -m` commands are checked"
    code = words[words.index("-c") + 1]
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return f"the code does not compile: {exc}"
    imports = ast.Module(
        body=[n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)], type_ignores=[]
    )
    checked = subprocess.run(
        [str(VENV_BIN / "python"), "-c", ast.unparse(imports)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return None if checked.returncode == 0 else f"its imports fail: {checked.stderr[-1000:]}"


def _python_module(words: list[str]) -> str | None:
    """``python -m module args [> file]``: the module runs with those arguments and succeeds
    (its output is read, not written over the file the docs name)."""
    if ">" in words:
        words = words[: words.index(">")]
    ran = subprocess.run(
        [str(VENV_BIN / "python"), "-m", *words],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return None if ran.returncode == 0 else f"exit {ran.returncode}: {ran.stderr[-1000:]}"


# -- the tests --------------------------------------------------------------------------------

COMMANDS = documented_commands()
SIMULATE = [
    c for c in COMMANDS if c.program == "contact-gateway" and _subcommand(c.words) == "simulate"
]
OTHERS = [c for c in COMMANDS if c not in SIMULATE]


@pytest.fixture(scope="module")
def demo_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The demo configuration served by `contact-gateway run` in a subprocess."""
    directory = tmp_path_factory.mktemp("demo-gateway")
    sandbox = Sandbox.fresh(directory)
    log = directory / "gateway.log"
    process = sandbox.start(f"{VENV_BIN}/contact-gateway --config config/demo.yaml run", log)
    try:
        sandbox.wait_ready(process, log)
        yield sandbox
    finally:
        stop(process)
        sandbox.clean_broker()


def test_the_documents_show_the_commands_we_expect() -> None:
    texts = {c.text.split("#")[0].strip() for c in COMMANDS}
    assert ".venv/bin/contact-gateway check-config --config config/demo.yaml" in texts
    assert '.venv/bin/contact-gateway simulate call "1"' in texts
    assert 'make test PYTEST_ARGS="-k webchat -x"' in texts  # a table cell
    assert any(c.program == "python" for c in COMMANDS)  # a continued line, joined
    assert len(SIMULATE) >= 4


@pytest.mark.parametrize("command", OTHERS, ids=[c.id for c in OTHERS])
def test_documented_command(command: DocCommand, tmp_path: Path) -> None:
    found = problem(command, Sandbox.fresh(tmp_path), tmp_path)
    assert found is None, f"{command.id}: `{command.text}`: {found}"


@pytest.mark.parametrize("command", SIMULATE, ids=[c.id for c in SIMULATE])
def test_documented_simulation(command: DocCommand, demo_gateway: Sandbox, tmp_path: Path) -> None:
    found = problem(command, demo_gateway, tmp_path)
    assert found is None, f"{command.id}: `{command.text}`: {found}"


def test_a_command_the_cli_does_not_have_is_caught(tmp_path: Path) -> None:
    doc = tmp_path / "made-up.md"
    doc.write_text(
        "Try:\n\n```sh\n"
        ".venv/bin/contact-gateway frobnicate\n"
        ".venv/bin/contact-gateway check-config --no-such-option\n"
        "contact-gateway user list --verbose\n"
        "make deploy\n"
        "```\n\n| command | what |\n| --- | --- |\n| `contact-gateway migrate --to 3` | x |\n"
    )
    commands = extract(doc, doc.read_text())
    assert [c.line for c in commands] == [4, 5, 6, 7, 12]
    sandbox = Sandbox.fresh(tmp_path)
    for command in commands:
        found = problem(command, sandbox, tmp_path)
        assert found is not None, command
    assert "invalid choice: 'frobnicate'" in (problem(commands[0], sandbox, tmp_path) or "")
    assert "unrecognized arguments: --no-such-option" in (
        problem(commands[1], sandbox, tmp_path) or ""
    )


def test_console_blocks_take_only_the_prompted_lines(tmp_path: Path) -> None:
    doc = tmp_path / "console.md"
    doc.write_text(
        "```console\n$ contact-gateway user list\n    1  ada   operator   Ada\n"
        "$ make lint \\\n  PYTEST_ARGS=-x\n```\n"
    )
    assert [(c.line, c.text) for c in extract(doc, doc.read_text())] == [
        (2, "contact-gateway user list"),
        (4, "make lint PYTEST_ARGS=-x"),
    ]
