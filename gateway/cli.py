"""The ``contact-gateway`` command: run, check-config, migrate, user add/list, simulate, secret."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.logs import configure_logging
from gateway.model import Role
from gateway.settings import ConfigError, Settings, load_settings, mask_url

DEFAULT_CONFIG = "config/demo.yaml"


def config_path(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> str:
    """Which configuration file a command reads: ``--config`` after the subcommand, else
    ``--config`` before it, else ``$CG_CONFIG``, else config/demo.yaml."""
    return (
        getattr(args, "config_after", None)
        or args.config_before
        or environ.get("CG_CONFIG")
        or DEFAULT_CONFIG
    )


class DatabaseUnavailable(Exception):
    """A command could not use the database; the message says what to do."""


def _database_failure(exc: BaseException, url: str) -> str:
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"cannot use the database {mask_url(url)}: {reason[0] if reason else type(exc).__name__}"


async def _ready_database(settings: Settings) -> None:
    """Bring the schema up to date as ``run`` does (``database.migrate_on_start``), or refuse
    with what to do when the database is not at the code's revision."""
    from gateway.storage.migrate import current_revision, head_revision, upgrade_async

    url = settings.database.url
    if settings.database.migrate_on_start:
        await upgrade_async(url)
        return
    current, head = await current_revision(url), head_revision()
    if current != head:
        state = "was never migrated" if current is None else f"is at revision {current}"
        raise DatabaseUnavailable(
            f"the database {mask_url(url)} {state}, this version needs {head}: "
            "run `contact-gateway migrate`"
        )


async def _checked_database(settings: Settings) -> int:
    await _ready_database(settings)
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    args.config = config_path(args)
    from channels.registry import CHANNELS

    try:
        settings = load_settings(args.config)
        problems = CHANNELS.problems(settings)
        if problems:
            raise ConfigError([f"{args.config or '<defaults>'}: {p}" for p in problems])
        return settings
    except ConfigError as exc:
        print("configuration is not valid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    if not settings.database.migrate_on_start:  # a schema that is not at head: say so
        refused = _with_database(settings, _checked_database(settings))
        if refused != 0:
            return refused
    from gateway.app import create_app

    app = create_app(settings)
    print(
        f"Contact Gateway on {settings.http.public_url}  "
        f"(demo site {settings.http.public_url}/demo, console {settings.http.public_url}/console)",
        file=sys.stderr,
    )
    from gateway.menus.ivr_menus import MenuProblems
    from routing.config import RoutingConfigError

    try:
        web.run_app(
            app,
            host=settings.http.host,
            port=settings.http.port,
            shutdown_timeout=settings.http.shutdown_timeout_seconds,
            print=None,
            access_log=None,
        )
    except MenuProblems as exc:  # a broken menu file is not published, and not started with
        print("IVR menus are not valid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except RoutingConfigError as exc:
        print(f"routing rules are not valid: {exc}", file=sys.stderr)
        return 2
    except _database_errors() as exc:
        print(_database_failure(exc, settings.database.url), file=sys.stderr)
        return 1
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(f"{args.config}: ok")
    print(f"  database: {mask_url(settings.database.url)}")
    broker = mask_url(settings.amqp.url.get_secret_value())
    print(f"  broker:   {broker} (prefix {settings.amqp.prefix})")
    print(f"  http:     {settings.http.host}:{settings.http.port} ({settings.http.public_url})")
    channels = ["webchat"]
    if settings.twilio.enabled:
        channels.append("sms and whatsapp (Twilio)")
    if settings.telegram.enabled:
        channels.append(f"telegram ({settings.telegram.mode})")
    if settings.email.enabled:
        channels.append(f"email ({settings.email.support_address} on port {settings.email.port})")
    print(f"  channels: {', '.join(channels)}")
    queues: set[str] | None = None
    skills: set[str] | None = None
    if settings.routing.rules_file:
        from routing.config import RoutingConfigError, load_routing

        try:
            routing = load_routing(settings.routing.rules_file)
        except RoutingConfigError as exc:
            print("routing rules are not valid:", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return 2
        print(
            f"  routing:  {settings.routing.rules_file}: {len(routing.skills)} skills, "
            f"{len(routing.queues)} queues, {len(routing.rules)} rules"
        )
        queues, skills = set(routing.queues), set(routing.skills)
    topics: set[str] | None = None
    if settings.appeals.topics_file:
        topics = _check_topics(settings.appeals.topics_file, queues)
        if topics is None:
            return 2
    return _check_ivr(args.config, settings, queues, skills, topics)


def _check_topics(path: str, queues: set[str] | None) -> set[str] | None:
    """Validate the appeal topics file against the routing's queues (docs/appeals.md); the
    topics' names (which the menus' appeal nodes may name), None when it is not valid."""
    from appeals.topics import TopicsConfigError, load_topics_file

    try:
        config, _text = load_topics_file(path, queues if queues is not None else {"general"})
    except TopicsConfigError as exc:
        print("appeal topics are not valid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None
    print(f"  topics:   {path}: {len(config.topics)} topics, {len(config.calendars)} calendars")
    return set(config.topics)


def _check_ivr(
    config: str,
    settings: Settings,
    queues: set[str] | None,
    skills: set[str] | None,
    topics: set[str] | None = None,
) -> int:
    """Validate the IVR menus (``ivr.directory``, else the ``ivr`` directory next to the
    routing rules file or the configuration file) against the routing's queues and skills,
    and that every channel's menu exists; an appeal node must name one of ``topics`` (when
    the topics file is known)."""
    from gateway.menus.ivr_menus import default_directory
    from ivr.validate import check_directory

    directory = settings.ivr.directory or default_directory(settings.routing.rules_file, config)
    if directory is None or not Path(directory).is_dir():
        if settings.ivr.channels:
            print("IVR menus are not valid:", file=sys.stderr)
            print(f"  ivr.channels names menus but there is no menu directory ({directory})",
                  file=sys.stderr)  # fmt: skip
            return 2
        return 0
    menus, problems = check_directory(directory, queues=queues, skills=skills, topics=topics)
    ids = {m.menu.id for m in menus}
    missing = {c: m for c, m in settings.ivr.channels.items() if m not in ids}
    if problems or missing:
        print("IVR menus are not valid:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        for channel, menu in sorted(missing.items()):
            print(f"  ivr.channels.{channel}: no menu {menu!r} in {directory}", file=sys.stderr)
        return 2
    names = ", ".join(m.menu.id for m in menus) or "none"
    count = f"{len(menus)} menu" + ("" if len(menus) == 1 else "s")
    print(f"  ivr:      {directory}: {count} ({names})")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from gateway.storage.migrate import upgrade

    settings = _settings(args)
    try:
        upgrade(settings.database.url, args.revision)
    except _database_errors() as exc:
        print(_database_failure(exc, settings.database.url), file=sys.stderr)
        return 1
    print(f"database at {args.revision}: {mask_url(settings.database.url)}")
    return 0


async def _user_add(settings: Settings, args: argparse.Namespace, password: str) -> int:
    from gateway.storage.database import Database
    from gateway.storage.users import UserExists, UserStore

    await _ready_database(settings)
    db = Database(settings.database.url)
    try:
        users = UserStore(db)
        try:
            user = await users.add(
                args.username, password, Role(args.role), args.display_name or ""
            )
        except UserExists:
            print(f"user {args.username!r} exists already", file=sys.stderr)
            return 1
        print(f"added {user.role.value} {user.username!r} (id {user.id})")
        if args.token:
            print(f"api token: {await users.create_api_token(user, 'cli')}")
        return 0
    finally:
        await db.dispose()


def cmd_user_add(args: argparse.Namespace) -> int:
    settings = _settings(args)
    password = os.environ.get("CG_NEW_USER_PASSWORD") or ""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not password:
        password = getpass.getpass(f"password for {args.username}: ")
    if len(password) < 8:
        print("the password must have at least 8 characters", file=sys.stderr)
        return 2
    return _with_database(settings, _user_add(settings, args, password))


async def _user_list(settings: Settings) -> int:
    from gateway.storage.database import Database
    from gateway.storage.users import UserStore

    await _ready_database(settings)
    db = Database(settings.database.url)
    try:
        for user in await UserStore(db).list():
            print(f"{user.id:>5}  {user.username:<24} {user.role.value:<11} {user.display_name}")
    finally:
        await db.dispose()
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    return _with_database(settings, _user_list(settings))


# What reaching a database that is away, refuses us, or has no schema raises.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError)


def _database_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import DBAPIError

    return (DBAPIError, *DATABASE_ERRORS)


def _with_database(settings: Settings, work: Coroutine[Any, Any, int]) -> int:
    """Run a command's database work; a database that cannot be used is one clear line."""
    try:
        return asyncio.run(work)
    except DatabaseUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except _database_errors() as exc:
        print(_database_failure(exc, settings.database.url), file=sys.stderr)
        return 1


def cmd_simulate(args: argparse.Namespace) -> int:
    from channels.registry import CHANNELS
    from gateway.registry import Simulation
    from gateway.simulate import (
        SimulationError,
        deliver,
        send_email,
        telegram_webhook,
        twilio_webhook,
    )

    settings = _settings(args)
    how = CHANNELS.simulation(args.channel)
    if how is Simulation.CALL:
        return _simulate_call(settings, args)
    if not args.text:
        print(f'say what the customer writes: simulate {args.channel} "Hello"', file=sys.stderr)
        return 2
    if how is Simulation.SMTP:
        try:
            answer = asyncio.run(send_email(settings, args.email_from, args.subject, args.text))
        except SimulationError as exc:
            print(f"cannot simulate email: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"no SMTP server answers on {settings.email.port}: {exc}", file=sys.stderr)
            return 1
        print(f"email -> {settings.email.host}:{settings.email.port}: {answer}")
        return 0
    try:
        if how is Simulation.TWILIO:
            webhook = twilio_webhook(settings, args.channel, args.sender, args.to, args.text)
        else:
            webhook = telegram_webhook(settings, args.chat_id, args.name, args.text)
    except SimulationError as exc:
        print(f"cannot simulate {args.channel}: {exc}", file=sys.stderr)
        return 2
    base = args.url or f"http://{settings.http.host}:{settings.http.port}"
    try:
        status, body = asyncio.run(deliver(base, webhook))
    except OSError as exc:
        print(f"no gateway answers at {base}: {exc}", file=sys.stderr)
        return 1
    print(f"{args.channel} webhook -> {base}{webhook.path}: HTTP {status} {body[:200]}")
    return 0 if status == 200 else 1


def _simulate_call(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.simulate import SimulationError, call

    base = args.url or f"http://{settings.http.host}:{settings.http.port}"
    answers = args.text.split() if args.text else []
    try:
        transcript = asyncio.run(call(settings, base, answers, args.sender, args.to))
    except SimulationError as exc:
        print(f"cannot simulate a call: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"no gateway answers at {base}: {exc}", file=sys.stderr)
        return 1
    for line in transcript:
        print(f"  caller {line}")
    return 0


@dataclass(frozen=True)
class _Subparsers:
    """Subcommands that each accept ``--config`` after their name too."""

    actions: Any

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self.actions.add_parser(name, **kwargs)
        parser.add_argument(
            "--config",
            dest="config_after",
            metavar="FILE",
            default=argparse.SUPPRESS,
            help="YAML configuration (wins over --config before the command and $CG_CONFIG)",
        )
        return parser


def cmd_secret(_args: argparse.Namespace) -> int:
    from gateway.secrets_check import new_secret_key

    print(new_secret_key())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="contact-gateway", description=__doc__)
    parser.add_argument(
        "--config",
        dest="config_before",
        metavar="FILE",
        help=f"YAML configuration (default: $CG_CONFIG, else {DEFAULT_CONFIG}); "
        "also accepted after the command, which wins",
    )
    sub = _Subparsers(parser.add_subparsers(dest="command", required=True))
    sub.add_parser("run", help="start the gateway").set_defaults(func=cmd_run)
    sub.add_parser("check-config", help="validate the configuration").set_defaults(
        func=cmd_check_config
    )
    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(func=cmd_migrate)
    user = sub.add_parser("user", help="manage operators, supervisors and admins")
    user_sub = _Subparsers(user.add_subparsers(dest="user_command", required=True))
    add = user_sub.add_parser(
        "add", help="add a user (password from a prompt, stdin or $CG_NEW_USER_PASSWORD)"
    )
    add.add_argument("username")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.OPERATOR.value)
    add.add_argument("--display-name")
    add.add_argument("--password-stdin", action="store_true")
    add.add_argument("--token", action="store_true", help="also print a new API bearer token")
    add.set_defaults(func=cmd_user_add)
    user_sub.add_parser("list", help="list users").set_defaults(func=cmd_user_list)
    simulate = sub.add_parser(
        "simulate",
        help="send a running gateway a signed SMS, WhatsApp, Telegram message, or an email",
    )
    from channels.registry import CHANNELS

    simulate.add_argument("channel", choices=CHANNELS.simulated())
    simulate.add_argument(
        "text",
        nargs="?",
        default="",
        help="what the customer writes; for a call, the answers in turn: keys (1, 123456#), "
        'words, or - for silence, e.g. "2 123456"',
    )
    simulate.add_argument("--from", dest="sender", default="+15557654321", help="SMS/WhatsApp/call")
    simulate.add_argument("--to", default="+15550001111", help="our number (SMS/WhatsApp/call)")
    simulate.add_argument("--chat-id", type=int, default=424242, help="Telegram chat id")
    simulate.add_argument("--name", default="Test Customer", help="Telegram first name")
    simulate.add_argument("--url", help="the gateway (default: http.host and http.port)")
    simulate.add_argument("--email-from", default="customer@example.org", help="email sender")
    simulate.add_argument("--subject", default="A question", help="email subject")
    simulate.set_defaults(func=cmd_simulate)
    sub.add_parser(
        "secret", help="print a fresh random security.secret_key (needs no configuration)"
    ).set_defaults(func=cmd_secret)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
