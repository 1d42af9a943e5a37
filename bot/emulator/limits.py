"""Slack's Web API rate limits, enforced on the emulator's clock (off unless asked for).

What Slack documents (https://docs.slack.dev/apis/web-api/rate-limits, and each method's
"Facts"): limits apply per method, per app, per workspace. Tier 1 allows 1+ requests a
minute, tier 2 20+, tier 3 50+, tier 4 100+, each with some burst. ``chat.postMessage`` is
"special": about one message a second per channel, short bursts above one allowed, plus a
workspace-wide limit Slack does not put a number on. ``chat.scheduleMessage``,
``chat.scheduledMessages.list`` and ``chat.deleteScheduledMessage`` are tier 3. Beyond a
limit Slack answers HTTP 429 with ``Retry-After`` (seconds) and
``{"ok": false, "error": "ratelimited"}``.

Decisions, written down once:

* Every limit is a token bucket (the generic cell rate algorithm): ``rate`` requests a
  second, ``burst`` of them at once. A tier's bucket holds one minute's worth (tier 3: 50 at
  once, then one every 1.2 s); a channel's holds :attr:`RateLimits.channel_burst` messages.
* The workspace-wide message rate (:attr:`RateLimits.messages_per_second`, default 10 a
  second, i.e. 600 a minute, "a few hundred a minute" as Slack is observed to allow) is the
  emulator's figure; benchmarks set their own.
* ``chat.postMessage`` is checked against its channel's bucket, then the workspace's; a
  request either bucket refuses takes nothing from either. A refused request never counts.
* ``Retry-After`` is the whole number of seconds (rounded up, at least 1) until the request
  would be accepted, as slack_sdk's ``RateLimitErrorRetryHandler`` reads it (``int()``).
* Scheduled messages Slack posts at their ``post_at`` count against no limit: Slack posts
  them, not the app.
* Methods not in :data:`METHOD_TIERS` (``api.test``) are not limited.
* The limiter reads the emulator's clock, so bursts and ``Retry-After`` are measured in
  virtual time when a virtual clock is injected.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

POST_MESSAGE = "chat.postMessage"
SPECIAL = 0  # the "special" tier: chat.postMessage's own limits
_MICROS = 1_000_000

# Requests a minute of each tier (Slack's "Rate limits" page; the "+" is Slack's hedge).
TIER_PER_MINUTE: Mapping[int, int] = {1: 1, 2: 20, 3: 50, 4: 100}

# The tier of each method the emulator serves (each method's reference page, "Rate limits").
METHOD_TIERS: Mapping[str, int] = {
    "auth.test": 4,  # "special" in Slack's catalog, generous; treated as tier 4
    "apps.connections.open": 1,
    "chat.postMessage": SPECIAL,
    "chat.update": 3,
    "chat.delete": 3,
    "chat.postEphemeral": 4,
    "chat.scheduleMessage": 3,
    "chat.scheduledMessages.list": 3,
    "chat.deleteScheduledMessage": 3,
    "conversations.open": 3,
    "conversations.info": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "users.info": 4,
    "users.lookupByEmail": 3,
    "users.list": 2,
    "users.profile.get": 4,
    "team.info": 3,
    "views.publish": 4,
    "views.open": 4,
    "views.push": 4,
    "views.update": 4,
    "reactions.add": 3,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    "files.info": 4,
}


@dataclass(frozen=True)
class RateLimits:
    """The limits an emulator enforces (``SlackEmulator(rate_limits=RateLimits())``).

    Attributes:
        tier_per_minute: requests a minute for each tier (1–4).
        method_tiers: method → tier (:data:`SPECIAL` for ``chat.postMessage``); methods
            missing here are not limited.
        channel_per_second: ``chat.postMessage`` messages a second into one channel.
        channel_burst: how many of them may arrive at once.
        messages_per_second: ``chat.postMessage`` messages a second for the whole
            workspace; None for no workspace-wide limit.
        messages_burst: how many of those may arrive at once (default: one second's worth).
    """

    tier_per_minute: Mapping[int, int] = field(default_factory=lambda: dict(TIER_PER_MINUTE))
    method_tiers: Mapping[str, int] = field(default_factory=lambda: dict(METHOD_TIERS))
    channel_per_second: float = 1.0
    channel_burst: int = 3
    messages_per_second: float | None = 10.0
    messages_burst: int | None = None

    def __post_init__(self) -> None:
        if self.channel_per_second <= 0 or self.channel_burst < 1:
            raise ValueError("a channel needs a positive rate and a burst of at least 1")
        if self.messages_per_second is not None and self.messages_per_second <= 0:
            raise ValueError("messages_per_second must be positive (or None)")
        if self.messages_burst is not None and self.messages_burst < 1:
            raise ValueError("messages_burst must be at least 1")

    @property
    def workspace_burst(self) -> int:
        """The workspace's message burst: as given, else one second's worth (at least 1)."""
        if self.messages_burst is not None:
            return self.messages_burst
        return max(1, math.ceil(self.messages_per_second or 1))


@dataclass
class _Bucket:
    """A token bucket kept as its theoretical arrival time (GCRA), in integer microseconds so
    that a burst's summed intervals carry no float error at epoch-sized times."""

    interval: int  # microseconds between two requests at the sustained rate
    tolerance: int  # how far ahead of the sustained rate a burst may run
    tat: int | None = None

    @classmethod
    def of(cls, per_second: float, burst: int) -> _Bucket:
        interval = max(1, round(_MICROS / per_second))
        return cls(interval=interval, tolerance=(burst - 1) * interval)

    def wait(self, now: int) -> int:
        """Microseconds until a request is accepted (0: now)."""
        tat = now if self.tat is None else max(self.tat, now)
        return max(0, tat - self.tolerance - now)

    def take(self, now: int) -> None:
        self.tat = (now if self.tat is None else max(self.tat, now)) + self.interval


class RateLimiter:
    """Decides, per request, whether Slack would answer 429; thread-safe."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._methods: dict[str, _Bucket] = {}
        self._channels: dict[str, _Bucket] = {}
        self._workspace: _Bucket | None = None

    def reset(self) -> None:
        """Forget every bucket (all limits start full again)."""
        with self._lock:
            self._methods.clear()
            self._channels.clear()
            self._workspace = None

    def admit(self, method: str, channel: str | None, now: float) -> int | None:
        """Take a slot for this request; None when admitted, else ``Retry-After`` seconds."""
        tier = self.limits.method_tiers.get(method)
        if tier is None:
            return None
        micros = round(now * _MICROS)
        with self._lock:
            buckets = self._buckets(method, tier, channel)
            wait = max(bucket.wait(micros) for bucket in buckets)
            if wait > 0:
                return max(1, -(-wait // _MICROS))  # whole seconds, rounded up
            for bucket in buckets:
                bucket.take(micros)
            return None

    def _buckets(self, method: str, tier: int, channel: str | None) -> list[_Bucket]:
        limits = self.limits
        if tier != SPECIAL:
            bucket = self._methods.get(method)
            if bucket is None:
                per_minute = limits.tier_per_minute[tier]
                bucket = self._methods[method] = _Bucket.of(per_minute / 60.0, per_minute)
            return [bucket]
        key = channel or ""
        buckets = [self._channels.get(key) or self._new_channel(key)]
        if limits.messages_per_second is not None:
            if self._workspace is None:
                self._workspace = _Bucket.of(limits.messages_per_second, limits.workspace_burst)
            buckets.append(self._workspace)
        return buckets

    def _new_channel(self, key: str) -> _Bucket:
        bucket = _Bucket.of(self.limits.channel_per_second, self.limits.channel_burst)
        self._channels[key] = bucket
        return bucket
