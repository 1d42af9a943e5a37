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
    protect_private_logs()


# Loggers of libraries that write request or response bodies (which can hold reflection
# text) at these levels: Bolt's signature check logs the refused body at INFO, and
# slack-sdk logs every request and response body at DEBUG.
_BODY_LOGGERS = {
    "slack_bolt.RequestVerification": logging.WARNING,
    "slack_bolt.AsyncRequestVerification": logging.WARNING,
    "slack_sdk.web.base_client": logging.INFO,
    "slack_sdk.web.legacy_base_client": logging.INFO,
    "slack_sdk.socket_mode": logging.INFO,
}


class _DropTokenWarning(logging.Filter):
    """Bolt warns that a token from the environment is unused when we hand it an
    ``authorize`` function (tokens come from our installation table): not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def protect_private_logs() -> None:
    """Keep request bodies out of the logs, whatever the configured level. Idempotent;
    called by the service factory, so tests and the demo get it too."""
    for name, floor in _BODY_LOGGERS.items():
        log = logging.getLogger(name)
        if log.getEffectiveLevel() < floor:
            log.setLevel(floor)
    bolt = logging.getLogger("slack_bolt.App")
    if not any(isinstance(f, _DropTokenWarning) for f in bolt.filters):
        bolt.addFilter(_DropTokenWarning())
