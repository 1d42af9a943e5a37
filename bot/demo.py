"""``heedful demo``: the whole product on a virtual clock, with no Slack account.

The real app (Bolt apps, inbox, sender, planner, digest) and a temporary SQLite
database; the built-in Slack Web API emulator (or ``--slack-api-url``); a calendar
feed served on loopback and connected through the real path; a simulated user who
answers most reflection questions by replying in the thread, through signed events on
the real inbound path. The clock jumps from one thing to do to the next, so a week
takes seconds.

``--json`` prints one object per line for every DM Heedful sends, as DESIGN.md says;
the simulated user's own messages are lines too, with ``"kind": "answer"``, so the
digest's counts can be checked against what was sent and answered.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import logging
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
from typing import Any
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)

DEMO_USER = "U0DEMOANA"
DEMO_NAME = "Ana"
DEMO_EMAIL = "ana@example.com"
DEMO_ZONE = "Europe/Berlin"
ANSWER_AFTER = timedelta(minutes=3)
SKIP_EVERY = 4  # the simulated user leaves every fourth question unanswered
MAX_STEP = timedelta(hours=1)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ics", type=Path, help="a calendar file to use instead of the sample week"
    )
    parser.add_argument(
        "--user-email",
        default=None,
        help=f"the demo user's address in that calendar (default {DEMO_EMAIL})",
    )
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=None,
        help="first day, YYYY-MM-DD (default: next Monday)",
    )
    parser.add_argument("--days", type=int, default=7, help="how many days to play (default 7)")
    parser.add_argument(
        "--slack-api-url",
        default=None,
        help="a Slack-compatible Web API to use instead of the built-in emulator "
        "(its bot token: SLACK_BOT_TOKEN, default xoxb-emulator)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per DM")
    parser.add_argument(
        "--tz", default=DEMO_ZONE, help=f"the demo user's zone (default {DEMO_ZONE})"
    )


@dataclass
class _Pending:
    due: datetime
    channel: str
    thread_ts: str
    text: str


class Demo:
    def __init__(self, args: argparse.Namespace, out: Any = sys.stdout) -> None:
        self.args = args
        self.out = out
        self.zone = ZoneInfo(args.tz)
        self.email = (args.user_email or DEMO_EMAIL).lower()
        today = datetime.now(UTC).astimezone(self.zone).date()
        self.first_day = args.start or today + timedelta(days=(7 - today.weekday()) % 7 or 7)
        self.user_id = DEMO_USER
        self.name = DEMO_NAME
        self.pending: list[_Pending] = []
        self.counts = {"dms": 0, "answers": 0, "digests": 0}
        self.asked = 0
        self.last_day: date | None = None

    # ------------------------------------------------------------------ output

    def _emit(self, at: datetime, who: str, kind: str, text: str, **extra: Any) -> None:
        if self.args.json:
            line = {
                "at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "user": self.user_id,
            }
            line.update({"kind": kind, "text": text, **extra})
            print(json.dumps(line, ensure_ascii=False), file=self.out, flush=True)
            return
        local = at.astimezone(self.zone)
        if local.date() != self.last_day:
            self.last_day = local.date()
            print(f"\n{local:%A} {local.day} {local:%B}", file=self.out)  # %-d fails on Windows
        pad = " " * 25
        body = "\n".join(
            textwrap.fill(line, width=100, initial_indent=pad, subsequent_indent=pad)
            for line in text.split("\n")
        )[len(pad) :]
        print(f"  {local:%H:%M}  {who:<16} {body}", file=self.out, flush=True)

    def _say(self, prompt_id: str, **values: Any) -> None:
        from bot.messages.prompts import load_prompts

        if not self.args.json:
            print(load_prompts().text(prompt_id, **values), file=self.out)

    # ------------------------------------------------------------------ run

    def run(self) -> int:
        from bot.app import Heedful
        from bot.calendars import sources
        from bot.clock import VirtualClock
        from bot.config import Settings
        from bot.emulator import SlackEmulator
        from bot.services import build_services
        from bot.storage.db import upgrade
        from bot.users import remember_user

        start = datetime.combine(self.first_day, time(7, 0), self.zone)
        end = start + timedelta(days=self.args.days)
        clock = self.clock = VirtualClock(start)
        secret = secrets.token_hex(16)
        with tempfile.TemporaryDirectory(prefix="heedful-demo-") as tmp, self._slack(secret) as emu:
            self.emulator = emu
            api_url, token = self._api(emu)
            settings = Settings(
                slack_bot_token=token,
                slack_signing_secret=secret,
                slack_api_url=api_url,
                database_url=f"sqlite:///{Path(tmp) / 'demo.db'}",
                port=0,
                allow_private_feeds=True,  # the demo serves its calendar on loopback
            )
            services = build_services(settings, clock=clock)
            upgrade(services.engine)
            installation = services.install_from_token(token)
            self.signer = SlackEmulator(signing_secret=secret, team_id=installation.team_id)
            if emu is None:
                self._find_user(services.clients.for_token(token))
            app = Heedful(services, run_workers=False)
            app.sender.observers.append(self._on_sent)
            app.start()
            try:
                self._say(
                    "demo.intro",
                    days=self.args.days,
                    name=self.name,
                    zone=self.args.tz,
                    start=f"{self.first_day:%A} {self.first_day.day} {self.first_day:%B %Y}",
                    slack=api_url,
                )
                remember_user(
                    services,
                    team_id=installation.team_id,
                    user_id=self.user_id,
                    profile={"tz": self.args.tz, "profile": {"email": self.email}},
                )
                self.app_url = f"{app.url}/slack/events"
                if emu is not None:  # the user opens Heedful's Home tab: the welcome DM
                    emu.open_home(self.app_url, self.user_id)
                    app.process_inbox()
                    app.send_due()
                with self._feed() as url:
                    connected = sources.connect_feed(
                        services, team_id=installation.team_id, user_id=self.user_id, url=url
                    )
                from bot.messages.prompts import load_prompts

                what = str(self.args.ics) if self.args.ics else load_prompts().text("demo.sample")
                summary = sources.connected_text(
                    load_prompts(), name=what, upcoming=connected.upcoming
                )
                self._say("demo.calendar", connected=summary)
                self._play(app, clock, end)
            finally:
                app.stop()
        self._say("demo.done", name=self.name, **self.counts)
        return 0

    def _play(self, app: Any, clock: Any, end: datetime) -> None:
        from bot.storage import repository as repo

        next_plan = clock.now()
        while clock.now() < end:
            now = clock.now()
            if now >= next_plan:
                app.plan_digests()
                next_plan = now + MAX_STEP
            app.send_due()
            self._answer_due(now)
            app.process_inbox()
            candidates = [next_plan, end]
            due = repo.next_due(app.services.engine)
            if due is not None and due > now:
                candidates.append(due)
            candidates += [p.due for p in self.pending if p.due > now]
            if due is not None and due <= now:
                candidates.append(now + timedelta(seconds=1))
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
        import os

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
        self.name = person.get("real_name") or person.get("name") or self.user_id
        email = (person.get("profile") or {}).get("email")
        self.email = (email or self.email).lower()
        if person.get("tz"):
            self.zone = ZoneInfo(person["tz"])
            self.args.tz = person["tz"]

    # ------------------------------------------------------------------ the calendar

    @contextmanager
    def _feed(self) -> Iterator[str]:
        """Serve the calendar on loopback so it is connected through the real path."""
        from bot.demo_week import sample_week

        if self.args.ics:
            data = Path(self.args.ics).read_bytes()
        else:
            data = sample_week(self.first_day, self.zone, self.email).encode()

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
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/calendar.ics"
        finally:
            server.shutdown()
            server.server_close()

    # ------------------------------------------------------------------ the conversation

    def _on_sent(self, sent: Any) -> None:
        from bot.planner import REFLECTION, TRANSITION

        row, message = sent.row, sent.message
        now = row_time = self.clock.now()
        self.counts["dms"] += 1
        if row.kind == "digest":
            self.counts["digests"] += 1
        text = message.text if self.args.json else _render(message)
        self._emit(
            row_time,
            "Heedful → " + self.name,
            row.kind,
            text,
            occurrence=row.occurrence_key,
            blocks=message.blocks,
        )
        if row.kind in (REFLECTION, TRANSITION) and sent.ts:
            self.asked += 1
            if self.asked % SKIP_EVERY:
                self.pending.append(
                    _Pending(
                        now + ANSWER_AFTER,
                        sent.channel or self.user_id,
                        sent.ts,
                        self._answer_text(row.id),
                    )
                )

    def _answer_text(self, seed: int) -> str:
        from bot.messages.prompts import load_prompts

        answers = [p for p in load_prompts() if p.id.startswith("demo.answer.")]
        index = int(hashlib.sha256(str(seed).encode()).hexdigest(), 16) % len(answers)
        return answers[index].render()

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
                self._emit(
                    now, self.name + " → Heedful", "answer", answer.text, occurrence=None, blocks=[]
                )
            else:
                logger.warning("the simulated answer was refused")


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
    text = "\n".join(parts) or message.text
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
}


class DemoError(Exception):
    """Something the demo cannot do; the message is one line for the person."""


def run_demo(args: argparse.Namespace) -> int:
    if args.days < 1 or args.days > 60:
        print("heedful: --days must be between 1 and 60", file=sys.stderr)
        return 2
    try:
        ZoneInfo(args.tz)
    except Exception:
        print(f"heedful: unknown time zone {args.tz!r}", file=sys.stderr)
        return 2
    if args.ics and not Path(args.ics).is_file():
        print(f"heedful: no such calendar file: {args.ics}", file=sys.stderr)
        return 2
    try:
        return Demo(args).run()
    except DemoError as exc:
        print(f"heedful: {exc}", file=sys.stderr)
        return 1
