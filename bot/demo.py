"""``heedful demo``: the whole product on a virtual clock, with no Slack account.

The real app (Bolt apps, inbox, sender, planner, digest) and a temporary SQLite
database; the built-in Slack Web API emulator (or ``--slack-api-url``); a calendar
feed served on loopback, connected and then polled through the real path (the sample
calendar's meetings recur, so any ``--days`` plays real weeks); a simulated person who
answers most reflection questions by replying in the thread, through signed events on
the real inbound path. The clock jumps from one thing to do to the next, so a week
takes seconds.

``--calendar google`` connects the same sample week as Google Calendar instead: a fake
Google (``bot.emulator.FakeGoogle``) on loopback and on the demo's clock holds it as
Google events (each series one recurring event, ``bot.demo_week.load_into_google``); the
app is configured with its endpoints and ``HEEDFUL_PUBLIC_URL`` ``https://heedful.test``
(routed to the app's port), and the person connects through the real path: Heedful's
link, ``GET /oauth/google/start``, Google's consent, the callback, then the worker's
first sync, push channel and "Connected" DM. The periodic Google sync runs when the feed
poll would. On the first Tuesday morning played, that week's 1:1 with Dana (Wednesday)
moves 30 minutes later and the 1:1 with Eli (Friday) is cancelled in Google, which says
so by one push to ``/hooks/google`` (``bot.demo_week.sample_changes``); the reminder
then comes at the new time, and nothing comes for Eli's. ``--ics`` is a feed only.

``--calendar microsoft`` plays the same through Outlook: a fake Microsoft
(``bot.emulator.FakeMicrosoft``: identity platform and Graph, HTTPS on loopback with a
certificate this process trusts while it runs, ``bot.demo_calendars.trusting``) holds the
week as weekly series of Graph (``bot.demo_week.load_into_microsoft``); the person signs in
with Microsoft (MSAL, the callback, the worker's delta sync, subscription and
"Connected" DM); the periodic delta sync runs when the feed poll would; the same two
meetings change on Tuesday morning, announced by one change notification to
``/hooks/microsoft`` and synced by the worker. Both calendar kinds are one small strategy
each (``bot.demo_calendars``); the flow here is shared.

Two weeks by default (``DEFAULT_DAYS``): what colleagues say about a meeting is shown
only once its week has closed, in the next week's digest, so one week could not show it.

What the played person does, through signed requests on the real inbound path, as a
person in Slack would:

* opens the Home tab (the welcome DM), taps *Write my why*, writes it
  (``demo.why_words``) and leaves the focus practice to Heedful's suggestion, so the
  reminders and questions lean toward it and each digest opens with their words;
* turns on feedback from others, on the Home tab, for the series with the most
  colleagues (five or more). With the built-in emulator, everyone in the calendar who
  shares the person's e-mail domain is in the workspace; after such a meeting each is
  asked the anonymous question, two in three answer (:data:`PEER_ANSWERS` in turn), and
  the next week's digest shows the total;
* answers reflection questions (below), accepts every offer to *bring this back* (a
  commitment in an answer), and taps *yes* when the question after the next meeting
  with the same people asks whether they did it.

What it prints, in time order:

* every DM Heedful sends, and each week's digest on its day; of a round of anonymous
  questions to colleagues, the first (with ``--json``, each) and one line that counts
  them and their answers;
* the person's why, taps and answers. By default an answer fits the practice of the
  question it answers (``demo.answer.<practice>`` in ``prompts/demo.toml``) and none
  repeats within a week; every fourth question stays unanswered. ``--answers FILE``
  gives them instead: one per line, in the order of the questions, an empty line for no
  answer;
* with ``--calendar google`` or ``microsoft``, a line for each meeting changed in that
  calendar, when it changes;
* a "stays silent" line for each meeting Heedful sends nothing about, at its start,
  with the reason Heedful had (``bot.occurrences.silences``: the occurrence's own reason,
  or the planner rule that dropped its nudges), dim on a terminal;
* when the days played end inside a week whose digest has not come yet, the person
  asks ``/heedful digest`` (a real slash command) and the demo shows Heedful's
  answer: that week so far. So every week shown has its digest.

``--json`` prints one object per line. DMs are as DESIGN.md says: ``at``, ``user``,
``kind``, ``occurrence``, ``text``, ``blocks`` (a question to a colleague,
``"kind": "feedback_ask"``, has that colleague's ``user``). The other lines have the same
six keys: the person's why (``"kind": "why"``), their taps (``"kind": "tap"``, ``text``
says which button), a colleague's anonymous answer (``"kind": "peer-answer"``, their
``user``, the button's words as ``text``: the demo's own script, never something Heedful
stores), the person's answers (``"kind": "answer"``), the ``/heedful digest`` command
(``"kind": "command"``) and its ephemeral answer (``"kind": "week-so-far"``), a meeting
changed in Google Calendar or Outlook (``"kind": "calendar-change"``, ``occurrence`` its
key, ``text`` what changed), and the silences (``"kind": "silent"``, ``at`` the meeting's start,
``occurrence`` its key, ``blocks`` empty), which carry one more key, ``reason``: the
planner's reason code.

Where the words are: everything Heedful says comes from ``prompts/`` through the real
composers; the demo's own lines (intro, closing, the calendar changes, "stays silent"
and its reasons) and the played person's answers are in ``prompts/demo.toml``, the
answers tagged with the practice of the questions they fit.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import logging
import os
import re
import secrets
import sys
import tempfile
import textwrap
import threading
import time as wall
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.messages.prompts import load_prompts

if TYPE_CHECKING:
    from bot.demo_calendars import HostedCalendar
    from bot.sender import SentDM
    from bot.storage.deliveries import ClaimedDelivery

logger = logging.getLogger(__name__)

DEMO_EMAIL = "ana@example.com"
DEMO_ZONE = "Europe/Berlin"
ANSWER_AFTER = timedelta(minutes=3)
SKIP_EVERY = 4  # by default the simulated person leaves every fourth question unanswered
TAP_AFTER = timedelta(minutes=1)  # the played person taps an offer or a check-in
# What the colleagues asked for feedback answer, in turn (two in three of them answer).
PEER_ANSWERS = ("heard", "heard", "somewhat", "heard", "not_heard", "somewhat")
MAX_STEP = timedelta(hours=1)  # the digest planner runs at least hourly
# The calendar poll. `heedful run` polls every few minutes; the demo's feed never
# changes, so a poll every six hours of its clock moves the window on as well.
POLL_EVERY = timedelta(hours=6)
RESPONSE_WAIT = 10.0  # seconds for the answer to /heedful digest (real time)
MAX_DAYS = 60
CALENDARS = ("ics", "google", "microsoft")
DEFAULT_DAYS = 14
WIDTH = 100
PAD = 25

DIM, RESET = "\x1b[2m", "\x1b[0m"


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ics", type=Path, help="a calendar file to use instead of the sample calendar"
    )
    parser.add_argument(
        "--user-email",
        default=None,
        help=f"the demo person's address in that calendar; also names them (default {DEMO_EMAIL})",
    )
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=None,
        help="first day, YYYY-MM-DD (default: next Monday)",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=DEFAULT_DAYS,
        help=f"how many days to play, 1-{MAX_DAYS} (default {DEFAULT_DAYS}: two weeks, so "
        "that the second week's digest holds what colleagues said in the first)",
    )
    parser.add_argument(
        "--answers",
        type=Path,
        default=None,
        help="the person's answers, one per line in the order of the questions; an empty "
        "line leaves that question unanswered (default: answers that fit each question)",
    )
    parser.add_argument(
        "--slack-api-url",
        default=None,
        help="a Slack-compatible Web API to use instead of the built-in emulator "
        "(its bot token: SLACK_BOT_TOKEN, default xoxb-emulator)",
    )
    parser.add_argument(
        "--calendar",
        choices=CALENDARS,
        default="ics",
        help="how the sample calendar is connected: an ICS feed (default); Google Calendar "
        "through Google sign-in and push notifications, against a fake Google on this "
        "machine; or Outlook (Microsoft 365) through Microsoft sign-in, change "
        "notifications and delta sync, against a fake Microsoft on this machine",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--tz", default=DEMO_ZONE, help=f"the demo person's zone (default {DEMO_ZONE})"
    )


def person_name(email: str) -> str:
    """A name from an address: ``zoe.martin+work@acme.test`` → ``Zoe Martin``."""
    local = email.partition("@")[0].partition("+")[0]
    words = [w for w in re.split(r"[._\-]+", local) if w]
    return " ".join(w[:1].upper() + w[1:] for w in words) or email


def demo_user_id(name: str) -> str:
    """A Slack-like user id for the built-in emulator's person: ``Ana`` → ``U0DEMOANA``."""
    letters = re.sub(r"[^A-Z0-9]", "", name.upper())[:5]
    return f"U0DEMO{letters or 'USER'}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass
class _Pending:
    due: datetime
    channel: str
    thread_ts: str
    text: str


@dataclass
class _Tap:
    """A button someone in the demo taps, when it is due: the played person (a *bring
    this back* offer, a check-in) or a colleague (the anonymous question)."""

    due: datetime
    user_id: str
    action_id: str
    value: str | None
    message: dict[str, Any] | None  # the message the button is on (None: Slack finds it)
    label: str  # the tap in words: the played person's line, a colleague's button
    peer: bool = False  # a colleague answering the anonymous question


class Demo:
    def __init__(
        self, args: argparse.Namespace, out: Any = sys.stdout, answers: list[str] | None = None
    ) -> None:
        self.args = args
        self.out = out
        self.zone = ZoneInfo(args.tz)
        self.email = (args.user_email or DEMO_EMAIL).lower()
        self.name = person_name(self.email)
        self.user_id = demo_user_id(self.name)
        today = datetime.now(UTC).astimezone(self.zone).date()
        self.first_day = args.start or today + timedelta(days=(7 - today.weekday()) % 7 or 7)
        self.scripted = answers  # --answers: the lines of the file
        self.pending: list[_Pending] = []
        self.taps: list[_Tap] = []
        self.colleagues: dict[str, str] = {}  # user id → address, the workspace's others
        self.peers = {"asked": 0, "answered": 0}  # the anonymous question, this round
        self.counts = {"dms": 0, "answers": 0, "digests": 0}
        self.asked = 0
        self.given: dict[tuple[int, int], set[str]] = {}  # answers given, by local ISO week
        self.weeks_shown: set[tuple[int, int]] = set()
        self.weeks_digested: set[tuple[int, int]] = set()
        self.upcoming: dict[str, Any] = {}  # meetings not yet judged, by key
        self.asks: set[datetime] = set()  # when the feedback job has colleagues to ask
        self.judged: set[str] = set()
        self.dm_channel: str | None = None
        # --calendar google or microsoft: the calendar's strategy (bot.demo_calendars),
        # and the SampleChanges still to come.
        self.calendar: HostedCalendar | None = None
        self.changes: list[Any] = []
        self.last_day: date | None = None
        self.reader_left = False
        self.dim = not args.json and _is_terminal(out) and not os.environ.get("NO_COLOR")

    # ------------------------------------------------------------------ output

    def _week(self, at: datetime) -> tuple[int, int]:
        year, week, _ = at.astimezone(self.zone).isocalendar()
        return year, week

    def _emit(
        self,
        at: datetime,
        who: str,
        kind: str,
        text: str,
        *,
        dim: bool = False,
        user: str | None = None,
        **extra: Any,
    ) -> None:
        self.weeks_shown.add(self._week(at))
        if self.args.json:
            line = {
                "at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "user": user or self.user_id,
                "kind": kind,
                "occurrence": None,
                "text": text,
                "blocks": [],
            }
            line.update(extra)
            self._write(json.dumps(line, ensure_ascii=False))
            return
        local = at.astimezone(self.zone)
        if local.date() != self.last_day:
            self.last_day = local.date()
            self._write(f"\n{local:%A} {local.day} {local:%B}")  # %-d fails on Windows
        pad = " " * PAD
        body = "\n".join(
            textwrap.fill(line, width=WIDTH, initial_indent=pad, subsequent_indent=pad)
            for line in text.split("\n")
        )[PAD:]
        line = f"  {local:%H:%M}  {who:<16} {body}"
        if dim and self.dim:
            line = f"{DIM}{line}{RESET}"
        self._write(line)

    def _say(self, text: str) -> None:
        if not self.args.json:
            self._write(text)

    def _write(self, text: str) -> None:
        if self.reader_left:
            return
        try:
            print(text, file=self.out, flush=True)
        except BrokenPipeError:  # `heedful demo | head`: the reader left; stop quietly
            self.reader_left = True
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), self.out.fileno())

    # ------------------------------------------------------------------ run

    def run(self) -> int:
        from bot.app import Heedful
        from bot.clock import VirtualClock
        from bot.config import Settings
        from bot.emulator import SlackEmulator
        from bot.services import build_services
        from bot.storage.db import upgrade
        from bot.users import remember_user

        self.start = datetime.combine(self.first_day, time(7, 0), self.zone)
        end = self.start + timedelta(days=self.args.days)
        clock = self.clock = VirtualClock(self.start)
        secret = secrets.token_hex(16)
        with (
            tempfile.TemporaryDirectory(prefix="heedful-demo-") as tmp,
            self._slack(secret) as emu,
            self._hosted(clock) as hosted,
        ):
            self.emulator = emu
            self.calendar = hosted
            api_url, token = self._api(emu)
            settings = Settings(
                slack_bot_token=token,
                slack_signing_secret=secret,
                slack_api_url=api_url,
                database_url=f"sqlite:///{Path(tmp) / 'demo.db'}",
                port=0,
                allow_private_feeds=True,  # the demo serves its calendar on loopback
                # Its clock jumps from scene to scene and its Slack sets no limit: a paced
                # fan-out (24 colleagues asked at once) would straddle scenes.
                slack_messages_per_minute=100_000.0,
                **(hosted.settings() if hosted is not None else {}),
            )
            services = self.services = build_services(settings, clock=clock)
            upgrade(services.engine)
            self.team_id = services.install_from_token(token)
            # Acting as Slack towards the app: it signs the person's events and commands,
            # and (with another Slack API) receives the answers sent to a response_url.
            self.signer = SlackEmulator(
                signing_secret=secret, team_id=self.team_id, socket_mode=False
            )
            if emu is None:
                self._find_user(services.clients.for_token(token))
                self.signer.start()
            app = Heedful(services, run_workers=False)
            app.sender.observers.append(self._on_sent)
            app.start()
            if hosted is not None:  # notifications to Heedful's public address reach the app
                hosted.route(app.url)
            try:
                prompts = load_prompts()
                slack = (
                    prompts.text("demo.slack.built_in")
                    if emu is not None
                    else prompts.text("demo.slack.other", url=api_url)
                )
                self._say(
                    prompts.text(
                        "demo.intro",
                        days=_plural(self.args.days, "day"),
                        name=self.name,
                        zone=self.args.tz,
                        start=f"{self.first_day:%A} {self.first_day.day} {self.first_day:%B %Y}",
                        slack=slack,
                    )
                )
                remember_user(
                    services,
                    team_id=self.team_id,
                    user_id=self.user_id,
                    profile={"tz": self.args.tz, "profile": {"email": self.email}},
                )
                self.app_url = f"{app.url}/slack/events"
                if emu is not None:  # the person opens Heedful's Home tab: the welcome DM
                    emu.open_home(self.app_url, self.user_id)
                    app.process_inbox()
                    app.send_due()
                self._write_why(app)
                with self._calendar(app) as addresses:
                    self._meet_colleagues(addresses)
                    self._turn_feedback_on(app)
                    self._play(app, end)
                    self._week_so_far(end)
            finally:
                app.stop()
                self.signer.stop()
        prompts = load_prompts()
        self._say(
            prompts.text(
                "demo.done",
                dms=_plural(self.counts["dms"], "DM"),
                answers=_plural(self.counts["answers"], "answer"),
                name=self.name,
                digests=_plural(self.counts["digests"], "weekly digest"),
            )
            + " "
            + (
                prompts.text("demo.nothing_sent")
                if emu is not None
                else prompts.text("demo.sent_to", url=api_url)
            )
        )
        return 0

    def _play(self, app: Any, end: datetime) -> None:
        from bot.storage import deliveries
        from bot.sync import feeds

        clock = self.clock
        hourly = poll = clock.now()
        while clock.now() < end and not self.reader_left:
            now = clock.now()
            # Someone changes a meeting in Google Calendar or Outlook, which notifies.
            self._changes_due(app, now, end)
            # What `heedful run` does on its own schedule: poll the calendars (the feeds'
            # window moves on with the days; Google's or Microsoft's periodic sync and the
            # renewal of its channel or subscription) and plan the week's digest.
            if now >= poll:
                feeds.refresh_due_sources(self.services)
                if self.calendar is not None:
                    self.calendar.sync(app)
                self._load_meetings(now, end)
                poll = now + POLL_EVERY
            # The feedback job (every minute in `heedful run`): hourly, and as soon as a
            # meeting's colleagues may be asked (its end and the job's delay).
            asking = sorted(t for t in self.asks if t <= now)
            if now >= hourly or asking:
                app.ask_for_feedback()
                self.asks -= set(asking)
            if now >= hourly:
                app.plan_digests()
                hourly = now + MAX_STEP
            app.send_due()
            self._answer_due(now)
            self._taps_due(now)
            app.process_inbox()
            self._silences_due(now)
            candidates = [hourly, end]
            due = deliveries.next_due(engine=self.services.engine)
            if due is not None:
                candidates.append(due if due > now else now + timedelta(seconds=1))
            candidates += [p.due for p in [*self.pending, *self.taps] if p.due > now]
            candidates += [m.start for m in self.upcoming.values() if m.start > now]
            candidates += [t for t in self.asks if t > now]
            candidates += [c.at for c in self.changes if c.at > now]
            clock.set(max(min(candidates), now + timedelta(seconds=1)))

    # ------------------------------------------------------------------ Slack

    @contextmanager
    def _slack(self, secret: str) -> Iterator[Any]:
        if self.args.slack_api_url:
            yield None
            return
        from bot.emulator import SlackEmulator

        emu = SlackEmulator(signing_secret=secret)
        emu.start()
        emu.add_user(self.user_id, tz=self.args.tz, email=self.email, real_name=self.name)
        try:
            yield emu
        finally:
            emu.stop()

    def _api(self, emu: Any) -> tuple[str, str]:
        if emu is not None:
            return emu.api_url, emu.bot_token
        url = self.args.slack_api_url
        return url if url.endswith("/") else url + "/", os.environ.get(
            "SLACK_BOT_TOKEN", "xoxb-emulator"
        )

    def _find_user(self, client: Any) -> None:
        """With another Slack API, play one of its people: the one with ``--user-email``,
        else the first person it lists."""
        person: dict[str, Any] | None = None
        try:
            person = client.users_lookupByEmail(email=self.email)["user"]
        except Exception:
            members = client.users_list().get("members") or []
            person = next(
                (m for m in members if not m.get("is_bot") and not m.get("deleted")), None
            )
        if person is None:
            raise DemoError(f"the Slack API at {self.args.slack_api_url} has no person to play")
        self.user_id = person["id"]
        email = (person.get("profile") or {}).get("email")
        self.email = (email or self.email).lower()
        named = person.get("real_name") or (person.get("profile") or {}).get("real_name")
        # A "name" that is only the id (the emulator's default) names nobody.
        self.name = named if named and named != self.user_id else person_name(self.email)
        if person.get("tz"):
            self.zone = ZoneInfo(person["tz"])
            self.args.tz = person["tz"]

    # ------------------------------------------------------------------ the calendar

    @contextmanager
    def _calendar(self, app: Any) -> Iterator[set[str]]:
        """Connect the calendar through the real path, as the person would: an ICS feed
        (served on loopback for as long as the demo plays), or Google or Microsoft
        sign-in. Yields the addresses of the people in it."""
        from bot.demo_week import sample_events
        from bot.sync import feeds

        prompts = load_prompts()
        if self.calendar is None:
            with self._feed() as (url, data):
                connected = feeds.connect_feed(
                    self.services, team_id=self.team_id, user_id=self.user_id, url=url
                )
                what = str(self.args.ics) if self.args.ics else prompts.text("demo.sample")
                summary = feeds.connected_text(prompts, name=what, upcoming=connected.upcoming)
                self._say(prompts.text("demo.calendar", connected=summary))
                found = re.findall(rb"mailto:([^\s;:<>\"]+)", data, flags=re.I)
                yield {a.decode(errors="replace").lower() for a in found}
            return
        what = prompts.text("demo.sample")
        self._say(prompts.text(f"demo.signin.{self.calendar.kind}", what=what, name=self.name))
        self._connect(app)
        events = sample_events(self.first_day, self.zone)
        yield {self.email, *(p.lower() for e in events for p in e.people)}

    # ------------------------------------------------------------------ Google, Outlook

    @contextmanager
    def _hosted(self, clock: Any) -> Iterator[HostedCalendar | None]:
        """With ``--calendar google`` or ``microsoft``: that calendar's strategy
        (``bot.demo_calendars``), its fake running on loopback and on the demo's clock
        for as long as the block; None for a feed. Changes in the fake are announced by
        :meth:`_changes_due`, not as they are made."""
        from bot.demo_calendars import hosted_calendar

        calendar = hosted_calendar(self.args.calendar)
        if calendar is None:
            yield None
            return
        with calendar.running(clock):
            yield calendar

    def _connect(self, app: Any) -> None:
        """The person connects their calendar as in Slack: opens Heedful's link, the
        provider's consent sends the browser back to the callback, and the worker reads
        the calendar, opens the push channel or subscription and sends the "Connected"
        DM. The account is the person's (with another Slack API, the one found there)."""
        from bot.demo_calendars import Person
        from bot.demo_week import sample_changes

        calendar = self.calendar
        assert calendar is not None
        person = Person(self.team_id, self.user_id, self.email, self.name, self.args.tz)
        # The series reach past the last day played by more than the sync's horizon.
        until = self.first_day + timedelta(days=self.args.days) + timedelta(weeks=3)
        link = calendar.connect(self.services, person, self.first_day, until)
        self.changes = sample_changes(self.first_day, self.zone, self.start)
        page = self._browse(app, link)
        if page.status_code != 200:
            raise DemoError(f"the {calendar.kind} sign-in ended with {page.status_code}")
        app.process_inbox()
        app.send_due()

    def _browse(self, app: Any, url: str) -> Any:
        """Open ``url`` as a browser would, following redirects by hand (Heedful's public
        address is served by the app's loopback port); returns the last answer."""
        import httpx

        from bot.demo_calendars import PUBLIC_URL

        for _ in range(5):
            local = url.replace(PUBLIC_URL, app.url, 1) if url.startswith(PUBLIC_URL) else url
            answer = httpx.get(local, follow_redirects=False, timeout=RESPONSE_WAIT)
            if answer.status_code not in (302, 303) or "location" not in answer.headers:
                return answer
            url = answer.headers["location"]
        raise DemoError("the sign-in redirected too often")

    def _changes_due(self, app: Any, now: datetime, end: datetime) -> None:
        """Meetings changed in Google Calendar or Outlook (``bot.demo_week.sample_changes``):
        made in the fake, announced by one notification to Heedful's hook, synced by the
        worker; a line for each (``"kind": "calendar-change"``)."""
        from bot.demo_calendars import original_id

        due = [c for c in self.changes if c.at <= now]
        if not due or self.calendar is None:
            return
        self.changes = [c for c in self.changes if c.at > now]
        keys = {}  # each changed meeting's key, as stored before the change
        for change in due:
            identity = (self.calendar.series_uid(change.uid), original_id(change.original))
            found = [m for m in self.upcoming.values() if (m.uid, m.recurrence_id) == identity]
            keys[change] = found[0].key if found else None
            self.calendar.apply(change)
        prompts = load_prompts()
        kind = self.calendar.kind
        for change in due:
            local = change.original.astimezone(self.zone)
            words = {"title": change.title, "day": f"{local:%A}", "old": f"{local:%H:%M}"}
            if change.moved_to is None:
                text = prompts.text(f"demo.change.{kind}.cancelled", **words)
            else:
                moved = change.moved_to.astimezone(self.zone)
                text = prompts.text(f"demo.change.{kind}.moved", new=f"{moved:%H:%M}", **words)
            who = prompts.text(f"demo.change.{kind}.who")
            self._emit(now, who, "calendar-change", text, dim=True, occurrence=keys[change])
        if not self.calendar.announce():
            logger.warning("a change notification was refused")
        app.process_inbox()
        self._load_meetings(now, end)

    @contextmanager
    def _feed(self) -> Iterator[tuple[str, bytes]]:
        """Serve the calendar on loopback so it is connected and polled through the
        real path: its address, and what it serves."""
        from bot.demo_week import sample_calendar

        if self.args.ics:
            data = Path(self.args.ics).read_bytes()
        else:
            data = sample_calendar(self.first_day, self.zone, self.email).encode()

        class Feed(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/calendar; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Feed)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/calendar.ics", data
        finally:
            server.shutdown()
            server.server_close()

    def _meet_colleagues(self, people: set[str]) -> None:
        """With the built-in emulator, the people of the calendar who share the played
        person's e-mail domain are in the workspace too (each in the person's zone), so
        that a meeting with five or more of them can ask them for feedback; guests from
        other domains are not."""
        if self.emulator is None:
            return
        domain = self.email.partition("@")[2]
        addresses = sorted(people)
        for number, address in enumerate(a for a in addresses if a != self.email):
            if address.partition("@")[2] != domain:
                continue
            user_id = f"U0PEER{number:04d}"
            self.emulator.add_user(
                user_id, tz=self.args.tz, email=address, real_name=person_name(address)
            )
            self.colleagues[user_id] = address

    def _write_why(self, app: Any) -> None:
        """The person taps *Write my why* in the welcome, writes a few lines and leaves
        the practice to focus on to Heedful's suggestion (the form's first option)."""
        from bot import why
        from bot.messages import blocks as kit

        prompts = load_prompts()
        words = prompts.text("demo.why_words")
        view: dict[str, Any] | None = None
        if self.emulator is not None:
            before = len(self.emulator.opened_views)
            self.emulator.click_button(self.app_url, self.user_id, kit.ACTION_WHY_OPEN)
            self._wait(lambda: len(self.emulator.opened_views) > before, "the why form")
            view = self.emulator.opened_views[-1]
        else:  # another Slack API shows the form to nobody: submit what it was sent
            view = why.form_view(self.services, team_id=self.team_id, user_id=self.user_id)
        focus = view["blocks"][1]["element"]["initial_option"]
        values = {
            kit.BLOCK_WHY: {kit.INPUT_WHY: words},
            kit.BLOCK_FOCUS: {kit.INPUT_FOCUS: {"type": "static_select", "selected_option": focus}},
        }
        self._emit(self.clock.now(), self.name + " → Heedful", "why", words)
        slack = self.emulator or self.signer
        before = self.counts["dms"]
        if slack.submit_view(self.app_url, self.user_id, view, values).status != 200:
            raise DemoError("the why form was refused")

        def confirmed() -> bool:  # Bolt answers the form before its listener has run
            app.send_due()
            return self.counts["dms"] > before

        self._wait(confirmed, "the why form")

    def _turn_feedback_on(self, app: Any) -> None:
        """On the Home tab, the person turns on feedback from others for the series with
        the most colleagues in it (five or more, so that they can be asked)."""
        from bot import feedback
        from bot.messages import feedback as fkit

        if self.emulator is None:
            return
        items = feedback.home_items(self.services, team_id=self.team_id, user_id=self.user_id)
        groups = [i for i in items if not i.one_on_one and i.people >= feedback.MIN_ATTENDEES]
        if not groups:
            return
        chosen = max(groups, key=lambda i: i.people)
        self.emulator.open_home(self.app_url, self.user_id)
        self._wait(lambda: bool(self.emulator.views.get(self.user_id)), "the Home tab")
        self._emit(
            self.clock.now(),
            self.name,
            "tap",
            load_prompts().text("demo.feedback_on", title=chosen.title),
        )
        result = self.emulator.click_button(
            self.app_url, self.user_id, fkit.ACTION_SERIES_ON, value=chosen.series_key
        )
        if result.status != 200:
            raise DemoError("turning feedback on was refused")
        self._wait(
            lambda: (
                feedback.home_items(self.services, team_id=self.team_id, user_id=self.user_id)[0].on
            ),
            "feedback to turn on",
        )

    def _wait(self, done: Any, what: str) -> None:
        """Until ``done()`` (something the app does in its own threads), in real time."""
        deadline = wall.monotonic() + RESPONSE_WAIT
        while not done():
            if wall.monotonic() > deadline:
                raise DemoError(f"Heedful did not answer: {what}")
            wall.sleep(0.01)

    def _taps_due(self, now: datetime) -> None:
        """The buttons due to be tapped: the played person's, each with its line; the
        colleagues' (anonymous answers), told as one line for the round."""
        due = [t for t in self.taps if t.due <= now]
        self.taps = [t for t in self.taps if t.due > now]
        slack = self.emulator or self.signer
        for tap in due:
            if not tap.peer:
                self._emit(now, self.name, "tap", tap.label)
            result = slack.click_button(
                self.app_url, tap.user_id, tap.action_id, value=tap.value, message=tap.message
            )
            if result.status != 200:
                logger.warning("the simulated tap was refused")
                continue
            if tap.peer:
                self.peers["answered"] += 1
                if self.args.json:  # who tapped what: the demo's own script, not Heedful's
                    self._emit(now, "", "peer-answer", tap.label, user=tap.user_id)
        if any(t.peer for t in due) and not self.args.json:
            self._emit(
                now,
                "Heedful",
                "peer-answer",
                load_prompts().text(
                    "demo.peers_answered",
                    asked=_plural(self.peers["asked"], "colleague"),
                    answered=self.peers["answered"],
                ),
                dim=True,
            )
        if any(t.peer for t in due):
            self.peers = {"asked": 0, "answered": 0}

    def _load_meetings(self, now: datetime, end: datetime) -> None:
        """The stored meetings still to come in the days played (a poll may have moved,
        added or removed some)."""
        from bot.feedback import ASK_DELAY
        from bot.occurrences import user_occurrences

        found = user_occurrences(
            self.services, team_id=self.team_id, user_id=self.user_id, start=now, end=end
        )
        self.asks |= {m.end + ASK_DELAY for m in found if m.end + ASK_DELAY >= now}
        self.upcoming = {
            m.key: m for m in found if m.start >= max(now, self.start) and m.key not in self.judged
        }

    def _silences_due(self, now: datetime) -> None:
        """At a meeting's start: if Heedful sent nothing about it and plans nothing, say
        so, with Heedful's own reason."""
        from bot.occurrences import silences

        due = sorted(
            (m for m in self.upcoming.values() if m.start <= now), key=lambda m: (m.start, m.key)
        )
        if not due:
            return
        reasons = silences(self.services, team_id=self.team_id, user_id=self.user_id)
        for meeting in due:
            del self.upcoming[meeting.key]
            self.judged.add(meeting.key)
            reason = reasons.get(meeting.key)
            if reason is None:
                continue
            why = _why(reason)
            self._emit(
                meeting.start,
                "Heedful",
                "silent",
                load_prompts().text("demo.silent", title=meeting.title, why=why),
                dim=True,
                occurrence=meeting.key,
                reason=reason,
            )

    # ------------------------------------------------------------------ the conversation

    def _on_sent(self, sent: SentDM) -> None:
        from bot.storage.models import DeliveryKind

        row, message = sent.row, sent.message
        now = self.clock.now()
        if sent.reaction:  # a kept answer, acknowledged on the person's own message
            emoji = f":{sent.reaction}:"
            self._emit(
                now,
                "Heedful",
                "reaction",
                emoji
                if self.args.json
                else load_prompts().text("demo.reacted", emoji=_render_text(emoji), name=self.name),
                dim=True,
            )
            return
        if (
            row.kind == DeliveryKind.FEEDBACK_ASK
        ):  # to a colleague, after a meeting with feedback on
            self._colleague_asked(sent, now)
            return
        self.counts["dms"] += 1
        self.dm_channel = sent.channel or self.dm_channel
        if row.kind == DeliveryKind.DIGEST:
            self.counts["digests"] += 1
            self.weeks_digested.add(self._week(now))
        text = message.text if self.args.json else _render(message)
        self._emit(
            now,
            "Heedful → " + self.name,
            row.kind,
            text,
            occurrence=row.occurrence_key,
            blocks=message.blocks,
        )
        self._buttons_to_tap(sent, now)
        if row.kind in (DeliveryKind.REFLECTION, DeliveryKind.TRANSITION) and sent.ts:
            self.asked += 1
            answer = self._answer_for(row.id, now + ANSWER_AFTER)
            if answer:
                channel = sent.channel or self.user_id
                self.pending.append(_Pending(now + ANSWER_AFTER, channel, sent.ts, answer))

    def _buttons_to_tap(self, sent: Any, now: datetime) -> None:
        """The played person accepts every *bring this back* offer at once, and says
        *yes* when asked whether they did what they said (before answering the question
        the check-in comes with)."""
        from bot.messages import commitments as ckit

        wanted = {ckit.ACTION_KEEP: TAP_AFTER, ckit.check_action("yes"): TAP_AFTER}
        shown = {
            "ts": sent.ts,
            "text": sent.message.text,
            "blocks": sent.message.blocks,
            **({"thread_ts": sent.row.payload["thread_ts"]} if _thread(sent.row) else {}),
        }
        for block in sent.message.blocks or []:
            for element in block.get("elements") or [] if block.get("type") == "actions" else []:
                after = wanted.get(element.get("action_id"))
                if after is None or not sent.ts:
                    continue
                label = load_prompts().text("demo.tapped", button=element["text"]["text"])
                self.taps.append(
                    _Tap(
                        now + after,
                        self.user_id,
                        element["action_id"],
                        element.get("value"),
                        shown,
                        label,
                    )
                )

    def _colleague_asked(self, sent: Any, now: datetime) -> None:
        """The anonymous question reached a colleague: shown (on a terminal, the first of
        a round only: the rest say the same), and two colleagues in three answer it a few
        minutes later, with the answers of :data:`PEER_ANSWERS` in turn."""
        from bot.messages import feedback as fkit

        row, message = sent.row, sent.message
        self.counts["dms"] += 1
        self.peers["asked"] += 1
        asked = self.peers["asked"]
        name = person_name(self.colleagues.get(row.user_id, row.user_id))
        if self.args.json or asked == 1:
            text = message.text if self.args.json else _render(message)
            self._emit(
                now,
                "Heedful → " + name,
                row.kind,
                text.replace(f"<@{self.user_id}>", "@" + self.name),
                user=row.user_id,
                occurrence=row.occurrence_key,
                blocks=message.blocks,
            )
        if asked % 3 == 0:
            return
        answer = PEER_ANSWERS[(asked - asked // 3 - 1) % len(PEER_ANSWERS)]
        action = fkit.answer_action(answer)
        label = load_prompts().text(f"button.feedback.{answer}")
        self.taps.append(
            _Tap(now + ANSWER_AFTER, row.user_id, action, str(row.id), None, label, peer=True)
        )

    def _answer_for(self, delivery_id: int, at: datetime) -> str | None:
        """The person's answer to the ``self.asked``-th question (delivery ``delivery_id``),
        or None to leave it unanswered."""
        if self.scripted is not None:
            index = self.asked - 1
            line = self.scripted[index].strip() if index < len(self.scripted) else ""
            return line or None
        if self.asked % SKIP_EVERY == 0:
            return None
        given = self.given.setdefault(self._week(at), set())
        for practice in self._question_practices(delivery_id):
            options = answers_for(practice)
            for step in range(len(options)):
                text = options[(delivery_id + step) % len(options)]
                if text not in given:
                    given.add(text)
                    return text
        return None  # every fitting answer was given this week: better none than a repeat

    def _question_practices(self, delivery_id: int) -> tuple[str, ...]:
        """The practices of the question Heedful asked in this delivery (its primary one
        first), as Heedful recorded it."""
        from bot.messages.library import group_of
        from bot.storage import prompts_shown

        with self.services.engine.connect() as conn:
            ids = prompts_shown.prompt_ids_of(conn=conn, delivery_id=delivery_id)
        prompts = load_prompts()
        for prompt_id in ids:
            if prompt_id in prompts and group_of(prompts[prompt_id]) == "question":
                return tuple(prompts[prompt_id].practices)
        return ()

    def _answer_due(self, now: datetime) -> None:
        due = [p for p in self.pending if p.due <= now]
        self.pending = [p for p in self.pending if p.due > now]
        for answer in due:
            if self.emulator is not None:  # the message exists in the emulator's DM too
                self.emulator.user_says(
                    self.app_url, self.user_id, answer.text, thread_ts=answer.thread_ts
                )
                accepted = True
            else:
                ts = f"{wall.time():.6f}"
                event = {
                    "type": "message",
                    "channel_type": "im",
                    "channel": answer.channel,
                    "user": self.user_id,
                    "text": answer.text,
                    "ts": ts,
                    "thread_ts": answer.thread_ts,
                    "event_ts": ts,
                }
                accepted = self.signer.deliver_event(self.app_url, event).status == 200
            if accepted:
                self.counts["answers"] += 1
                self._emit(now, self.name + " → Heedful", "answer", answer.text)
            else:
                logger.warning("the simulated answer was refused")

    def _week_so_far(self, end: datetime) -> None:
        """The days played ended inside a week whose digest has not come: the person
        asks for it with ``/heedful digest``, and the demo shows Heedful's answer."""
        now = self.clock.now()
        week = self._week(max(end - timedelta(seconds=1), self.start))
        if self.reader_left or week not in self.weeks_shown or week in self.weeks_digested:
            return
        slack = self.emulator or self.signer
        before = len(slack.responses)
        command = "/heedful"
        self._emit(now, self.name + " → Heedful", "command", f"{command} digest")
        result = slack.send_command(
            self.app_url,
            command,
            "digest",
            user_id=self.user_id,
            channel_id=self.dm_channel,
            via="http",
        )
        if result.status != 200:
            raise DemoError(f"/heedful digest was refused ({result.status})")
        deadline = wall.monotonic() + RESPONSE_WAIT
        while len(slack.responses) <= before:
            if wall.monotonic() > deadline:
                raise DemoError("Heedful did not answer /heedful digest")
            wall.sleep(0.01)
        payload = slack.responses[before]["payload"]
        from bot.messages.message import Message

        message = Message(text=payload.get("text") or "", blocks=payload.get("blocks") or [])
        text = message.text if self.args.json else _render(message)
        self._emit(now, "Heedful → " + self.name, "week-so-far", text, blocks=message.blocks)


def _thread(row: ClaimedDelivery) -> bool:
    """Whether a delivery was posted in a thread (its payload names it)."""
    return isinstance(row.payload, dict) and bool(row.payload.get("thread_ts"))


def _is_terminal(out: Any) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):
        return False


def _render(message: Any) -> str:
    """A DM as a person would read it: its section and context texts, no buttons."""
    parts = []
    for block in message.blocks or []:
        if block.get("type") == "header":
            parts.append(block["text"]["text"].upper())
        elif block.get("type") == "section" and block.get("text"):
            parts.append(block["text"]["text"])
        elif block.get("type") == "context":
            parts.append(" ".join(e.get("text", "") for e in block.get("elements", [])))
    return _render_text("\n".join(parts) or message.text)


def _render_text(text: str) -> str:
    """mrkdwn as a person reads it: links as "text (url)", emoji as glyphs."""
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    for code, glyph in EMOJI.items():
        text = text.replace(code, glyph)
    return text.replace("*", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


EMOJI = {
    ":wind_blowing_face:": "🌬️",
    ":ear:": "👂",
    ":thought_balloon:": "💭",
    ":seedling:": "🌱",
    ":lock:": "🔒",
    ":warning:": "⚠️",
    ":double_vertical_bar:": "⏸️",
    ":white_check_mark:": "✅",
    ":leftwards_arrow_with_hook:": "↩️",
}


class DemoError(Exception):
    """Something the demo cannot do; the message is one line for the person."""


def run_demo(args: argparse.Namespace) -> int:
    if args.days < 1 or args.days > MAX_DAYS:
        print(f"heedful: --days must be between 1 and {MAX_DAYS}", file=sys.stderr)
        return 2
    try:
        ZoneInfo(args.tz)
    except Exception:
        print(f"heedful: unknown time zone {args.tz!r}", file=sys.stderr)
        return 2
    calendar = getattr(args, "calendar", "ics")
    if args.ics and calendar != "ics":
        print(
            f"heedful: --ics plays a calendar file as a feed; leave out --calendar {calendar}",
            file=sys.stderr,
        )
        return 2
    if args.ics and not Path(args.ics).is_file():
        print(f"heedful: no such calendar file: {args.ics}", file=sys.stderr)
        return 2
    answers: list[str] | None = None
    if args.answers is not None:
        try:
            answers = Path(args.answers).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"heedful: cannot read the answers file {args.answers}: {exc}", file=sys.stderr)
            return 2
    # The demo's own server answers only the demo; on a busy machine waitress would warn
    # about its queue in the middle of the conversation.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    try:
        return Demo(args, answers=answers).run()
    except DemoError as exc:
        print(f"heedful: {exc}", file=sys.stderr)
        return 1


def answers_for(practice: str) -> tuple[str, ...]:
    """The played person's answers that fit a question of ``practice`` (none for a
    practice the sample has no answers for)."""
    prompts = load_prompts()
    key = f"demo.answer.{practice}"
    return prompts[key].variants if key in prompts else ()


def _why(reason: str) -> str:
    """The words of a "stays silent" line for a reason code of ``bot.occurrences.silences``."""
    prompts = load_prompts()
    key = f"demo.why.{reason}"
    return prompts.text(key) if key in prompts else reason
