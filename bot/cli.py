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

from bot import __version__
from bot.config import ConfigError, Settings, load_settings

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heedful",
        description="Heedful: small nudges in Slack that help leaders listen and be present.",
    )
    parser.add_argument("--version", action="version", version=f"heedful {__version__}")
    parser.add_argument("--env-file", default=".env", help="settings file to read (default: .env)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot (needs Slack credentials in .env)")
    run.add_argument(
        "--role",
        choices=("all", "web", "worker"),
        default="all",
        help="all: serve and work (default); web: only receive from Slack; worker: only "
        "process the inbox and send",
    )

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply pending migrations")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        settings = load_settings(args.env_file)
        if args.command == "run":
            return _run(settings, role=args.role)
        if args.command == "db" and args.db_command == "upgrade":
            return _db_upgrade(settings)
        parser.print_help()
        return 2
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _db_upgrade(settings: Settings) -> int:
    from bot.logging_setup import configure_logging
    from bot.storage.db import make_engine, upgrade

    configure_logging(settings.log_level)
    try:
        upgrade(make_engine(settings.database_url))
    except Exception as exc:
        logger.debug("migration failed", exc_info=True)
        print(f"heedful: could not upgrade the database: {_one_line(exc)}", file=sys.stderr)
        return 1
    return 0


def _run(settings: Settings, *, role: str) -> int:
    settings.require_slack()
    from bot.app import Heedful
    from bot.logging_setup import configure_logging
    from bot.services import build_services
    from bot.storage.db import pending_migrations, upgrade

    configure_logging(settings.log_level)
    if not settings.encryption_keys:
        logger.warning(
            "HEEDFUL_ENCRYPTION_KEY is not set: reflections and tokens are stored in plain text"
        )
    services = build_services(settings)
    try:
        if settings.auto_migrate:
            upgrade(services.engine)
        elif pending := pending_migrations(services.engine):
            print(
                f"heedful: the database needs migrations {pending}; run `heedful db upgrade`",
                file=sys.stderr,
            )
            return 2
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
