"""The ``heedful`` command. Settings, engine, app and scheduler are built here, never
at import time. Every failure a person can cause ends in one line and an exit code,
never a traceback: 2 for a usage or configuration problem, 1 for anything else."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot import __version__
from bot.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from bot.services import Services

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heedful",
        description="Heedful: small nudges in Slack that help leaders listen and be present.",
    )
    parser.add_argument("--version", action="version", version=f"heedful {__version__}")
    parser.add_argument("--env-file", default=".env", help="settings file to read (default: .env)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="the whole product on a virtual clock, with no Slack account",
        description="Play a week of meetings through the real app against a built-in "
        "Slack emulator and print the conversation.",
    )
    from bot.demo import add_demo_arguments

    add_demo_arguments(demo)

    run = commands.add_parser("run", help="run the bot (needs Slack credentials in .env)")
    run.add_argument(
        "--role",
        choices=("all", "web", "worker"),
        default="all",
        help="all: serve and work (default); web: only receive from Slack; worker: only "
        "process the inbox and send",
    )

    calendar = commands.add_parser("calendar", help="calendar feeds: see what Heedful reads")
    calendar.set_defaults(own_help=(calendar, "calendar_command"))
    calendar_commands = calendar.add_subparsers(dest="calendar_command", metavar="ACTION")
    from bot.sync.preview import add_preview_arguments

    add_preview_arguments(
        calendar_commands.add_parser("preview", help="list a feed's meetings and their nudges")
    )
    _add_hook_arguments(calendar_commands)

    keys = commands.add_parser("keys", help="encryption at rest")
    keys.set_defaults(own_help=(keys, "keys_command"))
    keys_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    keys_commands.add_parser(
        "rotate",
        help="re-encrypt every stored secret and reflection with the first key of "
        "HEEDFUL_ENCRYPTION_KEY (after adding a new key in front, or setting one at all)",
    )

    db = commands.add_parser("db", help="database maintenance")
    db.set_defaults(own_help=(db, "db_command"))
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply pending migrations")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    own_help = getattr(args, "own_help", None)
    if own_help is not None and getattr(args, own_help[1]) is None:
        own_help[0].print_help()  # `heedful keys`, `heedful db`, …: a command without its action
        return 2
    try:
        if args.command == "demo":
            from bot.demo import run_demo
            from bot.logging_setup import configure_logging

            configure_logging("WARNING")
            try:
                return run_demo(args)
            except Exception as exc:  # a demo that breaks says so in one line
                logger.debug("the demo failed", exc_info=True)
                print(f"heedful: the demo stopped: {_one_line(exc)}", file=sys.stderr)
                return 1
        if args.command == "calendar" and args.calendar_command == "preview":
            from bot.sync.preview import run_preview

            return run_preview(args)
        settings = load_settings(args.env_file)
        if args.command == "calendar" and args.calendar_command == "hook":
            return _calendar_hook(settings, args)
        if args.command == "run":
            return _run(settings, role=args.role)
        if args.command == "db" and args.db_command == "upgrade":
            return _db_upgrade(settings)
        if args.command == "keys" and args.keys_command == "rotate":
            return _keys_rotate(settings)
        parser.print_help()
        return 2
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `heedful demo | head`: the reader left; leave quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _add_hook_arguments(
    calendar_commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    hook = calendar_commands.add_parser(
        "hook", help="signed webhook sources that push events to POST /hooks/calendar"
    )
    hook.set_defaults(own_help=(hook, "hook_command"))
    actions = hook.add_subparsers(dest="hook_command", metavar="ACTION")
    create = actions.add_parser("create", help="create a source; prints its secret (only once)")
    create.add_argument("name", help="what the source is, e.g. zapier")
    listing = actions.add_parser("list", help="the workspace's sources (never their secrets)")
    delete = actions.add_parser("delete", help="delete a source and the meetings it pushed")
    delete.add_argument("source_id", type=int, metavar="ID")
    for action in (create, listing, delete):
        action.add_argument("--team", help="workspace id (default: the one installed)")
        action.add_argument("--json", action="store_true", help="one JSON object per line")


def _calendar_hook(settings: Settings, args: argparse.Namespace) -> int:
    """``heedful calendar hook create|list|delete``: webhook sources of a workspace."""
    import json

    from sqlalchemy import select

    from bot.logging_setup import configure_logging
    from bot.services import build_services
    from bot.storage.db import pending_migrations, upgrade
    from bot.storage.models import Installation
    from bot.sync import hooks

    # An admin command: its output is the answer; only warnings go to stderr.
    configure_logging(
        "DEBUG" if settings.log_level.upper() == "DEBUG" else "WARNING",
        log_format=settings.log_format,
    )
    services = build_services(settings)
    try:
        # `create` writes a secret under the first key: check the keys before anything.
        if args.hook_command == "create" and not _keys_open_the_data(services):
            return 2
        if settings.auto_migrate:
            upgrade(services.engine)
        elif pending := pending_migrations(services.engine):
            print(f"heedful: run `heedful db upgrade` first (pending: {pending})", file=sys.stderr)
            return 2
        team = args.team
        if team is None:
            with services.engine.connect() as conn:
                t = Installation.__table__.c  # type: ignore[attr-defined]
                teams = list(conn.execute(select(t.team_id, t.uninstalled_at)))
            teams = [row.team_id for row in teams if row.uninstalled_at is None]
            if len(teams) != 1:
                print(
                    f"heedful: {len(teams)} workspaces are installed; name one with --team",
                    file=sys.stderr,
                )
                return 2
            team = teams[0]
        if args.hook_command == "create":
            source_id, secret = hooks.create_webhook_source(services, team_id=team, name=args.name)
            path = f"/hooks/calendar?source={source_id}"
            if args.json:
                print(json.dumps({"id": source_id, "team": team, "path": path, "secret": secret}))
            else:
                print(f"Webhook source {source_id} ({args.name}) for workspace {team}")
                print(f"  POST {path}")
                print(f"  signing secret: {secret}")
                print("  The secret is shown only this once; keep it with your automation.")
            return 0
        if args.hook_command == "list":
            for info in hooks.list_webhook_sources(services, team_id=team):
                created = info.created_at.isoformat() if info.created_at else None
                if args.json:
                    print(json.dumps({"id": info.id, "name": info.name, "created_at": created}))
                else:
                    print(f"{info.id}\t{info.name}\t{created or ''}")
            return 0
        if not hooks.delete_webhook_source(services, team_id=team, source_id=args.source_id):
            print(f"heedful: no webhook source {args.source_id} in {team}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps({"id": args.source_id, "deleted": True}))
        return 0
    except ValueError as exc:
        print(f"heedful: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        logger.debug("calendar hook command failed", exc_info=True)
        print(f"heedful: {_one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        services.engine.dispose()


def _db_upgrade(settings: Settings) -> int:
    from bot.logging_setup import configure_logging
    from bot.storage.db import make_engine, upgrade

    configure_logging(settings.log_level, log_format=settings.log_format)
    try:
        upgrade(make_engine(settings.database_url))
    except Exception as exc:
        logger.debug("migration failed", exc_info=True)
        print(f"heedful: could not upgrade the database: {_one_line(exc)}", file=sys.stderr)
        return 1
    return 0


def _keys_rotate(settings: Settings) -> int:
    from bot.logging_setup import configure_logging
    from bot.privacy import rotate_keys
    from bot.services import build_services

    configure_logging(settings.log_level, log_format=settings.log_format)
    if not settings.encryption_keys:
        print(
            "heedful: HEEDFUL_ENCRYPTION_KEY is not set: there is no key to rotate to",
            file=sys.stderr,
        )
        return 2
    services = build_services(settings)
    try:
        # A rotation under a wrong key would encrypt every plain value under it before
        # failing: refuse before touching anything.
        if not _keys_open_the_data(services, warn=False):
            return 2
        count = rotate_keys(services)
    except Exception as exc:
        logger.debug("key rotation failed", exc_info=True)
        print(f"heedful: could not re-encrypt: {_one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        services.engine.dispose()
    print(f"re-encrypted {count} values with the first key")
    return 0


def _keys_open_the_data(services: Services, *, warn: bool = True) -> bool:
    """Whether the configured keys open the stored encrypted data (:mod:`bot.keycheck`).
    When they do not, prints the one line saying what to do; its warnings are logged."""
    from bot.keycheck import check_keys

    verdict = check_keys(services.engine, services.cipher)
    if verdict.problem:
        print(verdict.problem, file=sys.stderr)
        return False
    for warning in verdict.warnings if warn else ():
        logger.warning("%s", warning)
    return True


def _run(settings: Settings, *, role: str) -> int:
    settings.require_slack()
    from bot.app import Heedful
    from bot.logging_setup import configure_logging
    from bot.services import build_services
    from bot.storage.db import pending_migrations, upgrade

    configure_logging(settings.log_level, log_format=settings.log_format)
    services = build_services(settings)
    try:
        # Before anything is written, migrations included (the check reads any schema).
        if not _keys_open_the_data(services):
            return 2
        if settings.auto_migrate:
            upgrade(services.engine)
        elif pending := pending_migrations(services.engine):
            print(
                f"heedful: the database needs migrations {pending}; run `heedful db upgrade`",
                file=sys.stderr,
            )
            return 2
        if not settings.encryption_keys:
            logger.warning(
                "HEEDFUL_ENCRYPTION_KEY is not set: reflections and tokens are stored in plain text"
            )
        services.install_from_token(settings.slack_bot_token or "")
    except Exception as exc:
        logger.debug("start-up failed", exc_info=True)
        print(f"heedful: could not start: {_one_line(exc)}", file=sys.stderr)
        return 1

    heedful = Heedful(
        services, serve_http=role in ("all", "web"), run_workers=role in ("all", "worker")
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        heedful.start()
    except Exception as exc:
        logger.debug("start-up failed", exc_info=True)
        print(f"heedful: could not start: {_one_line(exc)}", file=sys.stderr)
        heedful.stop()
        return 1
    logger.info(
        "Heedful is running (%s mode, role %s)", "socket" if settings.socket_mode else "http", role
    )
    stop.wait()
    logger.info("stopping")
    heedful.stop()
    return 0


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
