"""Logging, configured once by the CLI.

Never log reflection text, tokens or request bodies: log ids, kinds and counts.
"""

from __future__ import annotations

import logging

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Configure the root logger once; quiet the chatty libraries."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO), format=_FORMAT, force=True
    )
    for noisy in (
        "apscheduler",
        "waitress.queue",
        "slack_sdk.socket_mode",
        "alembic.runtime",
        "httpx",  # logs whole request URLs, and a feed's URL is a secret
        "httpcore",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "maximum number of running instances reached" is expected: a wake-up while a job
    # drains is folded into that run (bot.scheduler.Drainer).
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
