"""A reflection is the person's data: when they delete the DM that made it, the stored
answer goes too, through signed ``message_deleted`` events into the real app. An edit
or a late copy of the original event that arrives after the delete does not bring it
back; the tombstone that sees to that holds no text, is erased with the person and
expires after a day."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from nudging import TEAM, Driver, Event, FeedServer, at, colleagues
from waiting import wait_until

from bot import privacy, reflections
from bot.messages.prompts import load_prompts
from bot.reflections import TOMBSTONE_KEEP
from bot.storage.models import DeletedMessage, InboxItem, Reflection

DAY = "2026-03-02"  # a Monday
MEETINGS = [
    Event("one", "1:1 Ana / Ben", f"{DAY} 10:00", 30, ["ben@example.com"]),
    Event("two", "Planning", f"{DAY} 11:00", 30, colleagues(3)),
]
PROMPTS = load_prompts()
GONE = DeletedMessage.__table__
INBOX = InboxItem.__table__


@pytest.fixture(name="ana")
def fixture_ana(driver: Driver, feed_server: FeedServer) -> Driver:
    return driver.starts(at(DAY, "08:00"), feed_server, MEETINGS)


def _tombstones(driver: Driver) -> list[dict[str, Any]]:
    with driver.services.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(GONE).order_by(GONE.c.id)).mappings()]


def _thread(driver: Driver, ts: str) -> list[str]:
    return [r.text for r in driver.replies if r.message.get("thread_ts") == ts]


def _message_event(driver: Driver, ts: str) -> dict[str, Any]:
    """The ``message`` event of one of Ana's DMs, as Slack sends it (and sends again)."""
    channel = driver.emulator.dm_channel(driver.user)
    message = driver.emulator.workspace.find_message(channel, ts)
    assert message is not None
    event = {
        "type": "message",
        "channel": channel,
        "user": driver.user,
        "text": message["text"],
        "ts": ts,
        "event_ts": ts,
        "channel_type": "im",
        "client_msg_id": message["client_msg_id"],
    }
    if message.get("thread_ts"):
        event["thread_ts"] = message["thread_ts"]
    return event


def _edit_event(driver: Driver, ts: str, text: str, thread_ts: str | None) -> dict[str, Any]:
    """A ``message_changed`` for ``ts`` (Slack can deliver it after the delete)."""
    edited = {"type": "message", "user": driver.user, "text": text, "ts": ts}
    if thread_ts:
        edited["thread_ts"] = thread_ts
    return {
        "type": "message",
        "subtype": "message_changed",
        "message": {**edited, "edited": {"user": driver.user, "ts": f"{float(ts) + 5:.6f}"}},
        "previous_message": {**edited, "text": "before"},
        "channel": driver.emulator.dm_channel(driver.user),
        "hidden": True,
        "ts": f"{float(ts) + 5:.6f}",
        "event_ts": f"{float(ts) + 5:.6f}",
        "channel_type": "im",
    }


def _deliver(driver: Driver, event: dict[str, Any], **kw: Any) -> None:
    assert driver.emulator.deliver_event(driver.url, event, **kw).status == 200
    driver.settle()


def test_deleting_a_reply_deletes_its_answer_and_an_edit_does_not_bring_it_back(
    ana: Driver,
) -> None:
    ana.run_until(at(DAY, "11:40"))
    one_on_one = ana.nudge("reflection", "1:1 Ana / Ben")
    planning = ana.nudge("reflection", "Planning")
    gone = ana.says("Ben looked tired; I did not ask why.", thread_ts=one_on_one.ts)
    kept = ana.says("Planning went fast; I should slow down.", thread_ts=planning.ts)
    assert len(ana.reflections()) == 2
    original = _message_event(ana, gone)

    ana.deletes(gone)
    (row,) = ana.reflections()  # only the deleted one went
    assert (row.message_ts, ana.text_of(row)) == (kept, "Planning went fast; I should slow down.")
    (tombstone,) = _tombstones(ana)
    assert (tombstone["user_id"], tombstone["message_ts"]) == ("U1", gone)
    assert set(tombstone) == {"id", "team_id", "user_id", "message_ts", "deleted_at"}  # no text

    # An edit that Slack delivers after the delete finds nothing to update.
    _deliver(ana, _edit_event(ana, gone, "Second thoughts.", one_on_one.ts))
    assert [r.message_ts for r in ana.reflections()] == [kept]
    # Nor does Slack's retry of the original event store it again.
    _deliver(ana, original, retry_num=1)
    assert [r.message_ts for r in ana.reflections()] == [kept]
    assert _thread(ana, one_on_one.ts) == []  # nothing said, then or now
    assert ana.reactions_on(gone) == ["white_check_mark"]  # acknowledged once, when kept

    # The inbox row of the delete names Ana, so an erase takes it with everything else.
    with ana.services.engine.connect() as conn:
        owners = conn.execute(sa.select(INBOX.c.user_id).where(INBOX.c.kind == "message")).scalars()
        assert set(owners) == {"U1"}
    privacy.erase_user(ana.services, team_id=TEAM, user_id="U1")
    assert _tombstones(ana) == [] and ana.reflections() == []


def test_a_delete_that_overtakes_its_message_event_wins(ana: Driver) -> None:
    """The message's first delivery never reached Heedful; Slack's retry comes after the
    user deleted the message. The answer is not stored, and nothing is confirmed."""
    ana.run_until(at(DAY, "10:40"))
    prompt = ana.nudge("reflection", "1:1 Ana / Ben")
    reply = ana.emulator.user_says(None, "U1", "Sent, then deleted.", thread_ts=prompt.ts)
    original = _message_event(ana, reply)

    ana.deletes(reply)
    assert ana.reflections() == []
    _deliver(ana, original, retry_num=1, retry_reason="http_timeout")
    assert ana.reflections() == []
    assert _thread(ana, prompt.ts) == []

    # A plain DM (no thread) the same way.
    ana.run_until(at(DAY, "11:40"))
    dm = ana.emulator.user_says(None, "U1", "Planning: also gone.")
    original = _message_event(ana, dm)
    ana.deletes(dm, with_previous=False)  # Slack's documented shape: channel and ts only
    _deliver(ana, original, retry_num=2)
    assert ana.reflections() == []
    assert [t["message_ts"] for t in _tombstones(ana)] == [reply, dm]
    assert _thread(ana, dm) == []


def test_slacks_minimal_delete_event_finds_the_owner_by_the_dm(ana: Driver) -> None:
    """Slack's reference shows ``message_deleted`` with only ``channel`` and
    ``deleted_ts``: the DM channel says whose it was."""
    ana.run_until(at(DAY, "10:40"))
    prompt = ana.nudge("reflection", "1:1 Ana / Ben")
    ts = ana.says("Deleted without a trace.", thread_ts=prompt.ts)
    assert len(ana.reflections()) == 1
    ana.deletes(ts, with_previous=False)
    assert ana.reflections() == []
    assert [t["user_id"] for t in _tombstones(ana)] == ["U1"]


def test_someone_elses_delete_touches_nothing_and_tombstones_expire(ana: Driver) -> None:
    ana.run_until(at(DAY, "10:40"))
    prompt = ana.nudge("reflection", "1:1 Ana / Ben")
    ts = ana.says("Mine.", thread_ts=prompt.ts)
    ben = Driver(ana.heedful, ana.emulator, ana.clock, user="U2")
    ben_ts = ben.says("Ben's own DM.")
    # A delete in Ben's DM with Ana's ts: it is not Ana's message.
    event = {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": ana.emulator.dm_channel("U2"),
        "deleted_ts": ts,
        "ts": ben_ts,
        "event_ts": ben_ts,
        "previous_message": {"type": "message", "user": "U2", "text": "?", "ts": ts},
        "channel_type": "im",
    }
    _deliver(ana, event)
    assert [r.message_ts for r in ana.reflections()] == [ts]

    ana.deletes(ts)
    assert ana.reflections() == []
    assert len(_tombstones(ana)) == 1
    # A day on, the tombstone guards nothing (the question has closed): housekeeping
    # deletes it.
    ana.clock.advance(TOMBSTONE_KEEP - timedelta(minutes=1))
    ana.heedful.housekeeping()
    assert len(_tombstones(ana)) == 1
    ana.clock.advance(timedelta(minutes=2))
    ana.heedful.housekeeping()
    assert _tombstones(ana) == []


def _a_locked_wait(driver: Driver) -> bool:
    """A PostgreSQL backend is waiting for a person's row lock (ours: no other code
    locks ``slack_user`` rows)."""
    with driver.services.engine.connect() as conn:
        return bool(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query ILIKE '%FROM slack_user%FOR UPDATE%'"
                )
            ).scalar()
        )


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_delete_and_its_message_never_pass_each_other(ana: Driver) -> None:
    """On PostgreSQL two workers can handle the delete and the message at the same time;
    each waits for the other's transaction (SQLite runs one writer at a time anyway)."""
    ana.run_until(at(DAY, "10:40"))
    prompt = ana.nudge("reflection", "1:1 Ana / Ben")
    engine = ana.services.engine
    first, second = "1772445700.000100", "1772445700.000200"
    with ThreadPoolExecutor(max_workers=1) as pool:
        # A delete is being stored when its message's event is handled: the answer waits,
        # then sees the tombstone.
        with engine.connect() as held:
            deleting = held.begin()
            assert reflections._lock_person(held, team_id=TEAM, user_id="U1")
            held.execute(
                sa.insert(GONE).values(
                    team_id=TEAM, user_id="U1", message_ts=first, deleted_at=ana.clock.now()
                )
            )
            answer = pool.submit(
                reflections.capture_message,
                ana.services,
                team_id=TEAM,
                user_id="U1",
                text="Gone before it was kept.",
                ts=first,
                thread_ts=prompt.ts,
            )
            wait_until(lambda: _a_locked_wait(ana), what="the answer to wait for the delete")
            deleting.commit()
        assert answer.result(timeout=30) is reflections.Kept.DUPLICATE
        assert ana.reflections() == []

        # An answer is being stored when the delete is handled: the delete waits, then
        # deletes it.
        with engine.connect() as held:
            storing = held.begin()
            assert reflections._lock_person(held, team_id=TEAM, user_id="U1")
            now = ana.clock.now()
            held.execute(
                sa.insert(Reflection.__table__).values(
                    team_id=TEAM,
                    user_id="U1",
                    delivery_id=prompt.delivery_id,
                    text="",
                    source="thread",
                    message_ts=second,
                    created_at=now,
                    updated_at=now,
                )
            )
            deleted = pool.submit(
                reflections.forget_message,
                ana.services,
                team_id=TEAM,
                user_id="U1",
                channel=None,
                ts=second,
            )
            wait_until(lambda: _a_locked_wait(ana), what="the delete to wait for the answer")
            storing.commit()
        assert deleted.result(timeout=30) is True
        assert ana.reflections() == []
