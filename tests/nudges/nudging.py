"""Helpers for the nudge-loop tests: an ICS writer, a feed server's state, and a driver
that runs the real app on the virtual clock and records what the emulator received.

The driver does what the scheduler does in production, in virtual time: it polls the
calendars when they are due, drains the inbox, and sends the deliveries that are due,
jumping the clock from one due time to the next (never past one).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent import futures
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot import home
from bot.app import Heedful
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator
from bot.sender import METADATA_EVENT_TYPE
from bot.storage import repository as repo
from bot.storage.db import session_scope
from bot.storage.models import CalendarSource, Delivery, OccurrenceRow, Reflection
from bot.sync import feeds

TEAM = "T0001"
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
USER_EMAIL = "ana@example.com"
STEP = timedelta(minutes=1)


def at(day: str, hhmm: str, zone: ZoneInfo = BERLIN) -> datetime:
    """An aware UTC instant from a local date and time: at("2026-03-23", "09:30")."""
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=zone).astimezone(UTC)


def local_hhmm(moment: datetime, zone: ZoneInfo = BERLIN) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------- ICS


VTIMEZONE_BERLIN = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE"""


@dataclass(frozen=True)
class Event:
    """One VEVENT in Europe/Berlin local time ("2026-03-23 09:30")."""

    uid: str
    summary: str
    start: str
    minutes: int = 30
    people: Sequence[str] = ()  # the other attendees' addresses (the first organises)
    partstat: str = "ACCEPTED"  # the user's own answer
    rrule: str | None = None
    recurrence_id: str | None = None  # local start of the instance this one replaces
    status: str | None = None
    all_day: bool = False
    location: str | None = None

    def lines(self) -> list[str]:
        out = ["BEGIN:VEVENT", f"UID:{self.uid}", "DTSTAMP:20260301T120000Z"]
        out.append(f"SUMMARY:{self.summary}")
        if self.all_day:
            day = self.start.split()[0].replace("-", "")
            out += [f"DTSTART;VALUE=DATE:{day}", f"DTEND;VALUE=DATE:{int(day) + 1}"]
        else:
            start = datetime.fromisoformat(self.start)
            end = start + timedelta(minutes=self.minutes)
            out += [
                f"DTSTART;TZID=Europe/Berlin:{start:%Y%m%dT%H%M%S}",
                f"DTEND;TZID=Europe/Berlin:{end:%Y%m%dT%H%M%S}",
            ]
        if self.rrule:
            out.append(f"RRULE:{self.rrule}")
        if self.recurrence_id:
            rid = datetime.fromisoformat(self.recurrence_id)
            out.append(f"RECURRENCE-ID;TZID=Europe/Berlin:{rid:%Y%m%dT%H%M%S}")
        if self.status:
            out.append(f"STATUS:{self.status}")
        if self.location:
            out.append(f"LOCATION:{self.location}")
        if self.people:
            out.append(f"ORGANIZER;CN=Organiser:mailto:{self.people[0]}")
            out.append(f"ATTENDEE;CN=Ana;PARTSTAT={self.partstat}:mailto:{USER_EMAIL}")
            out += [f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{p}" for p in self.people]
        out.append("END:VEVENT")
        return out


def ics(events: Iterable[Event]) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Heedful tests//EN", "METHOD:PUBLISH"]
    lines += VTIMEZONE_BERLIN.splitlines()
    for event in events:
        lines += event.lines()
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def colleagues(n: int) -> list[str]:
    """``n`` people from the user's own domain."""
    return [f"colleague{i}@example.com" for i in range(1, n + 1)]


@dataclass
class FeedServer:
    """State of the loopback feed server: ``feeds[path]`` is served with 200."""

    base: str = ""
    feeds: dict[str, bytes] = field(default_factory=dict)
    hits: int = 0

    def publish(self, events: Iterable[Event], path: str | None = None) -> str:
        path = path or f"/{uuid.uuid4().hex}/basic.ics"
        self.feeds[path] = ics(events)
        return self.base + path


# --------------------------------------------------------------------------- what was sent


@dataclass(frozen=True)
class Sent:
    """A DM the emulator received from Heedful, and the virtual time it was sent at."""

    at: datetime
    message: dict[str, Any]

    @property
    def ts(self) -> str:
        return str(self.message["ts"])

    @property
    def text(self) -> str:
        return str(self.message.get("text") or "")

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return list(self.message.get("blocks") or [])

    @property
    def payload(self) -> dict[str, Any]:
        return dict((self.message.get("metadata") or {}).get("event_payload") or {})

    @property
    def kind(self) -> str:
        return str(self.payload.get("kind"))

    @property
    def delivery_id(self) -> int:
        return int(self.payload["delivery_id"])

    @property
    def occurrence(self) -> str | None:
        return self.payload.get("occurrence")

    @property
    def due_at(self) -> datetime:
        return datetime.fromisoformat(self.payload["due_at"])

    def section_texts(self) -> list[str]:
        return [b["text"]["text"] for b in self.blocks if b.get("type") == "section"]

    def line(self, emoji: str) -> str | None:
        """The text after ``:emoji:`` in a section (":ear:" → the intention)."""
        for text in self.section_texts():
            for line in text.splitlines():
                if line.startswith(f":{emoji}: "):
                    return line[len(emoji) + 3 :]
        return None

    def action_values(self, action_id: str) -> list[str]:
        return [
            element.get("value", "")
            for block in self.blocks
            if block.get("type") == "actions"
            for element in block.get("elements", [])
            if element.get("action_id") == action_id
        ]


def assert_valid_message(sent: Sent) -> None:
    """Block Kit limits, a text fallback and the metadata of DESIGN.md "Messages"."""
    assert sent.text.strip(), "no text fallback"
    assert sent.blocks, "no blocks (Slack refused them and the plain text went out?)"
    assert len(sent.blocks) <= 50
    for block in sent.blocks:
        if block.get("type") == "section":
            assert 0 < len(block["text"]["text"]) <= 3000
    metadata = sent.message.get("metadata") or {}
    assert metadata.get("event_type") == METADATA_EVENT_TYPE
    payload = metadata["event_payload"]
    assert {"delivery_id", "kind", "due_at"} <= set(payload)
    assert datetime.fromisoformat(payload["due_at"]).utcoffset() == timedelta(0)
    if sent.kind in ("reminder", "reflection", "transition"):
        assert payload.get("occurrence"), "a nudge names its meeting"


# --------------------------------------------------------------------------- sentences

_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_EMOJI_CODE = re.compile(r":[a-z0-9_+'-]+:")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def sentences(text: str) -> list[str]:
    """A DM's mrkdwn as the sentences a person reads: a link as its text and address,
    without emoji codes, bold and quote marks, split after . ! ? and at line ends."""
    text = _EMOJI_CODE.sub("", _LINK.sub(r"\2 \1", text)).replace("*", "")
    found = []
    for part in _SENTENCE_END.split(text):
        part = part.strip().removeprefix(">").strip()
        if part:
            found.append(part)
    return found


def message_sentences(message: dict[str, Any]) -> set[str]:
    """Every sentence one DM shows: its text and the texts of its header, section and
    context blocks. Once per DM, however often it repeats in it (the fallback says what
    the blocks say). Button labels are controls, not sentences."""
    texts = [str(message.get("text") or "")]
    for block in message.get("blocks") or []:
        if block.get("type") in ("header", "section") and block.get("text"):
            texts.append(block["text"]["text"])
        if block.get("type") == "context":
            texts += [e.get("text", "") for e in block.get("elements", [])]
    return {sentence for text in texts for sentence in sentences(text)}


def sentences_by_week(
    driver: Driver, *, exempt: Iterable[str] = ()
) -> dict[tuple[int, int], Counter[str]]:
    """How many DMs said each sentence, by the user's ISO week: every message Heedful
    posted in the DM (as it is now, taps included), thread replies too. A sentence
    that names one of ``exempt`` (the meetings' titles, their join links: what makes it
    about one meeting, not a fixed sentence) is left out."""
    when = {s.ts: s.at for s in [*driver.sent, *driver.replies]}
    weeks: dict[tuple[int, int], Counter[str]] = {}
    marks = [m for m in exempt if m]
    for message in driver.emulator.bot_messages(driver.user):
        at_ = when[message["ts"]].astimezone(BERLIN)
        year, week, _ = at_.isocalendar()
        counted = weeks.setdefault((year, week), Counter())
        for sentence in message_sentences(message):
            if not any(mark in sentence for mark in marks):
                counted[sentence] += 1
    return weeks


# --------------------------------------------------------------------------- the driver


Hook = Callable[["Sent"], None]


class TrackingExecutor(Executor):
    """Bolt runs action, view and command listeners on a thread pool after the ack (as
    it must, in HTTP mode): this one remembers their futures so a test can wait for
    the listeners to finish before it looks at what they did."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self._futures: list[Future[Any]] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = self.inner.submit(fn, *args, **kwargs)
        with self._lock:
            self._futures.append(future)
        return future

    def wait(self, timeout: float = 10.0) -> None:
        while True:
            with self._lock:
                pending, self._futures = self._futures, []
            if not pending:
                return
            futures.wait(pending, timeout=timeout)


def track_listeners(heedful: Heedful) -> TrackingExecutor:
    runner = heedful.ingress.listener_runner
    tracking = TrackingExecutor(runner.listener_executor)
    runner.listener_executor = tracking
    runner.lazy_listener_runner.executor = tracking  # type: ignore[attr-defined]
    return tracking


class Driver:
    """Runs the real app on the virtual clock and records what Heedful DMs to ``user``."""

    def __init__(
        self, heedful: Heedful, emulator: SlackEmulator, clock: VirtualClock, user: str = "U1"
    ) -> None:
        self.heedful = heedful
        self.services = heedful.services
        self.emulator = emulator
        self.clock = clock
        self.user = user
        self.sent: list[Sent] = []  # Heedful's DMs that carry delivery metadata
        self.replies: list[Sent] = []  # its other messages (confirmations)
        self._seen: set[str] = set()
        self.listeners = track_listeners(heedful)

    @property
    def url(self) -> str:
        return self.heedful.url + "/slack/events"

    # -- inbound, through signed requests ----------------------------------------------

    def open_home(self, user: str | None = None) -> None:
        result = self.emulator.open_home(self.url, user or self.user)
        assert result.status == 200, result.body
        self.settle()

    def says(self, text: str, thread_ts: str | None = None, user: str | None = None) -> str:
        ts = self.emulator.user_says(self.url, user or self.user, text, thread_ts=thread_ts)
        self.settle()
        return ts

    def edits(self, ts: str, text: str, user: str | None = None) -> None:
        result = self.emulator.user_edits(self.url, user or self.user, ts, text)
        assert result is not None and result.status == 200
        self.settle()

    def deletes(self, ts: str, *, with_previous: bool = True, user: str | None = None) -> None:
        """Delete a message from the DM: Slack's ``message_deleted``, signed."""
        result = self.emulator.user_deletes(
            self.url, user or self.user, ts, with_previous=with_previous
        )
        assert result is not None and result.status == 200
        self.settle()

    def click(
        self,
        action_id: str,
        sent: Sent | None = None,
        value: str | None = None,
        *,
        as_sent: bool = False,
    ) -> Any:
        """Click a button on ``sent`` as it is now in the DM (or, ``as_sent``, as it was
        first shown: a client that has not caught up with an update)."""
        message = None
        if sent is not None:
            message = sent.message
            if not as_sent:
                message = next(m for m in self.emulator.messages(self.user) if m["ts"] == sent.ts)
        result = self.emulator.click_button(self.url, self.user, action_id, value, message)
        assert result.status == 200, result.body
        self.settle()
        return result

    def submit(self, view: dict[str, Any], values: dict[str, Any]) -> Any:
        result = self.emulator.submit_view(self.url, self.user, view, values)
        assert result.status == 200, result.body
        self.settle()
        return result

    def command(self, text: str) -> Any:
        result = self.emulator.send_command(self.url, "/heedful", text, user_id=self.user)
        assert result.status == 200, result.body
        self.settle()
        return result

    def questions_a_day(self, count: int) -> Driver:
        """Set the person's "questions a day" as the settings form does (and re-plan).
        Tests of something else than the daily cap use 4, the most one may choose."""
        home.save_settings(
            self.services,
            team_id=TEAM,
            user_id=self.user,
            changes={"max_reflections_per_day": count},
        )
        return self

    def answer(self, sent: Sent) -> None:
        """A hook for ``run_until``: reply to every question in its thread (an engaged
        user, so the back-off never starts)."""
        if sent.kind in ("reflection", "transition"):
            self.says(f"A line about {sent.occurrence}.", thread_ts=sent.ts)

    def settle(self) -> None:
        """Let the listeners and the slow work they started finish, drain the inbox and
        send what is due now (what the workers would do)."""
        self.listeners.wait()
        assert self.services.slow_work.wait_idle(timeout=60), "slow work did not finish"
        self.heedful.process_inbox()
        self.heedful.send_due()
        self.collect()

    # -- time --------------------------------------------------------------------------

    def collect(self) -> list[Sent]:
        """The messages that reached the user's DM since the last look."""
        new = []
        for message in self.emulator.bot_messages(self.user):
            if message["ts"] in self._seen:
                continue
            self._seen.add(message["ts"])
            sent = Sent(self.clock.now(), message)
            meta = message.get("metadata") or {}
            # Nudges are deliveries; replies (kind "notice": confirmations, "paused
            # until …"; kind "ack": the line that stands in for a reaction) go through the
            # outbox too, but the tests read them apart.
            if meta.get("event_type") == METADATA_EVENT_TYPE and (
                meta.get("event_payload") or {}
            ).get("kind") not in ("notice", "ack"):
                self.sent.append(sent)
                new.append(sent)
            else:
                self.replies.append(sent)
        return new

    def run_until(self, end: datetime, on_sent: Hook | None = None) -> list[Sent]:
        """Advance to ``end``, stopping at every due delivery and calendar poll on the way
        (one-minute steps, and straight jumps over the stretches where nothing is due)."""
        before = len(self.sent)
        while True:
            now = self.clock.now()
            poll = self._next_poll()
            if poll is not None and poll <= now:
                feeds.refresh_due_sources(self.services)
            self.heedful.process_inbox()
            self.heedful.send_due()
            for sent in self.collect():
                if on_sent is not None:
                    on_sent(sent)
            if now >= end:
                return self.sent[before:]
            due = repo.next_due(engine=self.services.engine)
            if due is not None and due <= now:  # due but not sendable yet: step
                upcoming = now + STEP
            else:
                later = [t for t in (due, self._next_poll()) if t is not None and t > now]
                upcoming = min([end, *later])
            self.clock.set(min(upcoming, end))

    def _next_poll(self) -> datetime | None:
        t = CalendarSource.__table__.c
        with self.services.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.min(t.next_check_at))).scalar()

    def connect(self, feed_server: FeedServer, events: Iterable[Event]) -> feeds.Connected:
        """Connect a feed of ``events`` through the real path (fetch, parse, opt in, plan)."""
        url = feed_server.publish(events)
        return feeds.connect_feed(
            self.services, team_id=TEAM, user_id=self.user, url=url, label="Work"
        )

    def starts(self, moment: datetime, feed_server: FeedServer, events: Iterable[Event]) -> Driver:
        """The person at ``moment``: their Home tab opened (Heedful learns their zone from
        Slack), then a feed of ``events`` connected. Returns the driver, for an ``ana``
        fixture."""
        self.clock.set(moment)
        self.open_home()
        self.connect(feed_server, events)
        return self

    # -- what was sent -----------------------------------------------------------------

    def title(self, sent: Sent) -> str:
        t = OccurrenceRow.__table__.c
        with self.services.engine.connect() as conn:
            return str(
                conn.execute(sa.select(t.title).where(t.key == sent.occurrence)).scalar_one()
            )

    def nudge(self, kind: str, title: str) -> Sent:
        """The one ``kind`` DM about the meeting called ``title``."""
        (found,) = [s for s in self.sent if s.kind == kind and self.title(s) == title]
        return found

    def key_of(self, title: str) -> str:
        t = OccurrenceRow.__table__.c
        with self.services.engine.connect() as conn:
            return str(conn.execute(sa.select(t.key).where(t.title == title)).scalar_one())

    # -- what is stored ----------------------------------------------------------------

    def reactions_on(self, ts: str) -> list[str]:
        """The reactions Heedful added to the message ``ts`` (the emulator's record)."""
        return [r["name"] for r in self.emulator.reactions if r["ts"] == ts]

    def deliveries(self, **where: Any) -> list[Any]:
        t = Delivery.__table__.c
        with self.services.engine.connect() as conn:
            query = sa.select(Delivery.__table__).where(t.user_id == self.user)
            for name, value in where.items():
                query = query.where(t[name] == value)
            return list(conn.execute(query.order_by(t.id)))

    def reflections(self) -> list[Any]:
        t = Reflection.__table__.c
        with self.services.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(Reflection.__table__).where(t.user_id == self.user).order_by(t.id)
                )
            )

    def text_of(self, reflection: Any) -> str:
        return self.services.cipher.decrypt(reflection.text)

    def user_row(self) -> Any:
        with session_scope(self.services.engine) as session:
            row = repo.get_user(session=session, team_id=TEAM, user_id=self.user)
            session.expunge_all()
            return row
