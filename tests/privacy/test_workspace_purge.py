"""The workspace's lifecycle and retention: ``app_uninstalled`` forgets the whole
workspace (every table), ``tokens_revoked`` stops all sending, and the daily purge
deletes reflections older than the retention period and keeps the newer ones."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from people import ANA, BEN, TEAM, deliveries, seed
from sqlmodel import SQLModel

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.models import InboxItem, Installation, Reflection

OTHER_TEAM = "T0002"
REF = Reflection.__table__


def _events(heedful: Heedful) -> str:
    return f"{heedful.url}/slack/events"


def _team_rows(services: Services, team_id: str) -> dict[str, int]:
    """Rows of ``team_id`` in every table that has a team column."""
    counts = {}
    with services.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if "team_id" in table.c:
                counts[table.name] = conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(table.c.team_id == team_id)
                ).scalar_one()
    return counts


def _another_workspace(services: Services) -> None:
    now = services.clock.now()
    with services.engine.begin() as conn:
        conn.execute(
            sa.insert(Installation.__table__).values(
                team_id=OTHER_TEAM, bot_token="xoxb-other", installed_at=now
            )
        )
        repo.enqueue_deliveries(
            conn=conn,
            rows=[
                {
                    "team_id": OTHER_TEAM,
                    "user_id": ANA.user_id,  # the same id in another workspace
                    "kind": "notice",
                    "ref": "x",
                    "due_at": now + timedelta(days=30),
                }
            ],
            now=now,
        )


def test_app_uninstalled_forgets_the_whole_workspace(
    heedful: Heedful, services: Services, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    seed(heedful, services, clock, emulator)
    _another_workspace(services)
    before = _team_rows(services, TEAM)
    seeded = ("installation", "slack_user", "delivery", "reflection", "leader_why")
    assert all(before[t] for t in seeded)
    other = _team_rows(services, OTHER_TEAM)

    result = emulator.deliver_event(_events(heedful), {"type": "app_uninstalled"})
    assert result.status == 200
    heedful.process_inbox()

    assert _team_rows(services, TEAM) == dict.fromkeys(before, 0)
    assert _team_rows(services, OTHER_TEAM) == other
    assert services.authorize(enterprise_id=None, team_id=TEAM) is None
    # Nothing is sent any more: there is nothing left to send.
    sent = len(emulator.calls_to("chat.postMessage"))
    clock.advance(timedelta(days=3))
    heedful.plan_digests()
    heedful.send_due()
    assert len(emulator.calls_to("chat.postMessage")) == sent


def test_tokens_revoked_stops_sending(
    heedful: Heedful, services: Services, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    seed(heedful, services, clock, emulator)
    pending = [r.id for r in deliveries(services, ANA.user_id) if r.state == "pending"]
    assert pending
    event = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [emulator.bot_user_id]}}
    assert emulator.deliver_event(_events(heedful), event).status == 200
    heedful.process_inbox()

    sent = len(emulator.calls_to("chat.postMessage"))
    end = clock.now() + timedelta(days=7)
    while clock.now() < end:
        heedful.plan_digests()
        heedful.send_due()
        clock.advance(timedelta(minutes=30))
    assert len(emulator.calls_to("chat.postMessage")) == sent
    still = {r.id: r.state for r in deliveries(services, ANA.user_id)}
    assert all(still[i] == "pending" for i in pending)  # kept for a new install


def _reflection(services: Services, user_id: str, age: timedelta, text: str) -> None:
    at = services.clock.now() - age
    with services.engine.begin() as conn:
        conn.execute(
            sa.insert(REF).values(
                team_id=TEAM,
                user_id=user_id,
                text=services.cipher.encrypt(text),
                created_at=at,
                updated_at=at,
            )
        )


def _texts(services: Services) -> set[str]:
    with services.engine.connect() as conn:
        return {services.cipher.decrypt(t) for t in conn.execute(sa.select(REF.c.text)).scalars()}


def test_the_daily_purge_deletes_reflections_past_the_retention_period(
    heedful: Heedful, services: Services, clock: VirtualClock
) -> None:
    assert services.settings.retention_days == 365
    _reflection(services, ANA.user_id, timedelta(days=400), "a year and more ago")
    _reflection(services, BEN.user_id, timedelta(days=365, minutes=1), "just past")
    _reflection(services, ANA.user_id, timedelta(days=364, hours=23), "just inside")
    _reflection(services, BEN.user_id, timedelta(days=2), "this week")

    assert heedful.housekeeping() >= 2
    assert _texts(services) == {"just inside", "this week"}
    assert heedful.housekeeping() == 0  # nothing more to do


def test_a_shorter_retention_period_is_honoured(services: Services, clock: VirtualClock) -> None:
    services.settings = dataclasses.replace(services.settings, retention_days=30)
    _reflection(services, ANA.user_id, timedelta(days=31), "old")
    _reflection(services, ANA.user_id, timedelta(days=29), "recent")
    heedful = Heedful(services, serve_http=False, run_workers=False)
    try:
        heedful.housekeeping()
    finally:
        heedful.stop()
    assert _texts(services) == {"recent"}


def test_the_daily_purge_forgets_inbox_bodies_a_week_on(
    heedful: Heedful, services: Services, clock: VirtualClock
) -> None:
    """A stored Slack event can carry a reflection: processed or given up on, it goes
    after a week; one still waiting for a retry stays."""
    inbox = InboxItem.__table__
    for n, (state, age) in enumerate(
        [("done", 8), ("failed", 8), ("failed", 2), ("pending", 8)], start=1
    ):
        clock.set(datetime(2026, 3, 20, tzinfo=UTC) - timedelta(days=age))
        repo.store_inbox(
            engine=services.engine,
            source="slack",
            external_id=f"Ev{n}",
            body=services.cipher.encrypt('{"text": "a reflection"}'),
            now=clock.now(),
            team_id=TEAM,
        )
        with services.engine.begin() as conn:
            conn.execute(
                sa.update(inbox).where(inbox.c.external_id == f"Ev{n}").values(state=state)
            )
    clock.set(datetime(2026, 3, 20, tzinfo=UTC))
    heedful.housekeeping()
    with services.engine.connect() as conn:
        left = dict(conn.execute(sa.select(inbox.c.external_id, inbox.c.state)).all())
    assert left == {"Ev3": "failed", "Ev4": "pending"}
