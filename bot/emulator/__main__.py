"""``.venv/bin/python -m bot.emulator``: run the Slack emulator in the foreground until Ctrl-C.

Run it with the Python of Heedful's virtualenv (``.venv/bin/python``), from the
repository. Another Python lacks its dependencies: from the repository it gets one line
saying so (below); from elsewhere Python itself answers ``No module named 'bot'``
before any of Heedful's code runs, which no code of ours can catch.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from bot.emulator.limits import RateLimits
from bot.emulator.models import EmulatorError

try:
    from bot.emulator.emulator import SlackEmulator
except ModuleNotFoundError as missing:  # a Python without Heedful's dependencies
    if (missing.name or "bot").partition(".")[0] == "bot":
        raise
    print(
        f"python -m bot.emulator: {sys.executable} lacks Heedful's dependencies "
        f"(no module {missing.name!r}); run it with the project's virtualenv: "
        ".venv/bin/python -m bot.emulator",
        file=sys.stderr,
    )
    sys.exit(2)

logger = logging.getLogger(__name__)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=".venv/bin/python -m bot.emulator",
        description="Run the Slack Web API / Socket Mode emulator on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (keep loopback)")
    parser.add_argument("--port", type=int, default=0, help="HTTP port (default: chosen by OS)")
    parser.add_argument("--signing-secret", default="s3cr3t", help="secret for signed requests")
    parser.add_argument("--bot-token", default="xoxb-emulator")
    parser.add_argument("--app-token", default="xapp-emulator")
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="ID[:TZ[:EMAIL]]",
        help="add a user, e.g. U123:Europe/Berlin:ana@example.com (repeatable)",
    )
    parser.add_argument(
        "--rate-limits",
        action="store_true",
        help="answer 429 with Retry-After beyond Slack's rate limits (tiers 1-4 per method, "
        "chat.postMessage one a second per channel plus a workspace-wide rate)",
    )
    parser.add_argument(
        "--messages-per-second",
        type=float,
        default=None,
        metavar="R",
        help="workspace-wide chat.postMessage rate (implies --rate-limits; default 10)",
    )
    parser.add_argument("--verbose", action="store_true", help="log at INFO level")
    args = parser.parse_args(argv)
    if args.messages_per_second is not None and args.messages_per_second <= 0:
        parser.error("--messages-per-second must be positive")
    return args


def _add_users(emulator: SlackEmulator, specs: Sequence[str]) -> None:
    for spec in specs:
        user_id, _, rest = spec.partition(":")
        tz, _, email = rest.partition(":")
        if tz:
            emulator.add_user(user_id, tz=tz, email=email or None)
        else:
            emulator.add_user(user_id, email=email or None)


def _rate_limits(args: argparse.Namespace) -> RateLimits | None:
    if args.messages_per_second is not None:
        return RateLimits(messages_per_second=args.messages_per_second)
    return RateLimits() if args.rate_limits else None


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Start the emulator, print one line with its URL and tokens, wait for Ctrl-C."""
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    emulator = SlackEmulator(
        signing_secret=args.signing_secret,
        bot_token=args.bot_token,
        app_token=args.app_token,
        host=args.host,
        port=args.port,
        rate_limits=_rate_limits(args),
    )
    try:
        _add_users(emulator, args.user)
        emulator.start()
    except (EmulatorError, OSError) as exc:
        print(f"slack emulator: cannot start: {exc}", file=sys.stderr)
        return 2
    # Ctrl-C and SIGTERM stop it cleanly, also when it was started with SIGINT ignored
    # (as a shell without job control starts a command put in the background with `&`,
    # and Python then installs no KeyboardInterrupt handler of its own).
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        # Inside the try: a Ctrl-C that lands as soon as the line is out (a busy machine can
        # serve a request before this thread runs again) must still stop cleanly.
        print(
            f"Slack emulator ready: SLACK_API_URL={emulator.api_url} "
            f"SLACK_BOT_TOKEN={emulator.bot_token} SLACK_APP_TOKEN={emulator.app_token} "
            f"SLACK_SIGNING_SECRET={emulator.signing_secret}",
            flush=True,
        )
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
