"""Google for ``bench/sync.py``: the fake Google, a pushed move, a bare ``events.list``."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import sqlalchemy as sa
from _common import Database
from _sync import (
    ANA,
    PUBLIC,
    ZONE,
    Calendar,
    Phases,
    World,
    add_week,
    app_world,
    browse,
    reminders_by,
    working_days,
)

CLIENT_ID, CLIENT_SECRET = "heedful-bench.apps.googleusercontent.com", "bench-client-secret"
RECURRENCE = {
    "weekday": "RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=10",
    "week": "RRULE:FREQ=WEEKLY;COUNT=8",
}

CREDENTIALS = "client: grant + credentials"
BUILD = "client: build service"
PAGES = "events.list in all"
REQUEST = "client: events() resource + request"
CALL = "API call (HTTP + JSON)"
APPLY = "apply + re-plan"


def access_token(w: World) -> str:
    from bot.storage.models import GoogleCalendar

    table = GoogleCalendar.__table__  # type: ignore[attr-defined]
    with w.db.engine.connect() as conn:
        tokens = conn.execute(sa.select(table.c.tokens)).scalar_one()
    return json.loads(w.heedful.services.cipher.decrypt(tokens))["token"]


class BareList:
    """One incremental ``events.list`` as a plain HTTP GET, keeping its own sync token."""

    def __init__(self, w: World) -> None:
        parts = urlsplit(w.fake.calendar_api_url)
        self.netloc = parts.netloc
        self.path = parts.path + "calendars/primary/events"
        self.headers = {"Authorization": f"Bearer {access_token(w)}", "Accept": "application/json"}
        self.token = ""
        first = self._get("singleEvents=true&maxResults=2500")
        self.token = first["nextSyncToken"]

    def _get(self, query: str) -> dict[str, Any]:
        connection = http.client.HTTPConnection(self.netloc, timeout=30)
        try:
            connection.request("GET", f"{self.path}?{query}", headers=self.headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"the fake answered {response.status} to the bare list")
        return json.loads(body)

    def __call__(self) -> list[str]:
        page = self._get(
            f"singleEvents=true&maxResults=2500&syncToken={quote(self.token, safe='')}"
        )
        self.token = page["nextSyncToken"]
        return [item["id"] for item in page["items"]]


class ClientList:
    """The same call through ``googleapiclient`` on a service built once (for context)."""

    def __init__(self, w: World) -> None:
        from google.oauth2.credentials import Credentials
        from googleapiclient.discovery import build

        self.service = build(
            "calendar",
            "v3",
            credentials=Credentials(token=access_token(w)),
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": w.fake.calendar_api_url},
        )
        first = self.service.events().list(calendarId="primary", singleEvents=True).execute()
        self.token = first["nextSyncToken"]

    def __call__(self) -> list[str]:
        page = (
            self.service.events()
            .list(calendarId="primary", singleEvents=True, maxResults=2500, syncToken=self.token)
            .execute()
        )
        self.token = page["nextSyncToken"]
        return [item["id"] for item in page["items"]]


class Google(Calendar):
    name = "google"
    title = "Google"
    heading = "sync"
    a_label = "A heedful push -> reminder stored"
    b_label = "B bare GET events.list (1 change)"
    context_label = "googleapiclient, service built once"
    context_key = "client_list_ms"
    notified = 200

    @contextlib.contextmanager
    def world(self, db: Database) -> Iterator[World]:
        from bot.emulator import FakeGoogle
        from bot.storage.models import GoogleCalendar
        from bot.sync import google

        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake is http on loopback
        fake = FakeGoogle(auto_push=False).start()
        try:
            fake.add_client(CLIENT_ID, CLIENT_SECRET, [f"{PUBLIC}/oauth/google/callback"])
            fake.add_account(ANA, time_zone="Europe/Berlin")
            settings = {
                "google_client_id": CLIENT_ID,
                "google_client_secret": CLIENT_SECRET,
                "google_auth_uri": fake.auth_uri,
                "google_token_uri": fake.token_uri,
                "google_calendar_api_url": fake.calendar_api_url,
            }
            with app_world(db, lambda emu: settings) as (heedful, emu, clock):
                days = working_days(clock.now().astimezone(ZONE).date())
                add_week(_adder(fake), days)
                fake.route(PUBLIC, heedful.url)
                link = google.connect_link(heedful.services, team_id=emu.team_id, user_id="U1")
                if browse(heedful, link) != 200:
                    raise RuntimeError("connecting through the fake Google failed")
                heedful.process_inbox()  # the first (full) sync, then events.watch
                with db.engine.connect() as conn:
                    gcal = conn.execute(sa.select(GoogleCalendar.__table__)).one()  # type: ignore[attr-defined]
                if not (gcal.sync_token and gcal.channel_id and gcal.resource_id):
                    raise RuntimeError(
                        "the first sync did not keep a sync token and open a channel"
                    )
                yield World(heedful, fake, emu, db, emu.team_id, int(gcal.source_id), days)
        finally:
            fake.stop()

    def reminders(self, w: World) -> dict[str, tuple[str, datetime]]:
        return reminders_by(w, lambda key, ref: ref.split("|")[1])

    def single(self, w: World, event_id: str) -> bool:
        return "_" not in event_id  # an instance's id is the series' and its start

    def start_of(self, w: World, event_id: str) -> datetime:
        return datetime.fromisoformat(w.fake.event(ANA, event_id)["start"]["dateTime"])

    def move(self, w: World, event_id: str, start: datetime) -> None:
        w.fake.move_event(ANA, event_id, start)

    def baseline(self, w: World) -> Callable[[], list[str]]:
        return BareList(w)

    def context(self, w: World) -> Callable[[], list[str]]:
        return ClientList(w)

    def notify(self, w: World) -> int:
        (delivery,) = w.fake.push(ANA)
        return int(delivery.status)

    def periodic(self, w: World) -> int:
        return int(w.heedful.sync_google())

    @contextlib.contextmanager
    def instrumented(self) -> Iterator[Phases]:
        from bot.storage import repository
        from bot.sync import google

        phases = Phases()
        phases.wrap(repository, "claim_inbox", "inbox claim")
        phases.wrap(repository, "finish_inbox", "inbox finish")
        phases.wrap(google._Api, "__init__", CREDENTIALS)
        phases.wrap(google._Api, "calendar", BUILD)
        phases.wrap_generator(google, "_pages", PAGES)
        phases.wrap(google._Api, "call", CALL)
        phases.wrap(google, "apply_occurrences", APPLY)
        try:
            yield phases
        finally:
            phases.undo()

    def by_phase(self, notify: float, taken: dict[str, float], total: float) -> dict[str, float]:
        parts = {"HTTP notify ack": notify, "inbox claim": taken.get("inbox claim", 0.0)}
        parts[CREDENTIALS] = taken.get(CREDENTIALS, 0.0)
        parts[BUILD] = taken.get(BUILD, 0.0)
        parts[REQUEST] = taken.get(PAGES, 0.0) - taken.get(BUILD, 0.0) - taken.get(CALL, 0.0)
        parts[CALL] = taken.get(CALL, 0.0)
        parts[APPLY] = taken.get(APPLY, 0.0)
        parts["inbox finish"] = taken.get("inbox finish", 0.0)
        parts["other (row reads, sync bookkeeping)"] = total - sum(parts.values())
        return parts


def _adder(fake: Any) -> Callable[[datetime, int, str, list[str], str | None], None]:
    def add(
        start: datetime, minutes: int, title: str, guests: list[str], every: str | None
    ) -> None:
        fields: dict[str, Any] = {"recurrence": [RECURRENCE[every]]} if every else {}
        end = start + timedelta(minutes=minutes)
        fake.add_event(ANA, summary=title, start=start, end=end, attendees=[ANA, *guests], **fields)

    return add
