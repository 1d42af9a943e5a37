"""Microsoft for ``bench/sync.py``: the fake Microsoft, a notified move, a bare delta GET."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

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

CLIENT_ID, CLIENT_SECRET = "6731de76-14a6-49ae-97bc-6eba6914391e", "bench-client-secret"
TRUST = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")  # MSAL (requests), Graph (httpx)

MSAL_APP = "client: MSAL app + token cache"
TOKEN = "client: access token (MSAL)"
GRAPH = "Graph calls in all"
CALL = "API call (HTTP + JSON)"
APPLY = "apply + re-plan"
IDS = "keep event ids"


def _table(name: str) -> Any:
    from bot.storage import models

    return getattr(models, name).__table__


def access_token(w: World) -> str:
    """The access token in the connection's MSAL cache (the one the app sends)."""
    mscal = _table("MicrosoftCalendar")
    with w.db.engine.connect() as conn:
        sealed = conn.execute(sa.select(mscal.c.token_cache)).scalar_one()
    cache = json.loads(w.heedful.services.cipher.decrypt(sealed))
    (token,) = [
        entry["secret"]
        for entry in cache.get("AccessToken", {}).values()
        if "calendars.read" in entry.get("target", "").lower()
    ]
    return str(token)


def delta_link(w: World) -> str:
    mscal = _table("MicrosoftCalendar")
    with w.db.engine.connect() as conn:
        link = conn.execute(sa.select(mscal.c.delta_link)).scalar_one()
    if not link:
        raise RuntimeError("no delta link stored")
    return str(link)


class BareDelta:
    """One incremental delta round as a plain HTTPS GET of the delta link (the app's
    stored one at first, then each answer's), with the app's bearer token and its
    ``Prefer: odata.maxpagesize``, and ``json.loads``. A new TLS connection per GET, or
    with ``keep=True`` one connection kept open across GETs."""

    def __init__(self, w: World, *, keep: bool = False) -> None:
        from bot.sync.microsoft import PAGE_SIZE

        parts = urlsplit(w.fake.graph_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port
        self.tls = ssl.create_default_context(cafile=w.fake.ca_file)
        self.headers = {
            "Authorization": f"Bearer {access_token(w)}",
            "Accept": "application/json",
            "Prefer": f"odata.maxpagesize={PAGE_SIZE}",
        }
        self.link = delta_link(w)
        self.keep = keep
        self.connection: http.client.HTTPSConnection | None = None

    def _get(self, url: str) -> dict[str, Any]:
        parts = urlsplit(url)
        connection = self.connection or http.client.HTTPSConnection(
            self.host, self.port, context=self.tls, timeout=30
        )
        try:
            connection.request("GET", f"{parts.path}?{parts.query}", headers=self.headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            if self.keep:
                self.connection = connection
            else:
                connection.close()
        if response.status != 200:
            raise RuntimeError(f"the fake answered {response.status} to the bare delta GET")
        return json.loads(body)

    def __call__(self) -> list[str]:
        page = self._get(self.link)
        if "@odata.deltaLink" not in page:
            raise RuntimeError("one change came in more than one page")
        self.link = page["@odata.deltaLink"]
        return [item["id"] for item in page["value"]]


class Microsoft(Calendar):
    name = "microsoft"
    title = "Microsoft"
    heading = "microsoft sync"
    a_label = "A heedful notify -> reminder stored"
    b_label = "B bare GET delta link (1 change)"
    context_label = "the same GET, connection kept open"
    context_key = "kept_open_get_ms"
    context_ratio_key = "kept_open_ratio"
    notified = 202

    @contextlib.contextmanager
    def world(self, db: Database) -> Iterator[World]:
        from bot.emulator import FakeMicrosoft
        from bot.sync import microsoft

        fake = FakeMicrosoft(auto_notify=False).start()
        saved = {name: os.environ.get(name) for name in TRUST}
        os.environ.update(dict.fromkeys(TRUST, fake.ca_file))  # the fake's self-signed cert
        try:
            fake.add_client(CLIENT_ID, CLIENT_SECRET, [f"{PUBLIC}/oauth/microsoft/callback"])
            fake.add_account(ANA, time_zone="W. Europe Standard Time")
            settings = {
                "microsoft_client_id": CLIENT_ID,
                "microsoft_client_secret": CLIENT_SECRET,
                "microsoft_authority_url": fake.authority_url,
                "microsoft_graph_url": fake.graph_url,
            }
            with app_world(db, lambda emu: settings) as (heedful, emu, clock):
                days = working_days(clock.now().astimezone(ZONE).date())
                add_week(_adder(fake), days)
                fake.route(PUBLIC, heedful.url)
                link = microsoft.connect_link(heedful.services, team_id=emu.team_id, user_id="U1")
                if browse(heedful, link) != 200:
                    raise RuntimeError("connecting through the fake Microsoft failed")
                heedful.process_inbox()  # the first (full) delta round, then the subscription
                with db.engine.connect() as conn:
                    mscal = conn.execute(sa.select(_table("MicrosoftCalendar"))).one()
                if not (mscal.delta_link and mscal.subscription_id):
                    raise RuntimeError("the first sync did not keep a delta link and subscribe")
                yield World(heedful, fake, emu, db, emu.team_id, int(mscal.source_id), days)
        finally:
            fake.stop()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def reminders(self, w: World) -> dict[str, tuple[str, datetime]]:
        occ = _table("OccurrenceRow")
        with w.db.engine.connect() as conn:
            ids = dict(conn.execute(sa.select(occ.c.key, occ.c.event_id)).all())
        return reminders_by(w, lambda key, ref: ids.get(key))

    def single(self, w: World, event_id: str) -> bool:
        return w.fake.event(ANA, event_id)["type"] == "singleInstance"

    def start_of(self, w: World, event_id: str) -> datetime:
        start = w.fake.event(ANA, event_id)["start"]  # {"dateTime": "…T08:00:00.0000000", UTC}
        return datetime.fromisoformat(start["dateTime"][:19]).replace(tzinfo=UTC)

    def move(self, w: World, event_id: str, start: datetime) -> None:
        w.fake.move_event(ANA, event_id, start)

    def baseline(self, w: World) -> Callable[[], list[str]]:
        return BareDelta(w)

    def context(self, w: World) -> Callable[[], list[str]]:
        return BareDelta(w, keep=True)

    def notify(self, w: World) -> int:
        (delivery,) = w.fake.notify(ANA)
        return int(delivery.status or 0)

    def periodic(self, w: World) -> int:
        return int(w.heedful.sync_microsoft())

    @contextlib.contextmanager
    def instrumented(self) -> Iterator[Phases]:
        from bot.storage import repository
        from bot.sync import microsoft

        phases = Phases()
        phases.wrap(repository, "claim_inbox", "inbox claim")
        phases.wrap(repository, "finish_inbox", "inbox finish")
        phases.wrap(microsoft._Graph, "__init__", MSAL_APP)
        phases.wrap(microsoft._Graph, "_access_token", TOKEN)
        phases.wrap(microsoft._Graph, "call", GRAPH)
        phases.wrap(microsoft, "apply_occurrences", APPLY)
        phases.wrap(microsoft, "keep_event_ids", IDS)
        try:
            yield phases
        finally:
            phases.undo()

    def by_phase(self, notify: float, taken: dict[str, float], total: float) -> dict[str, float]:
        parts = {"HTTP notify ack": notify, "inbox claim": taken.get("inbox claim", 0.0)}
        parts[MSAL_APP] = taken.get(MSAL_APP, 0.0)
        parts[TOKEN] = taken.get(TOKEN, 0.0)
        parts[CALL] = taken.get(GRAPH, 0.0) - taken.get(TOKEN, 0.0)
        parts[APPLY] = taken.get(APPLY, 0.0)
        parts[IDS] = taken.get(IDS, 0.0)
        parts["inbox finish"] = taken.get("inbox finish", 0.0)
        parts["other (row reads, sync bookkeeping)"] = total - sum(parts.values())
        return parts


def _adder(fake: Any) -> Callable[[datetime, int, str, list[str], str | None], None]:
    """Graph's fake makes weekly series only: a stand-up every working day is five weekly
    series of two (the same ten occurrences as Google's daily rule)."""

    def add(
        start: datetime, minutes: int, title: str, guests: list[str], every: str | None
    ) -> None:
        length = timedelta(minutes=minutes)
        if every == "weekday":
            days = [start.date(), *working_days(start.date(), 4)]
            for day in days:
                first = start.replace(year=day.year, month=day.month, day=day.day)
                fake.add_event(
                    ANA,
                    subject=title,
                    start=first,
                    end=first + length,
                    attendees=guests,
                    series={"count": 2},
                )
            return
        series = {"series": {"count": 8}} if every == "week" else {}
        fake.add_event(
            ANA, subject=title, start=start, end=start + length, attendees=guests, **series
        )

    return add
