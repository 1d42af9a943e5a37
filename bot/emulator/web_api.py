"""Slack Web API methods, implemented against a :class:`~bot.emulator.state.Workspace`.

Each method takes the merged request arguments and answers the JSON body Slack would; errors
use Slack's codes (``channel_not_found``, ``invalid_blocks`` …). Transport (HTTP, faults) lives
in :mod:`bot.emulator.http_server`.

Decisions where Slack is vague or the emulator simplifies, written down once:

* ``chat.postMessage`` to a user whose account is deactivated answers ``user_disabled``; to a
  bot user ``cannot_dm_bot``; to an unknown user or channel ``channel_not_found``. Only DMs
  between the bot and a user exist; ``C…`` channels are unknown.
* ``chat.update`` keeps the old ``blocks`` unless new ones are passed (as Slack documents).
* ``conversations.open`` with several users answers ``not_supported`` (no group DMs).
* ``views.open``/``views.push`` accept any non-empty ``trigger_id``.
* ``files.completeUploadExternal`` shares synchronously and also accepts a user id as
  ``channel_id``.
* ``reactions.add`` is as strict as Slack documents it: ``channel`` (a DM's ``D…`` id:
  a user id is ``channel_not_found``) and ``timestamp`` are required
  (``no_item_specified``), a timestamp that is not ``seconds.micros`` is ``bad_timestamp``,
  an unknown message ``message_not_found``, a name that is not one of the standard emoji
  the emulator knows (:data:`KNOWN_EMOJI`, with an optional ``::skin-tone-2…6``) is
  ``invalid_name``, the bot's second identical reaction ``already_reacted``; a person adds
  at most :data:`MAX_REACTIONS_PER_PERSON` reactions to one message
  (``too_many_reactions``) and a message holds at most :data:`MAX_EMOJI_PER_MESSAGE`
  distinct emoji (``too_many_emoji``): the emulator's numbers, Slack does not publish its
  own. Each reaction added is recorded (``SlackEmulator.reactions``).
* A method that needs a scope the bot lacks answers ``missing_scope`` with ``needed`` and
  ``provided`` (:data:`METHOD_SCOPES`; ``SlackEmulator.revoke_scope`` takes one away).
* ``users.lookupByEmail`` needs the ``users:read.email`` scope; no ``email`` is
  ``invalid_arguments``; an address that is not one (no single ``@`` between a local part
  and a domain with a dot, whitespace, over 254 characters) is ``invalid_email``, stricter
  than Slack's documented ``users_not_found``, which answers a well-formed address no one
  in the workspace has.
* Scheduled messages follow Slack's reference, on the emulator's clock (``SlackEmulator(clock=…)``,
  real time by default; the demo and tests pass their virtual clock):
  ``chat.scheduleMessage`` refuses a ``post_at`` before now (``time_in_past``), more than
  120 days ahead (``time_too_far``), or that would put more than 30 of a channel's pending
  messages within one 5-minute window of ``post_at`` (``restricted_too_many``; messages
  already posted or deleted do not count; a non-integer ``post_at`` is ``invalid_time``).
  Once the clock passes ``post_at`` the message is posted as the bot, with its text and
  blocks, its ts being ``post_at``; the emulator notices before each request, on
  ``SlackEmulator.tick``/``advance`` and when messages are read, and
  ``SlackEmulator.release_scheduled(until)`` posts due ones early. A message scheduled with
  ``metadata`` is accepted and listed, but at ``post_at`` it is dropped, not posted (Slack's
  bug alert: such messages "will not post"); ``SlackEmulator.scheduled_log`` records every
  outcome (posted, deleted, dropped). ``chat.deleteScheduledMessage`` answers
  ``invalid_scheduled_message_id`` for an unknown id, one already posted or deleted, and one
  due within 60 seconds. ``chat.scheduledMessages.list`` lists pending messages soonest
  first, filtered by ``channel`` (unknown: ``invalid_channel``) and by ``oldest``/``latest``
  (inclusive, on ``post_at``), paged with ``limit`` and ``cursor`` (``invalid_cursor``).
* Rate limits (off unless ``SlackEmulator(rate_limits=RateLimits(…))``) are checked before a
  method runs, after any scripted fault: see :mod:`bot.emulator.limits`.
* Blocks and views are checked by :mod:`bot.emulator.blocks`, at least as strictly as Slack
  (with ``slack_sdk.models`` and Slack's documented limits); a bot DM with a broadcast mention
  is refused too (emulator policy), as ``invalid_blocks`` in blocks and ``invalid_arguments``
  in ``text``. Every payload refused as invalid is kept in ``SlackEmulator.refusals`` and
  logged as a WARNING on ``bot.emulator.refusals``.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import mimetypes
import re
import secrets
import time
from collections.abc import Callable
from typing import Any, cast

from bot.emulator.blocks import (
    BROADCAST,
    MAX_MESSAGE_BLOCKS,
    validate_blocks,
    validate_view,
)
from bot.emulator.limits import POST_MESSAGE
from bot.emulator.state import Workspace, ts_from_key, ts_key

logger = logging.getLogger(__name__)

MAX_TEXT = 40_000
DEFAULT_PAGE = 100
MAX_PAGE = 999
# chat.scheduleMessage / chat.deleteScheduledMessage restrictions (Slack's method reference).
MAX_SCHEDULE_AHEAD = 120 * 24 * 3600
MAX_SCHEDULED_IN_WINDOW = 30
SCHEDULE_WINDOW = 5 * 60
DELETE_SCHEDULED_BEFORE = 60

BOT = "bot"
APP = "app"
NONE = "none"
# The scope each method needs of a bot token (Slack's method reference).
METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "reactions.add": "reactions:write",
    "conversations.history": "im:history",
    "users.info": "users:read",
    "users.list": "users:read",
    "users.lookupByEmail": "users:read.email",
}
# Standard emoji the emulator knows by name (Slack knows thousands more; a name outside
# this list is refused as ``invalid_name``, which is at least as strict).
KNOWN_EMOJI = frozenset(
    {
        "+1",
        "thumbsup",
        "-1",
        "white_check_mark",
        "heavy_check_mark",
        "ballot_box_with_check",
        "seedling",
        "herb",
        "pray",
        "raised_hands",
        "clap",
        "wave",
        "heart",
        "sparkles",
        "star",
        "eyes",
        "bulb",
        "thought_balloon",
        "ear",
        "lock",
        "smile",
        "slightly_smiling_face",
        "tada",
        "ok_hand",
        "muscle",
        "sunflower",
        "memo",
        "bookmark",
        "warning",
        "hourglass",
    }
)
MAX_REACTIONS_PER_PERSON = 23
MAX_EMOJI_PER_MESSAGE = 50
_TIMESTAMP = re.compile(r"^\d{1,12}\.\d{6}$")
_SKIN_TONE = re.compile(r"::skin-tone-[2-6]$")
# Answers that refuse the payload itself (recorded in Workspace.refusals).
REFUSALS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_arguments",
        "msg_too_long",
        "no_text",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
    }
)


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
MAX_EMAIL = 254


class ApiError(Exception):
    """An ``{"ok": false, "error": code, **extra}`` answer."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _json_value(value: Any, error: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ApiError(error) from exc
    return value


def _int(value: Any, error: str) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError) as exc:
        raise ApiError(error) from exc


def _encode_cursor(key: int) -> str:
    return base64.b64encode(f"next_ts:{key}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
        prefix, _, value = raw.partition(":")
        if prefix != "next_ts":
            raise ValueError(raw)
        return int(value)
    except ValueError as exc:
        raise ApiError("invalid_cursor") from exc


def _encode_scheduled_cursor(post_at: int, scheduled_id: str) -> str:
    return base64.b64encode(f"next_scheduled:{post_at}:{scheduled_id}".encode()).decode()


def _decode_scheduled_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
        prefix, post_at, scheduled_id = raw.split(":")
        if prefix != "next_scheduled" or not scheduled_id:
            raise ValueError(raw)
        return int(post_at), scheduled_id
    except ValueError as exc:
        raise ApiError("invalid_cursor") from exc


def public_message(message: dict[str, Any], *, include_metadata: bool) -> dict[str, Any]:
    """A stored message as the API shows it: no None fields, metadata only on request."""
    shown = {
        key: copy.deepcopy(value)
        for key, value in message.items()
        if value is not None and not key.startswith("_")
    }
    if not shown.get("blocks"):
        shown.pop("blocks", None)
    if not include_metadata:
        shown.pop("metadata", None)
    return shown


class WebApi:
    """Dispatches Web API method calls to their implementations."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        upload_url: Callable[[str], str],
        file_url: Callable[[str, str], str],
        socket_url: Callable[[], str | None],
    ) -> None:
        self.ws = workspace
        self.config = workspace.config
        self._upload_url = upload_url
        self._file_url = file_url
        self._socket_url = socket_url
        self.methods: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str]] = {
            "api.test": (self.api_test, NONE),
            "auth.test": (self.auth_test, BOT),
            "apps.connections.open": (self.apps_connections_open, APP),
            "chat.postMessage": (self.chat_post_message, BOT),
            "chat.update": (self.chat_update, BOT),
            "chat.delete": (self.chat_delete, BOT),
            "chat.postEphemeral": (self.chat_post_ephemeral, BOT),
            "chat.scheduleMessage": (self.chat_schedule_message, BOT),
            "chat.scheduledMessages.list": (self.chat_scheduled_messages_list, BOT),
            "chat.deleteScheduledMessage": (self.chat_delete_scheduled_message, BOT),
            "conversations.open": (self.conversations_open, BOT),
            "conversations.info": (self.conversations_info, BOT),
            "conversations.history": (self.conversations_history, BOT),
            "conversations.replies": (self.conversations_replies, BOT),
            "users.info": (self.users_info, BOT),
            "users.lookupByEmail": (self.users_lookup_by_email, BOT),
            "users.list": (self.users_list, BOT),
            "users.profile.get": (self.users_profile_get, BOT),
            "team.info": (self.team_info, BOT),
            "views.publish": (self.views_publish, BOT),
            "views.open": (self.views_open, BOT),
            "views.push": (self.views_push, BOT),
            "views.update": (self.views_update, BOT),
            "reactions.add": (self.reactions_add, BOT),
            "files.getUploadURLExternal": (self.files_get_upload_url_external, BOT),
            "files.completeUploadExternal": (self.files_complete_upload_external, BOT),
            "files.info": (self.files_info, BOT),
            "files.upload": (self.files_upload, BOT),
        }

    # entry point --------------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        """Run one method and return its JSON answer (always with ``ok``)."""
        entry = self.methods.get(method)
        if entry is None:
            return {"ok": False, "error": "unknown_method", "req_method": method}
        handler, token_kind = entry
        try:
            self._check_token(token, token_kind)
            self._check_scope(method, token_kind)
            result = handler(params)
        except ApiError as exc:
            if exc.code in REFUSALS:
                messages = (exc.extra.get("response_metadata") or {}).get("messages") or []
                self.ws.record_refusal(method, exc.code, exc.extra.get("errors") or messages)
            return {"ok": False, "error": exc.code, **exc.extra}
        return {"ok": True, **result}

    def _check_token(self, token: str | None, kind: str) -> None:
        if kind == NONE:
            return
        if not token:
            raise ApiError("not_authed")
        if token == self.config.bot_token:
            if kind != BOT:
                raise ApiError("not_allowed_token_type")
            return
        if token == self.config.app_token:
            if kind != APP:
                raise ApiError("not_allowed_token_type")
            return
        raise ApiError("invalid_auth")

    def _check_scope(self, method: str, kind: str) -> None:
        needed = METHOD_SCOPES.get(method)
        if kind != BOT or needed is None:
            return
        with self.ws.lock:
            scopes = set(self.ws.scopes)
        if needed not in scopes:
            raise ApiError("missing_scope", needed=needed, provided=",".join(sorted(scopes)))

    # helpers ------------------------------------------------------------------------------

    def _user_record_or(self, user_id: Any, error: str) -> Any:
        record = self.ws.users.get(str(user_id)) if user_id else None
        if record is None:
            raise ApiError(error)
        return record

    def _dm_target(self, value: Any) -> str:
        """Resolve a ``channel`` argument (user id or DM id) for posting."""
        if not value:
            raise ApiError("channel_not_found")
        value = str(value)
        with self.ws.lock:
            user_id = self.ws.user_by_dm.get(value)
            if user_id is None and value[:1] in {"U", "W"}:
                user_id = value
            record = self.ws.users.get(user_id) if user_id else None
            if record is None:
                raise ApiError("channel_not_found")
            if record.is_bot:
                raise ApiError("cannot_dm_bot")
            if record.deleted:
                raise ApiError("user_disabled")
            return self.ws.dm_channel(record.id)

    def _known_channel(self, value: Any) -> str:
        """Resolve a ``channel`` argument for reading (user id or DM id)."""
        channel = self.ws.resolve_channel(str(value)) if value else None
        if channel is None:
            raise ApiError("channel_not_found")
        return channel

    def _message_blocks(self, raw: Any) -> list | None:
        """A bot DM's ``blocks`` argument, checked (see :mod:`bot.emulator.blocks`)."""
        if raw is None or raw == "":
            return None
        blocks = _json_value(raw, "invalid_blocks_format")
        if not isinstance(blocks, list):
            raise ApiError("invalid_blocks_format")
        errors = validate_blocks(blocks, max_blocks=MAX_MESSAGE_BLOCKS, forbid_broadcast=True)
        if errors:
            raise ApiError(
                "invalid_blocks",
                errors=errors,
                response_metadata={"messages": [f"[ERROR] {item}" for item in errors]},
            )
        return blocks

    def _text_and_blocks(
        self, params: dict[str, Any], *, required: bool = True
    ) -> tuple[str | None, list | None]:
        blocks = self._message_blocks(params.get("blocks"))
        text = params.get("text")
        text = None if text is None else str(text)
        if required and not text and not blocks:
            raise ApiError("no_text")
        if text is not None and len(text) > MAX_TEXT:
            raise ApiError("msg_too_long")
        if text is not None and BROADCAST.search(text):
            error = "no broadcast mention in a bot DM (emulator policy) [json-pointer:/text]"
            raise ApiError(
                "invalid_arguments", response_metadata={"messages": [f"[ERROR] {error}"]}
            )
        return text, blocks

    @staticmethod
    def _metadata(raw: Any) -> dict[str, Any] | None:
        if raw is None or raw == "":
            return None
        metadata = _json_value(raw, "invalid_metadata_format")
        if not isinstance(metadata, dict):
            raise ApiError("invalid_metadata_format")
        event_type = metadata.get("event_type")
        payload = metadata.get("event_payload")
        if not isinstance(event_type, str) or not event_type or not isinstance(payload, dict):
            raise ApiError("invalid_metadata_schema")
        if len(json.dumps(metadata)) > 8_000:
            raise ApiError("metadata_too_large")
        return {"event_type": event_type, "event_payload": payload}

    def _bot_message(
        self,
        *,
        text: str | None,
        blocks: list | None,
        metadata: dict[str, Any] | None,
        thread_ts: str | None,
    ) -> dict[str, Any]:
        return {
            "type": "message",
            "user": self.config.bot_user_id,
            "bot_id": self.config.bot_id,
            "app_id": self.config.app_id,
            "team": self.config.team_id,
            "text": text or "",
            "blocks": blocks or [],
            "metadata": metadata,
            "thread_ts": thread_ts,
            "edited": None,
            "bot_profile": {
                "id": self.config.bot_id,
                "app_id": self.config.app_id,
                "name": "Heedful",
                "team_id": self.config.team_id,
                "deleted": False,
            },
        }

    def _own_message(self, params: dict[str, Any], ts_param: str, foreign_error: str) -> tuple:
        channel = self._known_channel(params.get("channel"))
        ts = params.get(ts_param)
        message = self.ws.find_message(channel, str(ts)) if ts else None
        if message is None:
            raise ApiError("message_not_found")
        if message.get("user") != self.config.bot_user_id:
            raise ApiError(foreign_error)
        return channel, message

    # api / auth / apps --------------------------------------------------------------------

    def api_test(self, params: dict[str, Any]) -> dict[str, Any]:
        """``api.test``: echoes its arguments; ``error`` makes it fail."""
        if params.get("error"):
            raise ApiError(str(params["error"]), args=params)
        return {"args": params}

    def auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        """``auth.test`` for the bot token."""
        return {
            "url": self.config.team_url,
            "team": self.config.team_name,
            "user": "heedful",
            "team_id": self.config.team_id,
            "user_id": self.config.bot_user_id,
            "bot_id": self.config.bot_id,
            "is_enterprise_install": False,
        }

    def apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """``apps.connections.open``: a Socket Mode WebSocket URL with a fresh ticket."""
        url = self._socket_url()
        if url is None:
            raise ApiError("internal_error")
        return {"url": url}

    # chat ---------------------------------------------------------------------------------

    def chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        """``chat.postMessage`` into the bot's DM with a user (by user id or DM id)."""
        channel = self._dm_target(params.get("channel"))
        text, blocks = self._text_and_blocks(params)
        metadata = self._metadata(params.get("metadata"))
        thread_ts = str(params["thread_ts"]) if params.get("thread_ts") else None
        message = self._bot_message(
            text=text, blocks=blocks, metadata=metadata, thread_ts=thread_ts
        )
        if thread_ts and _flag(params.get("reply_broadcast", False)):
            message["subtype"] = "thread_broadcast"
        with self.ws.lock:
            stored = self.ws.add_message(channel, message)
            shown = public_message(stored, include_metadata=True)
        return {"channel": channel, "ts": shown["ts"], "message": shown}

    def chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        """``chat.update`` of one of the bot's messages; marks it edited."""
        text, blocks = self._text_and_blocks(params, required=False)
        if text is None and blocks is None:
            raise ApiError("no_text")
        metadata = self._metadata(params.get("metadata"))
        with self.ws.lock:
            channel, message = self._own_message(params, "ts", "cant_update_message")
            if text is not None:
                message["text"] = text
            if blocks is not None:
                message["blocks"] = blocks
            if metadata is not None:
                message["metadata"] = metadata
            message["edited"] = {"user": self.config.bot_user_id, "ts": self.ws.next_ts()}
            shown = public_message(message, include_metadata=True)
        return {"channel": channel, "ts": shown["ts"], "text": shown["text"], "message": shown}

    def chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        """``chat.delete`` of one of the bot's messages."""
        with self.ws.lock:
            channel, message = self._own_message(params, "ts", "cant_delete_message")
            self.ws.delete_message(channel, message["ts"])
        return {"channel": channel, "ts": message["ts"]}

    def chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        """``chat.postEphemeral``: recorded in ``emulator.ephemerals``, never in history."""
        channel = self._dm_target(params.get("channel"))
        user = self._user_record_or(params.get("user"), "user_not_in_channel")
        if self.ws.user_by_dm.get(channel) != user.id:
            raise ApiError("user_not_in_channel")
        text, blocks = self._text_and_blocks(params)
        ts = self.ws.next_ts()
        with self.ws.lock:
            self.ws.ephemerals.append(
                {
                    "channel": channel,
                    "user": user.id,
                    "text": text or "",
                    "blocks": blocks or [],
                    "thread_ts": params.get("thread_ts") or None,
                    "ts": ts,
                }
            )
        return {"message_ts": ts}

    def chat_schedule_message(self, params: dict[str, Any]) -> dict[str, Any]:
        """``chat.scheduleMessage``: posted by Slack at ``post_at`` (see :meth:`deliver_due`).

        Refuses a ``post_at`` in the past (``time_in_past``), more than 120 days ahead
        (``time_too_far``), or that would make more than 30 messages due within 5 minutes
        in one channel (``restricted_too_many``), as Slack's reference says.
        """
        channel = self._dm_target(params.get("channel"))
        post_at = _int(params.get("post_at"), "invalid_time")
        text, blocks = self._text_and_blocks(params)
        metadata = self._metadata(params.get("metadata"))
        now = self.ws.now()
        if post_at < now:
            raise ApiError("time_in_past")
        if post_at > now + MAX_SCHEDULE_AHEAD:
            raise ApiError("time_too_far")
        with self.ws.lock:
            if self._too_many_scheduled(channel, post_at):
                raise ApiError("restricted_too_many")
            scheduled_id = self.ws.next_id("Q")
            due_from = self.ws.scheduled_due_from
            self.ws.scheduled_due_from = post_at if due_from is None else min(due_from, post_at)
            self.ws.scheduled.append(
                {
                    "id": scheduled_id,
                    "channel": channel,
                    "post_at": post_at,
                    "date_created": int(now),
                    "text": text or "",
                    "blocks": blocks or [],
                    "metadata": metadata,
                    "thread_ts": str(params["thread_ts"]) if params.get("thread_ts") else None,
                }
            )
        message = self._bot_message(text=text, blocks=blocks, metadata=metadata, thread_ts=None)
        return {
            "channel": channel,
            "scheduled_message_id": scheduled_id,
            "post_at": post_at,
            "message": public_message(message, include_metadata=True),
        }

    def _too_many_scheduled(self, channel: str, post_at: int) -> bool:
        """True when one more message due at ``post_at`` would put more than
        :data:`MAX_SCHEDULED_IN_WINDOW` of the channel's pending messages within some
        :data:`SCHEDULE_WINDOW`-second window; hold the workspace lock."""
        near = sorted(
            entry["post_at"]
            for entry in self.ws.scheduled
            if entry["channel"] == channel and abs(entry["post_at"] - post_at) < SCHEDULE_WINDOW
        )
        near = sorted([*near, post_at])
        for start in near:
            if start > post_at:
                break
            inside = sum(1 for t in near if start <= t < start + SCHEDULE_WINDOW)
            if start + SCHEDULE_WINDOW > post_at and inside > MAX_SCHEDULED_IN_WINDOW:
                return True
        return False

    def chat_scheduled_messages_list(self, params: dict[str, Any]) -> dict[str, Any]:
        """``chat.scheduledMessages.list``: pending messages by ``post_at``, oldest first,
        filtered by ``channel`` and ``oldest``/``latest`` (inclusive, on ``post_at``), paged
        with ``limit`` and ``cursor``."""
        channel = None
        if params.get("channel"):
            channel = self.ws.resolve_channel(str(params["channel"]))
            if channel is None:
                raise ApiError("invalid_channel")
        oldest = _int(params["oldest"], "invalid_arguments") if params.get("oldest") else None
        latest = _int(params["latest"], "invalid_arguments") if params.get("latest") else None
        limit = _int(params.get("limit") or DEFAULT_PAGE, "invalid_arguments")
        limit = DEFAULT_PAGE if limit <= 0 else min(limit, MAX_PAGE)
        start = _decode_scheduled_cursor(str(params["cursor"])) if params.get("cursor") else None
        with self.ws.lock:
            entries = sorted(
                (
                    entry
                    for entry in self.ws.scheduled
                    if (channel is None or entry["channel"] == channel)
                    and (oldest is None or entry["post_at"] >= oldest)
                    and (latest is None or entry["post_at"] <= latest)
                    and (start is None or (entry["post_at"], entry["id"]) >= start)
                ),
                key=lambda entry: (entry["post_at"], entry["id"]),
            )
            page, rest = entries[:limit], entries[limit:]
            items = [
                {
                    "id": entry["id"],
                    "channel_id": entry["channel"],
                    "post_at": entry["post_at"],
                    "date_created": entry["date_created"],
                    "text": entry["text"],
                }
                for entry in page
            ]
        next_cursor = _encode_scheduled_cursor(rest[0]["post_at"], rest[0]["id"]) if rest else ""
        return {"scheduled_messages": items, "response_metadata": {"next_cursor": next_cursor}}

    def chat_delete_scheduled_message(self, params: dict[str, Any]) -> dict[str, Any]:
        """``chat.deleteScheduledMessage``: ``invalid_scheduled_message_id`` for an unknown
        id, one already posted or deleted, and one due within
        :data:`DELETE_SCHEDULED_BEFORE` seconds (Slack's reference)."""
        channel = self._known_channel(params.get("channel"))
        wanted = params.get("scheduled_message_id")
        now = self.ws.now()
        with self.ws.lock:
            for index, entry in enumerate(self.ws.scheduled):
                if entry["id"] == wanted and entry["channel"] == channel:
                    if entry["post_at"] - now <= DELETE_SCHEDULED_BEFORE:
                        break
                    del self.ws.scheduled[index]
                    self._log_scheduled(entry, "deleted", now=now)
                    return {}
        raise ApiError("invalid_scheduled_message_id")

    def deliver_due(self, until: float | None = None) -> list[str]:
        """Post every scheduled message whose ``post_at`` ≤ ``until`` (default: the
        emulator's clock), oldest first, as the bot, with its text and blocks; its ts is its
        ``post_at`` (or just after the last ts given out). One scheduled with ``metadata``
        is dropped instead, as Slack's bug alert says such a message will not post, and
        logged as dropped. Returns the ts of the messages posted."""
        now = self.ws.now()
        limit = now if until is None else until
        posted: list[str] = []
        with self.ws.lock:
            if self.ws.scheduled_due_from is None or self.ws.scheduled_due_from > limit:
                return posted
            due = [entry for entry in self.ws.scheduled if entry["post_at"] <= limit]
            rest = [entry["post_at"] for entry in self.ws.scheduled if entry["post_at"] > limit]
            self.ws.scheduled_due_from = min(rest) if rest else None
            for entry in sorted(due, key=lambda entry: (entry["post_at"], entry["id"])):
                self.ws.scheduled.remove(entry)
                if entry["metadata"] is not None:
                    self._log_scheduled(entry, "dropped", now=now, reason="metadata")
                    continue
                message = self._bot_message(
                    text=entry["text"],
                    blocks=entry["blocks"],
                    metadata=None,
                    thread_ts=entry["thread_ts"],
                )
                message["ts"] = self.ws.next_ts(at=entry["post_at"])
                ts = self.ws.add_message(entry["channel"], message)["ts"]
                self._log_scheduled(entry, "posted", now=now, ts=ts)
                posted.append(ts)
        return posted

    def _log_scheduled(
        self,
        entry: dict[str, Any],
        outcome: str,
        *,
        now: float,
        reason: str | None = None,
        ts: str | None = None,
    ) -> None:
        self.ws.scheduled_log.append(
            {
                "id": entry["id"],
                "channel": entry["channel"],
                "post_at": entry["post_at"],
                "outcome": outcome,
                "reason": reason,
                "at": now,
                "ts": ts,
            }
        )

    def rate_limit(self, method: str, params: dict[str, Any]) -> int | None:
        """``Retry-After`` seconds when Slack would refuse this request for its rate (and
        count it), else None (the request took its slot). See :mod:`bot.emulator.limits`."""
        limiter = self.ws.limiter
        if limiter is None:
            return None
        channel = None
        if method == POST_MESSAGE and params.get("channel"):
            raw = str(params["channel"])
            channel = self.ws.resolve_channel(raw) or raw
        retry_after = limiter.admit(method, channel, self.ws.now())
        if retry_after is not None:
            self.ws.count_rate_limited(method)
        return retry_after

    # conversations ------------------------------------------------------------------------

    def conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """``conversations.open`` of a DM with one user."""
        if params.get("channel"):
            channel = self._known_channel(params["channel"])
            return {"no_op": True, "already_open": True, "channel": {"id": channel}}
        users = [item.strip() for item in str(params.get("users") or "").split(",") if item]
        if not users:
            raise ApiError("users_list_not_supplied")
        if len(users) > 1:
            raise ApiError("not_supported")
        record = self._user_record_or(users[0], "user_not_found")
        if record.is_bot:
            raise ApiError("cannot_dm_bot")
        if record.deleted:
            raise ApiError("user_disabled")
        with self.ws.lock:
            already = record.id in self.ws.dm_by_user
            channel = self.ws.dm_channel(record.id)
        shown: dict[str, Any] = {"id": channel}
        if _flag(params.get("return_im", False)):
            shown = self._im_object(channel)
        return {"no_op": already, "already_open": already, "channel": shown}

    def _im_object(self, channel: str) -> dict[str, Any]:
        user_id = self.ws.user_by_dm[channel]
        record = self.ws.users.get(user_id)
        return {
            "id": channel,
            "created": int(time.time()),
            "is_im": True,
            "is_org_shared": False,
            "context_team_id": self.config.team_id,
            "user": user_id,
            "is_user_deleted": bool(record and record.deleted),
            "priority": 0,
        }

    def conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        """``conversations.info`` of a DM."""
        channel = self._known_channel(params.get("channel"))
        return {"channel": self._im_object(channel)}

    @staticmethod
    def _page(
        items: list[dict[str, Any]], params: dict[str, Any], *, descending: bool
    ) -> tuple[list[dict[str, Any]], bool, str]:
        limit = _int(params.get("limit") or DEFAULT_PAGE, "invalid_limit")
        limit = DEFAULT_PAGE if limit <= 0 else min(limit, MAX_PAGE)
        cursor = params.get("cursor")
        if cursor:
            start = _decode_cursor(str(cursor))
            if descending:
                items = [m for m in items if ts_key(m["ts"]) <= start]
            else:
                items = [m for m in items if ts_key(m["ts"]) >= start]
        page, rest = items[:limit], items[limit:]
        next_cursor = _encode_cursor(ts_key(rest[0]["ts"])) if rest else ""
        return page, bool(rest), next_cursor

    def conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        """``conversations.history``, newest first, with cursor pagination."""
        channel = self._known_channel(params.get("channel"))
        inclusive = _flag(params.get("inclusive", False))
        include_metadata = _flag(params.get("include_all_metadata", False))
        oldest = ts_key(str(params["oldest"])) if params.get("oldest") else 0
        latest = ts_key(str(params["latest"])) if params.get("latest") else None
        with self.ws.lock:
            selected = []
            for message in reversed(self.ws.messages.get(channel, [])):
                thread_ts = message.get("thread_ts")
                is_reply = bool(thread_ts) and thread_ts != message["ts"]
                if is_reply and message.get("subtype") != "thread_broadcast":
                    continue
                key = ts_key(message["ts"])
                if latest is not None and (key > latest or (key == latest and not inclusive)):
                    continue
                if key < oldest or (key == oldest and not inclusive and oldest):
                    continue
                selected.append(message)
            page, has_more, next_cursor = self._page(selected, params, descending=True)
            shown = [public_message(m, include_metadata=include_metadata) for m in page]
        answer: dict[str, Any] = {
            "messages": shown,
            "has_more": has_more,
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }
        if latest is not None:
            answer["latest"] = ts_from_key(latest)
        return answer

    def conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        """``conversations.replies``: the parent, then its replies, oldest first."""
        channel = self._known_channel(params.get("channel"))
        ts = str(params.get("ts") or "")
        include_metadata = _flag(params.get("include_all_metadata", False))
        with self.ws.lock:
            parent = self.ws.find_message(channel, ts) if ts else None
            if parent is None:
                raise ApiError("thread_not_found")
            root_ts = parent.get("thread_ts") or parent["ts"]
            thread = [
                m
                for m in self.ws.messages.get(channel, [])
                if m["ts"] == root_ts or m.get("thread_ts") == root_ts
            ]
            page, has_more, next_cursor = self._page(thread, params, descending=False)
            shown = [public_message(m, include_metadata=include_metadata) for m in page]
        return {
            "messages": shown,
            "has_more": has_more,
            "response_metadata": {"next_cursor": next_cursor},
        }

    # users / team -------------------------------------------------------------------------

    def users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        """``users.info``."""
        record = self._user_record_or(params.get("user"), "user_not_found")
        return {"user": self.ws.user_object(record.id)}

    def users_lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        """``users.lookupByEmail`` (see the module's notes for what it refuses)."""
        email = params.get("email")
        if email is None or str(email) == "":
            raise ApiError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: email"]},
            )
        email = str(email)
        if len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email):
            raise ApiError("invalid_email")
        user_id = self.ws.find_user_by_email(email)
        if user_id is None:
            raise ApiError("users_not_found")
        return {"user": self.ws.user_object(user_id)}

    def users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        """``users.list`` (one page)."""
        with self.ws.lock:
            ids = list(self.ws.users)
        return {
            "members": [self.ws.user_object(user_id) for user_id in ids],
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": ""},
        }

    def users_profile_get(self, params: dict[str, Any]) -> dict[str, Any]:
        """``users.profile.get`` (bot tokens must pass ``user``)."""
        record = self._user_record_or(params.get("user"), "user_not_found")
        return {"profile": self.ws.user_object(record.id)["profile"]}

    def team_info(self, params: dict[str, Any]) -> dict[str, Any]:
        """``team.info``."""
        return {
            "team": {
                "id": self.config.team_id,
                "name": self.config.team_name,
                "domain": self.config.team_domain,
                "email_domain": "",
                "icon": {"image_default": True},
            }
        }

    # views --------------------------------------------------------------------------------

    def _view_argument(self, raw: Any, *, kind: str) -> dict[str, Any]:
        view = _json_value(raw, "invalid_arguments") if raw is not None else None
        errors = validate_view(view, kind=kind)
        if errors:
            raise ApiError(
                "invalid_arguments",
                response_metadata={"messages": [f"[ERROR] {item}" for item in errors]},
            )
        return cast(dict[str, Any], view)

    def _store_view(
        self,
        view: dict[str, Any],
        *,
        view_id: str | None = None,
        user_id: str | None = None,
        previous_view_id: str | None = None,
        root_view_id: str | None = None,
    ) -> dict[str, Any]:
        view_id = view_id or self.ws.next_id("V")
        stored = {
            "id": view_id,
            "team_id": self.config.team_id,
            "type": view["type"],
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": view.get("title", {"type": "plain_text", "text": "View Title"}),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": previous_view_id,
            "root_view_id": root_view_id or view_id,
            "app_id": self.config.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.config.team_id,
            "bot_id": self.config.bot_id,
        }
        with self.ws.lock:
            self.ws.views_by_id[view_id] = stored
            if user_id is not None:
                stored["_user_id"] = user_id
                self.ws.views[user_id] = stored
        return stored

    @staticmethod
    def _show_view(view: dict[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in view.items() if not k.startswith("_")}

    def _check_hash(self, current: dict[str, Any] | None, given: Any) -> None:
        if given and current is not None and current.get("hash") != given:
            raise ApiError("hash_conflict")

    def views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        """``views.publish`` of a user's App Home."""
        record = self._user_record_or(params.get("user_id"), "user_not_found")
        view = self._view_argument(params.get("view"), kind="home")
        with self.ws.lock:
            current = self.ws.views.get(record.id)
            self._check_hash(current, params.get("hash"))
            stored = self._store_view(
                view, view_id=current["id"] if current else None, user_id=record.id
            )
            return {"view": self._show_view(stored)}

    def views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """``views.open`` of a modal (any non-empty ``trigger_id`` is accepted)."""
        if not params.get("trigger_id") and not params.get("interactivity_pointer"):
            raise ApiError("invalid_arguments")
        view = self._view_argument(params.get("view"), kind="modal")
        with self.ws.lock:
            stored = self._store_view(view)
            self.ws.opened_views.append(stored)
            return {"view": self._show_view(stored)}

    def views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        """``views.push`` onto the most recently opened modal's stack."""
        if not params.get("trigger_id") and not params.get("interactivity_pointer"):
            raise ApiError("invalid_arguments")
        view = self._view_argument(params.get("view"), kind="modal")
        with self.ws.lock:
            previous = self.ws.opened_views[-1] if self.ws.opened_views else None
            stored = self._store_view(
                view,
                previous_view_id=previous["id"] if previous else None,
                root_view_id=previous["root_view_id"] if previous else None,
            )
            self.ws.opened_views.append(stored)
            return {"view": self._show_view(stored)}

    def views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        """``views.update`` by ``view_id`` or ``external_id``."""
        with self.ws.lock:
            current = None
            if params.get("view_id"):
                current = self.ws.views_by_id.get(str(params["view_id"]))
            elif params.get("external_id"):
                wanted = str(params["external_id"])
                current = next(
                    (v for v in self.ws.views_by_id.values() if v.get("external_id") == wanted),
                    None,
                )
            if current is None:
                raise ApiError("not_found")
            view = self._view_argument(params.get("view"), kind=current["type"])
            self._check_hash(current, params.get("hash"))
            stored = self._store_view(
                view,
                view_id=current["id"],
                user_id=current.get("_user_id"),
                previous_view_id=current.get("previous_view_id"),
                root_view_id=current.get("root_view_id"),
            )
            for index, opened in enumerate(self.ws.opened_views):
                if opened["id"] == stored["id"]:
                    self.ws.opened_views[index] = stored
            return {"view": self._show_view(stored)}

    # reactions ----------------------------------------------------------------------------

    def reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        """``reactions.add`` by the bot (see the module docstring for what it refuses)."""
        raw_channel, ts = params.get("channel"), params.get("timestamp")
        if not raw_channel or not ts:
            raise ApiError("no_item_specified")
        name = str(params.get("name") or "").strip().strip(":")
        base = _SKIN_TONE.sub("", name)
        if base not in KNOWN_EMOJI:
            raise ApiError("invalid_name")
        if not _TIMESTAMP.match(str(ts)):
            raise ApiError("bad_timestamp")
        bot = self.config.bot_user_id
        with self.ws.lock:
            channel = str(raw_channel)
            if channel not in self.ws.user_by_dm:  # a DM's id, not a user's
                raise ApiError("channel_not_found")
            message = self.ws.find_message(channel, str(ts))
            if message is None:
                raise ApiError("message_not_found")
            reactions = message.setdefault("reactions", [])
            found = next((r for r in reactions if r["name"] == base), None)
            if found is not None and bot in found["users"]:
                raise ApiError("already_reacted")
            if sum(bot in r["users"] for r in reactions) >= MAX_REACTIONS_PER_PERSON:
                raise ApiError("too_many_reactions")
            if found is None and len(reactions) >= MAX_EMOJI_PER_MESSAGE:
                raise ApiError("too_many_emoji")
            if found is None:
                reactions.append({"name": base, "users": [bot], "count": 1})
            else:
                found["users"].append(bot)
                found["count"] += 1
            self.ws.reactions.append({"channel": channel, "ts": str(ts), "name": base, "user": bot})
        return {}

    # files --------------------------------------------------------------------------------

    def files_get_upload_url_external(self, params: dict[str, Any]) -> dict[str, Any]:
        """``files.getUploadURLExternal``: an upload URL pointing back at the emulator."""
        filename = str(params.get("filename") or "")
        if not filename:
            raise ApiError("invalid_arguments")
        length = _int(params.get("length"), "invalid_arguments")
        if length <= 0:
            raise ApiError("invalid_arguments")
        file_id = self.ws.next_id("F")
        with self.ws.lock:
            self.ws.file_info[file_id] = {
                "id": file_id,
                "name": filename,
                "length": length,
                "alt_txt": params.get("alt_txt"),
                "snippet_type": params.get("snippet_type"),
                "uploaded": False,
                "created": int(time.time()),
            }
        return {"upload_url": self._upload_url(file_id), "file_id": file_id}

    def receive_upload(self, file_id: str, data: bytes) -> bool:
        """Store the bytes posted to an upload URL; False for an unknown file id."""
        with self.ws.lock:
            info = self.ws.file_info.get(file_id)
            if info is None:
                return False
            self.ws.files[file_id] = data
            info["uploaded"] = True
            info["size"] = len(data)
        return True

    def _file_object(self, file_id: str, *, channel: str | None) -> dict[str, Any]:
        info = self.ws.file_info[file_id]
        name = info["name"]
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        filetype = name.rsplit(".", 1)[-1].lower() if "." in name else "binary"
        return {
            "id": file_id,
            "created": info["created"],
            "timestamp": info["created"],
            "name": name,
            "title": info.get("title") or name,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": self.config.bot_user_id,
            "user_team": self.config.team_id,
            "editable": False,
            "size": info.get("size", 0),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": self._file_url(file_id, name),
            "url_private_download": self._file_url(file_id, name),
            "permalink": f"{self.config.team_url}files/{self.config.bot_user_id}/{file_id}/{name}",
            "channels": [channel] if channel else [],
            "groups": [],
            "ims": [channel] if channel else [],
            "comments_count": 0,
        }

    def files_complete_upload_external(self, params: dict[str, Any]) -> dict[str, Any]:
        """``files.completeUploadExternal``: shares the uploaded files into a DM."""
        files = _json_value(params.get("files"), "invalid_arguments")
        if not isinstance(files, list) or not files:
            raise ApiError("invalid_arguments")
        target = params.get("channel_id") or (
            str(params["channels"]).split(",")[0] if params.get("channels") else None
        )
        channel = self._dm_target(target) if target else None
        initial_comment = params.get("initial_comment")
        if initial_comment is not None and len(str(initial_comment)) > MAX_TEXT:
            raise ApiError("msg_too_long")
        with self.ws.lock:
            shown = []
            for item in files:
                file_id = item.get("id") if isinstance(item, dict) else None
                info = self.ws.file_info.get(str(file_id))
                if info is None or not info["uploaded"]:
                    raise ApiError("file_not_found")
                if item.get("title"):
                    info["title"] = str(item["title"])
                shown.append(self._file_object(info["id"], channel=channel))
            if channel is not None:
                message = self._bot_message(
                    text=str(initial_comment or ""),
                    blocks=None,
                    metadata=None,
                    thread_ts=str(params["thread_ts"]) if params.get("thread_ts") else None,
                )
                message["files"] = copy.deepcopy(shown)
                message["upload"] = True
                self.ws.add_message(channel, message)
        return {"files": shown}

    def files_info(self, params: dict[str, Any]) -> dict[str, Any]:
        """``files.info``."""
        file_id = str(params.get("file") or "")
        with self.ws.lock:
            if file_id not in self.ws.file_info or not self.ws.file_info[file_id]["uploaded"]:
                raise ApiError("file_not_found")
            return {"file": self._file_object(file_id, channel=None)}

    def files_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        """``files.upload`` was retired by Slack; use the external upload flow."""
        raise ApiError("method_deprecated")
