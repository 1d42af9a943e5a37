"""The emulated workspace: users, DM channels, messages, views, files and recorded calls.

Every read and write goes through :class:`Workspace` under one lock; nothing here does I/O.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.emulator.limits import RateLimiter, RateLimits
from bot.emulator.models import Call, EmulatorError, Fault

refusals_logger = logging.getLogger("bot.emulator.refusals")

DEFAULT_TZ = "America/Los_Angeles"
# The bot scopes an app installed with Heedful's manifest.json holds (the tests check the
# two agree); ``SlackEmulator.revoke_scope`` takes one away, as an older install lacks it.
BOT_SCOPES = (
    "chat:write",
    "im:history",
    "im:write",
    "commands",
    "users:read",
    "users:read.email",
    "files:write",
    "reactions:write",
)

# Slack shows long zone names ("Central European Summer Time"); zoneinfo only knows the
# abbreviations, so the common ones are spelled out here and the rest fall back to the
# abbreviation itself.
_TZ_LABELS = {
    "UTC": "Coordinated Universal Time",
    "GMT": "Greenwich Mean Time",
    "BST": "British Summer Time",
    "IST": "India Standard Time",
    "CET": "Central European Time",
    "CEST": "Central European Summer Time",
    "EET": "Eastern European Time",
    "EEST": "Eastern European Summer Time",
    "WET": "Western European Time",
    "WEST": "Western European Summer Time",
    "EST": "Eastern Standard Time",
    "EDT": "Eastern Daylight Time",
    "CST": "Central Standard Time",
    "CDT": "Central Daylight Time",
    "MST": "Mountain Standard Time",
    "MDT": "Mountain Daylight Time",
    "PST": "Pacific Standard Time",
    "PDT": "Pacific Daylight Time",
    "JST": "Japan Standard Time",
    "AEST": "Australian Eastern Standard Time",
    "AEDT": "Australian Eastern Daylight Time",
}


@dataclass(frozen=True)
class EmulatorConfig:
    """Identity of the emulated workspace and app."""

    signing_secret: str = "s3cr3t"
    team_id: str = "T0001"
    team_name: str = "Acme"
    bot_token: str = "xoxb-emulator"
    app_token: str = "xapp-emulator"
    bot_user_id: str = "UHEEDFUL"
    bot_id: str = "BHEEDFUL"
    app_id: str = "AHEEDFUL"
    verification_token: str = "emulator-verification-token"

    @property
    def team_domain(self) -> str:
        """The workspace's subdomain, derived from its name."""
        return "".join(ch for ch in self.team_name.lower() if ch.isalnum()) or "workspace"

    @property
    def team_url(self) -> str:
        """The workspace URL as ``auth.test`` reports it."""
        return f"https://{self.team_domain}.slack.com/"


def ts_key(ts: str) -> int:
    """Turn a Slack ts (``"1767225600.000100"``) into integer microseconds for ordering."""
    seconds, _, fraction = str(ts).partition(".")
    return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])


def ts_from_key(key: int) -> str:
    """Inverse of :func:`ts_key`."""
    return f"{key // 1_000_000}.{key % 1_000_000:06d}"


def tz_fields(tz: str, now: float | None = None) -> dict[str, Any]:
    """``tz``, ``tz_label`` and ``tz_offset`` as Slack reports them, for the instant ``now``."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise EmulatorError(f"unknown time zone: {tz!r}") from exc
    moment = datetime.fromtimestamp(time.time() if now is None else now, zone)
    offset = moment.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    abbreviation = moment.tzname() or "UTC"
    return {
        "tz": tz,
        "tz_label": _TZ_LABELS.get(abbreviation, abbreviation),
        "tz_offset": seconds,
    }


def _short_hash(*parts: str) -> str:
    digest = hashlib.sha1("/".join(parts).encode()).hexdigest()
    return digest[:10].upper()


@dataclass
class UserRecord:
    """What the emulator keeps about a user; :meth:`Workspace.user_object` renders it."""

    id: str
    tz: str
    email: str | None
    real_name: str
    display_name: str
    is_bot: bool
    deleted: bool
    bot_id: str | None
    updated: int


class Workspace:
    """Thread-safe in-memory state of one emulated workspace."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        record_calls: bool = True,
        clock: Callable[[], float] = time.time,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.config = config
        self.record_calls = record_calls
        # The emulator's time (epoch seconds): message ts, post_at checks, rate limits.
        self.now = clock
        self.limiter = RateLimiter(rate_limits) if rate_limits is not None else None
        # method -> how many requests were answered 429 (rate limits and scripted faults).
        self.rate_limited: dict[str, int] = {}
        self.lock = threading.RLock()
        self.users: dict[str, UserRecord] = {}
        self.dm_by_user: dict[str, str] = {}
        self.user_by_dm: dict[str, str] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[Call] = []
        self.faults: dict[str, deque[Fault]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.views_by_id: dict[str, dict[str, Any]] = {}
        self.opened_views: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}
        self.file_info: dict[str, dict[str, Any]] = {}
        self.responses: list[dict[str, Any]] = []
        self.ephemerals: list[dict[str, Any]] = []
        self.scheduled: list[dict[str, Any]] = []
        # No pending message is due before this (a lower bound; None: nothing pending), so
        # the check made before every request does not scan a long list for nothing.
        self.scheduled_due_from: float | None = None
        # What became of each scheduled message, in order: {"id", "channel", "post_at",
        # "outcome" ("posted", "dropped" or "deleted"), "reason", "at", "ts"}.
        self.scheduled_log: list[dict[str, Any]] = []
        # Payloads refused as invalid (blocks, views, texts): {"method", "error", "errors"}.
        self.refusals: list[dict[str, Any]] = []
        # Reactions added with reactions.add: {"channel", "ts", "name", "user"}, in order.
        self.reactions: list[dict[str, Any]] = []
        self.scopes: set[str] = set(BOT_SCOPES)
        self._last_ts_key = 0
        self._ids = itertools.count(1)
        self.add_user(
            config.bot_user_id,
            tz=DEFAULT_TZ,
            email=None,
            real_name="Heedful",
            is_bot=True,
            bot_id=config.bot_id,
        )

    # ids and timestamps -------------------------------------------------------------------

    def next_ts(self, at: float | None = None) -> str:
        """A unique, strictly increasing message ts built from the emulator's clock (or from
        ``at``, when no later ts was given out yet)."""
        with self.lock:
            moment = self.now() if at is None else at
            key = max(int(moment * 1_000_000), self._last_ts_key + 1)
            self._last_ts_key = key
            return ts_from_key(key)

    def next_id(self, prefix: str) -> str:
        """A new Slack-style id such as ``V000000001`` (unique within this emulator)."""
        with self.lock:
            return f"{prefix}{next(self._ids):09d}"

    # users --------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        tz: str = DEFAULT_TZ,
        email: str | None = None,
        real_name: str | None = None,
        display_name: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
        bot_id: str | None = None,
    ) -> dict[str, Any]:
        """Create or replace a user and return its ``users.info`` object."""
        tz_fields(tz)  # validate early
        name = real_name or user_id
        record = UserRecord(
            id=user_id,
            tz=tz,
            email=email,
            real_name=name,
            display_name=display_name if display_name is not None else name.split(" ")[0],
            is_bot=is_bot,
            deleted=deleted,
            bot_id=bot_id,
            updated=int(time.time()),
        )
        with self.lock:
            self.users[user_id] = record
            return self.user_object(user_id)

    def update_user(self, user_id: str, **changes: Any) -> dict[str, Any]:
        """Change fields of an existing user (tz, email, real_name, display_name, deleted …)."""
        with self.lock:
            record = self.users.get(user_id)
            if record is None:
                raise EmulatorError(f"unknown user {user_id!r}")
            for key, value in changes.items():
                if not hasattr(record, key) or key in {"id", "updated"}:
                    raise EmulatorError(f"cannot update user field {key!r}")
                if key == "tz":
                    tz_fields(value)
                setattr(record, key, value)
            record.updated = int(time.time())
            return self.user_object(user_id)

    def user_object(self, user_id: str) -> dict[str, Any]:
        """The user as ``users.info`` returns it (time zone offset computed for now)."""
        with self.lock:
            record = self.users[user_id]
            team_id = self.config.team_id
        name = "".join(ch for ch in record.real_name.lower() if ch.isalnum() or ch in "._-")
        profile: dict[str, Any] = {
            "title": "",
            "phone": "",
            "skype": "",
            "real_name": record.real_name,
            "real_name_normalized": record.real_name,
            "display_name": record.display_name,
            "display_name_normalized": record.display_name,
            "status_text": "",
            "status_emoji": "",
            "avatar_hash": _short_hash(record.id).lower(),
            "image_48": f"https://avatars.example.invalid/{record.id}_48.png",
            "team": team_id,
        }
        if record.email is not None:
            profile["email"] = record.email
        if record.bot_id is not None:
            profile["bot_id"] = record.bot_id
            profile["api_app_id"] = self.config.app_id
        user: dict[str, Any] = {
            "id": record.id,
            "team_id": team_id,
            "name": name or record.id.lower(),
            "deleted": record.deleted,
            "color": "9f69e7",
            "real_name": record.real_name,
            **tz_fields(record.tz),
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": record.is_bot,
            "is_app_user": False,
            "updated": record.updated,
            "is_email_confirmed": record.email is not None,
            "who_can_share_contact_card": "EVERYONE",
        }
        return user

    def find_user_by_email(self, email: str) -> str | None:
        """The id of the user with that email (case-insensitive), if any."""
        wanted = email.strip().lower()
        with self.lock:
            for record in self.users.values():
                if record.email is not None and record.email.lower() == wanted:
                    return record.id
        return None

    # DM channels --------------------------------------------------------------------------

    def dm_channel(self, user_id: str) -> str:
        """The stable ``D…`` id of the bot's DM with ``user_id`` (created on first use)."""
        with self.lock:
            channel = self.dm_by_user.get(user_id)
            if channel is None:
                channel = "D" + _short_hash(self.config.team_id, user_id)
                self.dm_by_user[user_id] = channel
                self.user_by_dm[channel] = user_id
                self.messages.setdefault(channel, [])
            return channel

    def resolve_channel(self, channel_or_user: str) -> str | None:
        """Map a user id to its DM id; return a known DM id as is; None for anything else."""
        with self.lock:
            if channel_or_user in self.user_by_dm:
                return channel_or_user
            if channel_or_user in self.users:
                return self.dm_channel(channel_or_user)
        return None

    # messages -----------------------------------------------------------------------------

    def add_message(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        """Store a message (``ts`` assigned here unless given) and return the stored dict."""
        with self.lock:
            if "ts" not in message:  # not setdefault: that would take a ts even when one is given
                message["ts"] = self.next_ts()
            thread_ts = message.get("thread_ts")
            if thread_ts:
                parent = self.find_message(channel, thread_ts)
                if parent is not None:
                    root_ts = parent.get("thread_ts") or parent["ts"]
                    message["thread_ts"] = root_ts
                    root = self.find_message(channel, root_ts)
                    if root is not None:
                        root["thread_ts"] = root_ts
                        root["reply_count"] = root.get("reply_count", 0) + 1
                        root["latest_reply"] = message["ts"]
                        users = root.setdefault("reply_users", [])
                        if message.get("user") not in users:
                            users.append(message.get("user"))
            self.messages.setdefault(channel, []).append(message)
            return message

    def find_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The stored message with that ts in that channel (the live dict, not a copy)."""
        with self.lock:
            for message in reversed(self.messages.get(channel, [])):
                if message["ts"] == ts:
                    return message
        return None

    def delete_message(self, channel: str, ts: str) -> bool:
        """Remove a message; True when it existed."""
        with self.lock:
            messages = self.messages.get(channel, [])
            for index, message in enumerate(messages):
                if message["ts"] == ts:
                    del messages[index]
                    return True
        return False

    def messages_copy(self, channel: str) -> list[dict[str, Any]]:
        """Deep copies of a channel's messages, oldest first."""
        with self.lock:
            return copy.deepcopy(self.messages.get(channel, []))

    # calls and faults ---------------------------------------------------------------------

    def record_call(self, call: Call) -> None:
        """Append a call to the log (unless recording is switched off)."""
        if self.record_calls:
            with self.lock:
                self.calls.append(call)

    def add_fault(self, fault: Fault) -> None:
        """Queue a fault behind any already queued for the same method."""
        with self.lock:
            self.faults.setdefault(fault.method, deque()).append(fault)

    def take_fault(self, method: str) -> Fault | None:
        """The fault to apply to this call of ``method`` (consuming one of its ``times``)."""
        with self.lock:
            if not self.faults:
                return None
            for key in (method, "*"):
                queue = self.faults.get(key)
                while queue:
                    fault = queue[0]
                    if fault.times <= 0:
                        queue.popleft()
                        continue
                    fault.times -= 1
                    if fault.times <= 0:
                        queue.popleft()
                    return fault
            return None

    def reset(self) -> None:
        """Forget calls, messages, faults, views, files, responses, scheduled messages, 429
        counts and rate-limit buckets (users and DM ids stay)."""
        with self.lock:
            self.calls.clear()
            self.faults.clear()
            for messages in self.messages.values():
                messages.clear()
            self.views.clear()
            self.views_by_id.clear()
            self.opened_views.clear()
            self.files.clear()
            self.file_info.clear()
            self.responses.clear()
            self.ephemerals.clear()
            self.scheduled.clear()
            self.scheduled_due_from = None
            self.scheduled_log.clear()
            self.rate_limited.clear()
            if self.limiter is not None:
                self.limiter.reset()
            self.refusals.clear()
            self.reactions.clear()
            self.scopes = set(BOT_SCOPES)

    def count_rate_limited(self, method: str) -> None:
        """Count one 429 answer to ``method``."""
        with self.lock:
            self.rate_limited[method] = self.rate_limited.get(method, 0) + 1

    def record_refusal(self, method: str, error: str, errors: list[str]) -> None:
        """Remember a payload refused as invalid, and say so in the log (a WARNING on the
        ``bot.emulator.refusals`` logger, which the test suite watches)."""
        with self.lock:
            self.refusals.append({"method": method, "error": error, "errors": list(errors)})
        refusals_logger.warning("refused %s: %s %s", method, error, "; ".join(errors))

    def snapshot(self, getter: Callable[[], Any]) -> Any:
        """Deep-copy whatever ``getter`` returns, under the lock."""
        with self.lock:
            return copy.deepcopy(getter())
