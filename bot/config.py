"""One typed settings object, built at the entry point.

``.env`` is read with python-dotenv and the real environment wins
(``load_dotenv(override=False)``). Nothing else in Heedful reads ``os.environ``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# Google's own endpoints (a downloaded OAuth client JSON names the same ones).
DEFAULT_GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
DEFAULT_GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
DEFAULT_GOOGLE_CALENDAR_API_URL = "https://www.googleapis.com/calendar/v3/"
# Microsoft's own endpoints: the Entra ID authority (the tenant is joined on) and Graph v1.0.
DEFAULT_MICROSOFT_AUTHORITY_URL = "https://login.microsoftonline.com"
DEFAULT_MICROSOFT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
# A tenant segment: common, organizations, consumers, a GUID or a domain name.
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$")


# HEEDFUL_LOG_FORMAT: one line of text per message (the default), or one JSON object.
LOG_FORMATS = ("text", "json")


class ConfigError(Exception):
    """A setting is missing or malformed. The message is one line for the user."""


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    database_url: str = "sqlite:///heedful.db"
    host: str = "127.0.0.1"
    port: int = 3000
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    log_level: str = "INFO"
    log_format: str = "text"
    auto_migrate: bool = True
    tick_seconds: float = 0.25
    sender_lease_seconds: float = 120.0
    # The starting (and highest) pace of posts per workspace and method: ``bot.budget``.
    slack_messages_per_minute: float = 300.0
    # How far ahead reminders and questions are handed to Slack (``bot.prescheduler``);
    # 0 turns pre-scheduling off. At most 119 days: Slack refuses more than 120.
    preschedule_hours: float = 36.0
    calendar_poll_minutes: int = 5
    retention_days: int = 365
    allow_private_feeds: bool = False
    public_url: str | None = None
    google_client_id: str | None = None
    google_client_secret: str | None = field(default=None, repr=False)
    google_auth_uri: str = DEFAULT_GOOGLE_AUTH_URI
    google_token_uri: str = DEFAULT_GOOGLE_TOKEN_URI
    google_calendar_api_url: str = DEFAULT_GOOGLE_CALENDAR_API_URL
    microsoft_client_id: str | None = None
    microsoft_client_secret: str | None = field(default=None, repr=False)
    microsoft_tenant: str = "common"
    microsoft_authority_url: str = DEFAULT_MICROSOFT_AUTHORITY_URL
    microsoft_graph_url: str = DEFAULT_MICROSOFT_GRAPH_URL

    @property
    def google_enabled(self) -> bool:
        """Google Calendar can be connected: a client and a public address are set."""
        return bool(self.google_client_id and self.google_client_secret and self.public_url)

    @property
    def microsoft_enabled(self) -> bool:
        """Microsoft 365 calendars can be connected: an Entra ID app and a public address
        are set."""
        return bool(self.microsoft_client_id and self.microsoft_client_secret and self.public_url)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    def require_slack(self) -> None:
        """Raise :class:`ConfigError` naming the first missing, placeholder or misshapen
        credential for ``heedful run`` (checked before anything is created or contacted).
        In Socket Mode the signing secret is not used, so it is not checked."""
        if not self.slack_bot_token:
            raise ConfigError(_missing("SLACK_BOT_TOKEN"))
        _check_credential("SLACK_BOT_TOKEN", self.slack_bot_token, "xoxb-")
        if self.slack_app_token:
            _check_credential("SLACK_APP_TOKEN", self.slack_app_token, "xapp-")
        elif not self.slack_signing_secret:
            raise ConfigError(
                _missing("SLACK_SIGNING_SECRET", also="or SLACK_APP_TOKEN for Socket Mode")
            )
        else:
            _check_credential("SLACK_SIGNING_SECRET", self.slack_signing_secret, "")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from a mapping of environment variables (pure; no I/O)."""

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        api_url = get("SLACK_API_URL") or DEFAULT_SLACK_API_URL
        if not api_url.endswith("/"):
            api_url += "/"
        keys = tuple(k.strip() for k in (get("HEEDFUL_ENCRYPTION_KEY") or "").split(",") if k)
        google_api = get("GOOGLE_CALENDAR_API_URL") or DEFAULT_GOOGLE_CALENDAR_API_URL
        if not google_api.endswith("/"):
            google_api += "/"
        return cls(
            public_url=_public_url(get("HEEDFUL_PUBLIC_URL")),
            google_client_id=get("GOOGLE_CLIENT_ID"),
            google_client_secret=get("GOOGLE_CLIENT_SECRET"),
            google_auth_uri=_endpoint(get("GOOGLE_AUTH_URI"), "GOOGLE_AUTH_URI")
            or DEFAULT_GOOGLE_AUTH_URI,
            google_token_uri=_endpoint(get("GOOGLE_TOKEN_URI"), "GOOGLE_TOKEN_URI")
            or DEFAULT_GOOGLE_TOKEN_URI,
            google_calendar_api_url=_endpoint(google_api, "GOOGLE_CALENDAR_API_URL") or google_api,
            microsoft_client_id=get("MICROSOFT_CLIENT_ID"),
            microsoft_client_secret=get("MICROSOFT_CLIENT_SECRET"),
            microsoft_tenant=_tenant(get("MICROSOFT_TENANT")),
            microsoft_authority_url=_authority(get("MICROSOFT_AUTHORITY_URL")),
            microsoft_graph_url=(
                _endpoint(get("MICROSOFT_GRAPH_URL"), "MICROSOFT_GRAPH_URL")
                or DEFAULT_MICROSOFT_GRAPH_URL
            ).rstrip("/"),
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_app_token=get("SLACK_APP_TOKEN"),
            slack_api_url=api_url,
            database_url=get("DATABASE_URL") or "sqlite:///heedful.db",
            host=get("HEEDFUL_HOST") or "127.0.0.1",
            port=_int(get("HEEDFUL_PORT"), "HEEDFUL_PORT", 3000, low=0, high=65535),
            encryption_keys=keys,
            log_level=get("HEEDFUL_LOG_LEVEL") or "INFO",
            log_format=_choice(get("HEEDFUL_LOG_FORMAT"), "HEEDFUL_LOG_FORMAT", LOG_FORMATS),
            auto_migrate=_bool(get("HEEDFUL_AUTO_MIGRATE"), "HEEDFUL_AUTO_MIGRATE", True),
            tick_seconds=_float(get("HEEDFUL_TICK_SECONDS"), "HEEDFUL_TICK_SECONDS", 0.25),
            sender_lease_seconds=_float(
                get("HEEDFUL_SENDER_LEASE_SECONDS"),
                "HEEDFUL_SENDER_LEASE_SECONDS",
                120.0,
                low=1.0,
                high=3600.0,
            ),
            slack_messages_per_minute=_float(
                get("HEEDFUL_SLACK_MESSAGES_PER_MINUTE"),
                "HEEDFUL_SLACK_MESSAGES_PER_MINUTE",
                300.0,
                low=1.0,
                high=100_000.0,
            ),
            preschedule_hours=_float(
                get("HEEDFUL_PRESCHEDULE_HOURS"),
                "HEEDFUL_PRESCHEDULE_HOURS",
                36.0,
                low=0.0,
                high=119 * 24.0,
            ),
            allow_private_feeds=_bool(
                get("HEEDFUL_ALLOW_PRIVATE_FEEDS"), "HEEDFUL_ALLOW_PRIVATE_FEEDS", False
            ),
            retention_days=_int(
                get("HEEDFUL_RETENTION_DAYS"), "HEEDFUL_RETENTION_DAYS", 365, low=1, high=3650
            ),
            calendar_poll_minutes=_int(
                get("HEEDFUL_CALENDAR_POLL_MINUTES"),
                "HEEDFUL_CALENDAR_POLL_MINUTES",
                5,
                low=1,
                high=1440,
            ),
        )


def load_settings(env_file: str | Path | None = ".env") -> Settings:
    """Settings from ``.env`` (if present) and the environment; the real environment wins.

    Same precedence as ``load_dotenv(override=False)``, without copying the file into
    ``os.environ`` (so no library can pick a secret up behind our back).
    """
    from dotenv import dotenv_values

    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    return Settings.from_env({**values, **os.environ})


# Where each Slack credential is found in the app's settings.
_WHERE = {
    "SLACK_BOT_TOKEN": "the Bot User OAuth Token (OAuth & Permissions, xoxb-…)",
    "SLACK_SIGNING_SECRET": "the Signing Secret (Basic Information)",
    "SLACK_APP_TOKEN": "an App-Level Token with connections:write (Basic Information, xapp-…)",
}
# The values .env.example ships with (tests/test_config.py keeps this list in step).
EXAMPLE_VALUES = frozenset({"xoxb-your-bot-token", "your-signing-secret", "xapp-your-app-token"})
# Words no real token or secret holds as a whole part (they are digits, hex or random
# letters between dashes), so a value that does is someone's placeholder.
_PLACEHOLDER_WORDS = frozenset(
    {
        "your",
        "yours",
        "changeme",
        "change",
        "placeholder",
        "replace",
        "replaceme",
        "todo",
        "fixme",
        "fill",
        "insert",
        "example",
        "dummy",
        "fake",
        "here",
    }
)
_PLACEHOLDER_SIGNS = ("<", ">", "...", "…", "{", "}", "*")


def is_placeholder(value: str) -> bool:
    """Whether a credential is a stand-in rather than a value from Slack: the exact
    values of .env.example, or an obviously fake shape (``<token>``, ``xoxb-...``,
    ``xoxb-xxxx``, ``your-secret-here``, ``changeme``)."""
    lowered = value.strip().lower()
    if re.fullmatch(r"(xox[a-z]|xapp)-?", lowered):  # only the prefix
        return True
    if lowered in EXAMPLE_VALUES or any(sign in lowered for sign in _PLACEHOLDER_SIGNS):
        return True
    parts = [p for p in re.split(r"[-_.:\s]+", lowered) if p]
    if not parts:
        return True
    return any(p in _PLACEHOLDER_WORDS or re.fullmatch(r"x{3,}|0{6,}", p) for p in parts)


def _check_credential(name: str, value: str, prefix: str) -> None:
    """A placeholder, or a token of the wrong kind (``prefix``), is a one-line error
    that never echoes the value."""
    if is_placeholder(value):
        raise ConfigError(
            f"heedful: {name} still holds a placeholder, not a value from Slack; "
            f"put {_WHERE[name]} there (https://api.slack.com/apps → your app)."
        )
    if value.startswith(prefix):
        return
    found = re.match(r"(xox[a-z]|xapp)-", value)
    seen = f"this one starts with {found.group(0)!r}" if found else "this one does not"
    raise ConfigError(
        f"heedful: {name} must start with {prefix} and {seen}; put {_WHERE[name]} there."
    )


def _missing(name: str, *, also: str = "") -> str:
    extra = f" ({also})" if also else ""
    return (
        f"heedful: {name} is not set{extra}; put it in .env or the environment, "
        "or try `heedful demo`, which needs no Slack account."
    )


def _int(raw: str | None, name: str, default: int, *, low: int, high: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"heedful: {name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"heedful: {name} must be between {low} and {high}, not {value}")
    return value


def _float(
    raw: str | None, name: str, default: float, *, low: float = 0.01, high: float = 60.0
) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"heedful: {name} must be a number of seconds, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"heedful: {name} must be between {low:g} and {high:g}, not {value:g}")
    return value


def _choice(raw: str | None, name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (case-insensitive); the first when unset."""
    if raw is None:
        return choices[0]
    lowered = raw.lower()
    if lowered in choices:
        return lowered
    raise ConfigError(f"heedful: {name} must be {' or '.join(choices)}, not {raw!r}")


def _bool(raw: str | None, name: str, default: bool) -> bool:
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"heedful: {name} must be true or false, not {raw!r}")


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def is_loopback_http(url: str) -> bool:
    """``http://`` on this machine: a local fake (tests, the demo), never a real provider."""
    parts = urlsplit(url)
    return parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK


def _endpoint(raw: str | None, name: str) -> str | None:
    """A provider endpoint: https, or http on loopback (a local fake)."""
    if raw is None:
        return None
    parts = urlsplit(raw)
    if not parts.hostname or not (parts.scheme == "https" or is_loopback_http(raw)):
        raise ConfigError(
            f"heedful: {name} must be an https:// address (http:// only on 127.0.0.1 or "
            f"localhost, for a local fake), not {raw!r}"
        )
    return raw


def _tenant(raw: str | None) -> str:
    """MICROSOFT_TENANT: common (any work, school or personal account), organizations,
    consumers, or one directory's GUID or domain."""
    if raw is None:
        return "common"
    if not _TENANT.match(raw):
        raise ConfigError(
            "heedful: MICROSOFT_TENANT must be common, organizations, consumers, or a "
            f"directory (tenant) ID or domain, not {raw!r}"
        )
    return raw


def _authority(raw: str | None) -> str:
    """MICROSOFT_AUTHORITY_URL: https only (MSAL refuses any other authority), no path,
    no trailing slash; the tenant is joined on."""
    if raw is None:
        return DEFAULT_MICROSOFT_AUTHORITY_URL
    parts = urlsplit(raw)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.path.strip("/"):
        raise ConfigError(
            "heedful: MICROSOFT_AUTHORITY_URL must be an https:// host such as "
            f"{DEFAULT_MICROSOFT_AUTHORITY_URL} (no path: MICROSOFT_TENANT is joined on), "
            f"not {raw!r}"
        )
    return raw.rstrip("/")


def _public_url(raw: str | None) -> str | None:
    """HEEDFUL_PUBLIC_URL: where Google and browsers reach Heedful (no trailing slash)."""
    if raw is None:
        return None
    parts = urlsplit(raw)
    if not parts.hostname or parts.query or not (parts.scheme == "https" or is_loopback_http(raw)):
        raise ConfigError(
            "heedful: HEEDFUL_PUBLIC_URL must be the https:// address at which browsers and "
            f"Google reach Heedful, such as https://heedful.example.com, not {raw!r}"
        )
    return raw.rstrip("/")
