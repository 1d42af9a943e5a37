"""Pre-scheduling with Slack (issue 12, item 3): the real app against the emulator on a
virtual clock. What arrives is what the emulator posted (its DMs, its scheduled log), what
Heedful asked of Slack is the emulator's call log, and the rest is the delivery rows."""

from __future__ import annotations

import copy
import dataclasses
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from factories import local, make_occurrence
from prometheus_client.parser import text_string_to_metric_families
from waiting import wait_until

from bot.app import Heedful
from bot.calendars.occurrence import Occurrence, Response, Status
from bot.clock import VirtualClock
from bot.config import Settings
from bot.emulator import SlackEmulator
from bot.messages import blocks as kit
from bot.nudges import mute_series, pause_until, skip_meeting
from bot.occurrences import apply_occurrences, opt_in, replan_user
from bot.prescheduler import CROWDED, KINDS, SCHEDULE_METHOD
from bot.privacy import erase_user
from bot.services import Services
from bot.storage import repository as repo
from bot.storage import scheduled
from bot.storage.db import session_scope
from bot.storage.models import Delivery, DeliveryState, OccurrenceRow

TEAM, USER = "T0001", "U1"
MONDAY, TUESDAY = "2026-03-02", "2026-03-03"
DEL = Delivery.__table__  # type: ignore[attr-defined]


@pytest.fixture(name="app")
def fixture_app(heedful: Heedful) -> Heedful:
    return heedful


@pytest.fixture(name="person")
def fixture_person(services: Services, clock: VirtualClock) -> str:
    """Ana, in Berlin, opted in on Monday at 07:00."""
    clock.set(local(MONDAY, "07:00"))
    with session_scope(services.engine) as session:
        user = repo.ensure_user(session=session, team_id=TEAM, user_id=USER, now=clock.now())
        user.tz = "Europe/Berlin"
    opt_in(services, team_id=TEAM, user_id=USER)
    return USER


def meeting(start: datetime, **fields: Any) -> Occurrence:
    return make_occurrence(start, uid=fields.pop("uid", "standup"), title="Design review", **fields)


def calendar(services: Services, *occurrences: Occurrence) -> None:
    """What the person's calendar says now (the whole of it for the next days)."""
    now = services.clock.now()
    apply_occurrences(
        services,
        team_id=TEAM,
        user_id=USER,
        source="ics:1",
        occurrences=occurrences,
        window=(now - timedelta(days=1), now + timedelta(days=9)),
    )


def rows(services: Services, *kinds: str) -> list[Any]:
    d = DEL.c
    query = sa.select(DEL).order_by(d.due_at, d.id)
    if kinds:
        query = query.where(d.kind.in_(kinds))
    with services.engine.connect() as conn:
        return list(conn.execute(query))


def waiting_to_be_handed(services: Services) -> int:
    """Pending nudges the prescheduler may still take (due between 10 min and 36 h)."""
    now = services.clock.now()
    d = DEL.c
    with services.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    d.state == "pending",
                    d.direct.is_(False),
                    d.kind.in_(KINDS),
                    d.due_at >= now + timedelta(minutes=10),
                    d.due_at <= now + timedelta(hours=36),
                )
            ).scalar_one()
        )


def hand_over(app: Heedful, clock: VirtualClock, rounds: int = 40) -> None:
    """Run the prescheduler until it has handed everything it may to Slack: it takes one
    slot of chat.scheduleMessage (tier 3, 50 a minute) per call, so the clock moves on
    by a slot between rounds."""
    for _ in range(rounds):
        app.preschedule()
        if waiting_to_be_handed(app.services) == 0:
            return
        clock.advance(timedelta(seconds=1.3))
    raise AssertionError("the prescheduler did not hand everything over")


def take_back(app: Heedful, clock: VirtualClock, rounds: int = 40) -> None:
    """Run the prescheduler until the deletions it queued are done: one slot of
    chat.deleteScheduledMessage (tier 3) per call."""
    for _ in range(rounds):
        app.preschedule()
        if scheduled.pending_deletions(app.services.engine) == 0:
            return
        clock.advance(timedelta(seconds=1.3))
    raise AssertionError("the deletions were not done")


def run_until(app: Heedful, emulator: SlackEmulator, clock: VirtualClock, end: datetime) -> None:
    """Advance to ``end``, running the sender and the prescheduler at each moment work
    falls due (a scheduled row's due time among them), and letting the emulator post
    what Slack would post by then."""
    for _ in range(10_000):
        now = clock.now()
        emulator.tick()
        app.preschedule()
        app.send_due()
        if now >= end:
            return
        moments = [repo.next_due(engine=app.services.engine)]
        wait = app.prescheduler.seconds_until_due()
        if wait is not None:
            moments.append(now + timedelta(seconds=wait))
        later = [t for t in moments if t is not None and t > now]
        due_now = [t for t in moments if t is not None and t <= now]
        clock.set(min([end, *later]) if not due_now else min(end, now + timedelta(seconds=1)))
    raise AssertionError("run_until did not reach its end")


def dms(emulator: SlackEmulator) -> list[dict[str, Any]]:
    """What the bot posted to Ana, Slack's scheduled posts included."""
    emulator.tick()
    return emulator.bot_messages(USER)


def kind_of(services: Services, message: dict[str, Any]) -> str | None:
    """The delivery kind of a DM: its metadata's when posted by the sender, else the
    kind of the delivery due when Slack posted it (a scheduled message carries none)."""
    meta = message.get("metadata") or {}
    if meta:
        return str(meta["event_payload"]["kind"])
    at = float(message["ts"])
    return next((r.kind for r in rows(services) if abs(r.due_at.timestamp() - at) < 2), None)


def arrived(services: Services, emulator: SlackEmulator, kind: str) -> list[dict[str, Any]]:
    return [m for m in dms(emulator) if kind_of(services, m) == kind]


def posted_directly(emulator: SlackEmulator) -> list[Any]:
    return list(emulator.calls_to("chat.postMessage"))


def gauges(app: Heedful) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The app's /metrics, as (name, labels) → value."""
    body, _ = app.metrics.render("")
    text = body.decode() if isinstance(body, bytes) else body
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scheduled_ids(emulator: SlackEmulator) -> set[str]:
    return {e["id"] for e in emulator.scheduled}


def outcomes(emulator: SlackEmulator) -> list[str]:
    return [entry["outcome"] for entry in emulator.scheduled_log]


# ------------------------------------------------------------------ the happy path


def test_a_meeting_known_a_day_ahead_is_scheduled_once_and_posted_by_slack(
    app: Heedful, emulator: SlackEmulator, clock: VirtualClock, person: str
) -> None:
    start = local(TUESDAY, "10:00")
    calendar(app.services, meeting(start))
    hand_over(app, clock)

    scheduled = emulator.scheduled
    nudges = rows(app.services, *KINDS)
    assert {r.state for r in nudges} == {DeliveryState.SCHEDULED.value}
    assert len(scheduled) == len(nudges) >= 2  # the reminder and the question
    assert all(entry["metadata"] is None for entry in scheduled)  # Slack would drop them
    assert {entry["post_at"] for entry in scheduled} == {int(r.due_at.timestamp()) for r in nudges}
    assert all(r.scheduled_message_id and r.channel.startswith("D") for r in nudges)
    calls = emulator.calls_to(SCHEDULE_METHOD)
    assert len(calls) == len(nudges)
    assert all(c.params.get("unfurl_links") in (False, "false", "0") for c in calls)
    assert gauges(app)[("heedful_scheduled_messages", ())] == len(scheduled)
    calendar(app.services, meeting(start))  # the next poll: nothing changed, nothing moves
    replan_user(app.services, team_id=TEAM, user_id=USER)
    assert scheduled_ids(emulator) == {e["id"] for e in scheduled}
    assert emulator.scheduled_log == [] and waiting_to_be_handed(app.services) == 0
    assert (
        gauges(app)[("heedful_deliveries_by_state", (("kind", "reminder"), ("state", "scheduled")))]
        == 1
    )

    run_until(app, emulator, clock, start + timedelta(hours=2))

    got = dms(emulator)
    assert len(got) == len(nudges)
    assert all(m.get("metadata") is None and m["blocks"] for m in got)
    reminder = next(r for r in nudges if r.kind == "reminder")
    assert float(got[0]["ts"]) == pytest.approx(reminder.due_at.timestamp(), abs=1)
    assert posted_directly(emulator) == []  # never also posted by the sender
    settled = rows(app.services, *KINDS)
    assert {r.state for r in settled} == {"sent"}
    assert all(r.sent_at == r.due_at for r in settled)
    assert outcomes(emulator) == ["posted"] * len(nudges)
    assert gauges(app)[("heedful_scheduled_messages", ())] == 0


def test_a_meeting_created_three_minutes_before_it_starts_is_posted_directly(
    app: Heedful, emulator: SlackEmulator, clock: VirtualClock, person: str
) -> None:
    clock.set(local(MONDAY, "10:57"))
    start = local(MONDAY, "11:00")
    calendar(app.services, meeting(start))
    app.preschedule()
    reminder = rows(app.services, "reminder")[0]
    assert reminder.due_at < clock.now() + timedelta(minutes=10)
    handed = [c.params["post_at"] for c in emulator.calls_to(SCHEDULE_METHOD)]
    assert int(reminder.due_at.timestamp()) not in handed  # the question, 35 min ahead, is

    run_until(app, emulator, clock, start)
    assert len(arrived(app.services, emulator, "reminder")) == 1
    assert len(posted_directly(emulator)) == 1


# ------------------------------------------------------------------ moves and withdrawals


def test_a_moved_meeting_deletes_its_scheduled_reminder_and_schedules_one_at_the_new_time(
    app: Heedful, emulator: SlackEmulator, clock: VirtualClock, person: str
) -> None:
    start, later = local(TUESDAY, "10:00"), local(TUESDAY, "14:00")
    calendar(app.services, meeting(start))
    hand_over(app, clock)
    first = {e["id"]: e["post_at"] for e in emulator.scheduled}

    calendar(app.services, meeting(later))
    hand_over(app, clock)
    take_back(app, clock)

    deleted = {e["id"] for e in emulator.scheduled_log if e["outcome"] == "deleted"}
    assert deleted == set(first)
    assert {e["post_at"] for e in emulator.scheduled}.isdisjoint(first.values())
    run_until(app, emulator, clock, later + timedelta(hours=2))

    got = arrived(app.services, emulator, "reminder")
    assert len(got) == 1
    reminder = next(r for r in rows(app.services, "reminder"))
    assert float(got[0]["ts"]) == pytest.approx(reminder.due_at.timestamp(), abs=1)
    assert reminder.due_at > start
    assert posted_directly(emulator) == []


@pytest.mark.parametrize(
    "change",
    [{"status": Status.CANCELLED}, {"self_response": Response.DECLINED}, None],
    ids=["cancelled", "declined", "removed"],
)
def test_a_cancelled_or_declined_meeting_deletes_its_scheduled_messages(
    app: Heedful,
    emulator: SlackEmulator,
    clock: VirtualClock,
    person: str,
    change: dict[str, Any] | None,
) -> None:
    start = local(TUESDAY, "10:00")
    calendar(app.services, meeting(start))
    hand_over(app, clock)
    handed = len(emulator.scheduled)
    assert handed >= 2

    if change is None:
        calendar(app.services)
    else:
        calendar(app.services, meeting(start, **change))
    take_back(app, clock)

    assert emulator.scheduled == []
    assert outcomes(emulator) == ["deleted"] * handed
    run_until(app, emulator, clock, start + timedelta(hours=2))
    assert dms(emulator) == []
    assert posted_directly(emulator) == []


@pytest.mark.parametrize("moment", [timedelta(seconds=-30), timedelta(seconds=30)])
@pytest.mark.parametrize("change", ["moved", "cancelled"])
def test_a_change_in_the_reminder_s_last_minute_leaves_it_to_slack_and_sends_nothing_twice(
    app: Heedful,
    emulator: SlackEmulator,
    clock: VirtualClock,
    person: str,
    change: str,
    moment: timedelta,
) -> None:
    """Slack will not delete a message within a minute of its post_at (and one it posted
    is gone from its list): a change that comes then leaves the reminder with Slack. It
    arrives once, its row says sent, and a moved meeting gets no second reminder."""
    start = local(TUESDAY, "10:00")
    calendar(app.services, meeting(start))
    hand_over(app, clock)
    reminder = rows(app.services, "reminder")[0]
    clock.set(reminder.due_at + moment)  # 30 s before it posts, or 30 s after
    emulator.tick()

    if change == "moved":
        calendar(app.services, meeting(start + timedelta(minutes=30)))
    else:
        calendar(app.services, meeting(start, status=Status.CANCELLED))

    with app.services.engine.connect() as conn:
        queued = set(
            conn.execute(sa.text("SELECT scheduled_message_id FROM slack_unschedule")).scalars()
        )
    assert reminder.scheduled_message_id not in queued  # the question's only
    assert rows(app.services, "reminder")[0].state == DeliveryState.SCHEDULED.value
    run_until(app, emulator, clock, start + timedelta(hours=3))
    assert len(arrived(app.services, emulator, "reminder")) == 1
    assert rows(app.services, "reminder")[0].state == "sent"
    assert posted_directly(emulator) == []


def _series_key(app: Heedful) -> str:
    c = OccurrenceRow.__table__.c  # type: ignore[attr-defined]
    with app.services.engine.connect() as conn:
        return str(conn.execute(sa.select(c.series_key)).scalar_one())


@pytest.mark.parametrize("action", ["pause", "mute", "skip", "erase", "unreachable"])
def test_a_person_who_pauses_mutes_skips_is_erased_or_unreachable_gets_nothing_scheduled_before(
    app: Heedful, emulator: SlackEmulator, clock: VirtualClock, person: str, action: str
) -> None:
    start = local(TUESDAY, "10:00")
    calendar(app.services, meeting(start))
    hand_over(app, clock)
    assert len(emulator.scheduled) >= 2
    s = app.services
    if action == "pause":
        pause_until(s, team_id=TEAM, user_id=USER, until=start + timedelta(days=2))
    elif action == "mute":
        mute_series(s, team_id=TEAM, user_id=USER, series_key=_series_key(app))
    elif action == "skip":
        reminder = rows(s, "reminder")[0]
        skip_meeting(s, team_id=TEAM, user_id=USER, delivery_id=reminder.id)
    elif action == "unreachable":  # Slack said so to another DM (the sender's path)
        scheduled.mark_unreachable(
            engine=s.engine, team_id=TEAM, user_id=USER, reason="account_inactive", now=clock.now()
        )
    else:
        erase_user(s, team_id=TEAM, user_id=USER)
    take_back(app, clock)

    assert emulator.scheduled == []
    assert set(outcomes(emulator)) == {"deleted"}
    run_until(app, emulator, clock, start + timedelta(hours=2))
    assert dms(emulator) == []
    assert posted_directly(emulator) == []


# ------------------------------------------------------------------ faults


@pytest.mark.parametrize("landed", [True, False], ids=["it-was-scheduled", "it-was-not"])
def test_an_ambiguous_scheduling_failure_never_makes_two_messages(
    app: Heedful, emulator: SlackEmulator, clock: VirtualClock, person: str, landed: bool
) -> None:
    start = local(TUESDAY, "10:00")
    calendar(app.services, meeting(start))
    if landed:
        emulator.fault(SCHEDULE_METHOD, drop_after_store=True)
    else:
        emulator.fault(SCHEDULE_METHOD, drop_before_store=True)

    app.preschedule()
    first = rows(app.services, *KINDS)[0]
    assert first.state == DeliveryState.SCHEDULING.value and first.needs_reconcile
    assert len(emulator.scheduled) == (1 if landed else 0)

    # The sender never takes it while its fate is unknown.
    clock.advance(timedelta(minutes=1))
    app.send_due()
    assert rows(app.services, *KINDS)[0].state == DeliveryState.SCHEDULING.value
    hand_over(app, clock)
    for _ in range(5):  # the lease of the unknown call runs out: the list tells
        clock.advance(timedelta(seconds=30))
        app.preschedule()
    row = next(r for r in rows(app.services, *KINDS) if r.id == first.id)
    assert row.state == DeliveryState.SCHEDULED.value
    assert len(emulator.calls_to("chat.scheduledMessages.list")) >= 1

    run_until(app, emulator, clock, start + timedelta(hours=2))
    assert len(arrived(app.services, emulator, "reminder")) == 1
    assert len(dms(emulator)) == len(rows(app.services, *KINDS))
    assert posted_directly(emulator) == []


def test_an_unknown_outcome_that_cannot_be_cleared_up_in_time_is_not_sent_at_all(
    app: Heedful, emulator: SlackEmulator, clock: VirtualClock, person: str
) -> None:
    start = local(MONDAY, "09:00")  # the reminder is due at 08:55, in under two hours
    calendar(app.services, meeting(start))
    emulator.fault(SCHEDULE_METHOD, drop_after_store=True)
    emulator.fault("chat.scheduledMessages.list", status=500, error="internal_error", times=50)
    app.preschedule()
    first = rows(app.services, *KINDS)[0]
    clock.set(first.due_at + timedelta(seconds=1))
    emulator.clear_faults()
    emulator.fault("chat.scheduledMessages.list", status=500, error="internal_error", times=50)
    app.send_due()
    app.preschedule()

    row = next(r for r in rows(app.services, *KINDS) if r.id == first.id)
    assert (row.state, row.error) == ("failed", "unknown")
    assert len(arrived(app.services, emulator, "reminder")) == 1  # Slack had it: it is the only one
    assert posted_directly(emulator) == []


@pytest.mark.parametrize(
    "second_worker_reads_the_list", [True, False], ids=["list-read", "list-unreadable"]
)
def test_a_slack_slower_than_the_lease_never_loses_or_doubles_the_reminder(
    app: Heedful,
    emulator: SlackEmulator,
    clock: VirtualClock,
    person: str,
    second_worker_reads_the_list: bool,
) -> None:
    """Slack takes the reminder but answers only after the worker's lease ran out. A
    second worker takes the row over and asks Slack's list: it finds the message and
    adopts its id (or cannot read the list and waits). The first worker's late answer
    must neither delete the message the row now holds nor leave it unclaimed: the
    reminder arrives exactly once. (On PostgreSQL with two workers, bench/burst.py lost
    9 of 5,000 reminders this way: the late answer queued the adopted message's deletion.)"""
    start = local(TUESDAY, "10:00")
    calendar(app.services, meeting(start))
    second = copy.copy(app.prescheduler)
    second.worker_id = "worker-two"
    slack_answers = threading.Event()
    emulator.fault(SCHEDULE_METHOD, answer_after=slack_answers)
    if not second_worker_reads_the_list:
        emulator.fault("chat.scheduledMessages.list", status=500, error="internal_error")

    first_round = threading.Thread(target=app.preschedule)
    first_round.start()
    try:
        wait_until(lambda: len(emulator.scheduled) == 1, what="Slack holding the reminder")
        reminder = rows(app.services, "reminder")[0]
        assert reminder.state == DeliveryState.SCHEDULING.value
        clock.advance(app.prescheduler.lease + timedelta(seconds=1))
        second.run_once()  # the lease ran out: the second worker looks the call up
        taken_over = rows(app.services, "reminder")[0]
        assert taken_over.claimed_by == "worker-two"
        if second_worker_reads_the_list:
            assert taken_over.state == DeliveryState.SCHEDULED.value
    finally:
        slack_answers.set()
        first_round.join(timeout=60)
    assert not first_round.is_alive()

    reminder = rows(app.services, "reminder")[0]
    assert reminder.state == DeliveryState.SCHEDULED.value
    assert reminder.scheduled_message_id in scheduled_ids(emulator)
    assert len(emulator.scheduled) == len(rows(app.services, *KINDS))  # one each
    assert scheduled.pending_deletions(app.services.engine) == 0
    run_until(app, emulator, clock, start + timedelta(hours=2))
    assert len(arrived(app.services, emulator, "reminder")) == 1
    assert emulator.calls_to("chat.deleteScheduledMessage") == []
    assert posted_directly(emulator) == []


def test_a_429_on_the_scheduled_list_pauses_the_list_alone_and_the_lookup_waits_for_it(
    app: Heedful, emulator: SlackEmulator, clock: VirtualClock, person: str
) -> None:
    """The list is paced like the other tier 3 methods: after an unanswered call, a 429
    on chat.scheduledMessages.list pauses that method for the workspace until
    Retry-After, no list call is made before then, and the message is found afterwards."""
    start = local(TUESDAY, "10:00")
    calendar(app.services, meeting(start))
    emulator.fault(SCHEDULE_METHOD, drop_after_store=True)
    emulator.fault("chat.scheduledMessages.list", status=429, retry_after=90)
    app.preschedule()
    clock.advance(app.prescheduler.lease + timedelta(seconds=1))
    app.preschedule()  # the lookup meets the 429
    assert len(emulator.calls_to("chat.scheduledMessages.list")) == 1
    paused = app.prescheduler.budget.read(TEAM, "chat.scheduledMessages.list")
    assert paused is not None and paused.paused_until is not None
    assert paused.paused_until >= clock.now() + timedelta(seconds=89)
    schedule_pace = app.prescheduler.budget.read(TEAM, SCHEDULE_METHOD)
    assert schedule_pace is not None and schedule_pace.paused_until is None

    for _ in range(8):  # within the pause: nobody asks the list again
        clock.advance(timedelta(seconds=10))
        app.preschedule()
    assert len(emulator.calls_to("chat.scheduledMessages.list")) == 1
    for _ in range(10):
        clock.advance(timedelta(seconds=10))
        app.preschedule()
    reminder = rows(app.services, "reminder")[0]
    assert reminder.state == DeliveryState.SCHEDULED.value
    assert reminder.scheduled_message_id in scheduled_ids(emulator)
    run_until(app, emulator, clock, start + timedelta(hours=2))
    assert len(arrived(app.services, emulator, "reminder")) == 1


def test_a_deletion_known_only_by_its_text_never_takes_the_reminder_scheduled_again(
    app: Heedful, emulator: SlackEmulator, clock: VirtualClock, person: str
) -> None:
    """A call that got no answer is withdrawn (the meeting moved away) and queued for
    deletion by its text's digest; the meeting moves back and its reminder is scheduled
    again with the same words at the same time (the rotation can pick the same wording)
    before that deletion runs. The deletion finds the new message in Slack's list and
    must leave it alone: a row holds it."""
    start = local(TUESDAY, "10:00")
    calendar(app.services, meeting(start))
    hand_over(app, clock)
    reminder = rows(app.services, "reminder")[0]
    assert reminder.state == DeliveryState.SCHEDULED.value
    with app.services.engine.begin() as conn:  # what the withdrawn call left behind
        scheduled.queue_deletions(
            conn,
            [(TEAM, reminder.channel, scheduled.LOOKUP + reminder.scheduled_hash, reminder.due_at)],
            now=clock.now(),
        )

    take_back(app, clock)
    assert len(emulator.calls_to("chat.scheduledMessages.list")) == 1  # it looked
    assert emulator.calls_to("chat.deleteScheduledMessage") == []
    assert reminder.scheduled_message_id in scheduled_ids(emulator)
    run_until(app, emulator, clock, start + timedelta(hours=2))
    assert len(arrived(app.services, emulator, "reminder")) == 1
    assert posted_directly(emulator) == []


@pytest.mark.parametrize("error", ["time_too_far", "restricted_too_many"])
def test_a_message_slack_will_not_take_ahead_is_posted_directly_once(
    app: Heedful, emulator: SlackEmulator, clock: VirtualClock, person: str, error: str
) -> None:
    start = local(TUESDAY, "10:00")
    calendar(app.services, meeting(start))
    emulator.fault(SCHEDULE_METHOD, error=error, times=10)
    hand_over(app, clock)
    assert all(r.direct and r.state == "pending" for r in rows(app.services, *KINDS))
    emulator.clear_faults()

    run_until(app, emulator, clock, start + timedelta(hours=2))

    assert len(arrived(app.services, emulator, "reminder")) == 1
    assert len(posted_directly(emulator)) == len(rows(app.services, *KINDS))
    assert emulator.calls_to(SCHEDULE_METHOD) and emulator.scheduled_log == []


# ------------------------------------------------------------------ rate limits


@pytest.fixture(name="second_team")
def fixture_second_team(app: Heedful, emulator: SlackEmulator) -> str:
    """Another workspace on the same Slack (the emulator knows one token: the rows of the
    second team use the same one, which is all the app looks at)."""
    with app.services.engine.begin() as conn:
        token = conn.execute(sa.text("SELECT bot_token FROM installation")).scalar_one()
        conn.execute(
            sa.text("INSERT INTO installation (team_id, bot_token) VALUES ('T0002', :token)"),
            {"token": token},
        )
    return "T0002"


def _enqueue(app: Heedful, team: str, user: str, kind: str, due: datetime, ref: str) -> None:
    with app.services.engine.begin() as conn:
        repo.enqueue_deliveries(
            conn=conn,
            rows=[
                {
                    "team_id": team,
                    "user_id": user,
                    "kind": kind,
                    "ref": ref,
                    "due_at": due,
                    "payload": {"text": f"a {kind}"},
                }
            ],
            now=app.services.clock.now(),
        )


def test_a_429_on_schedule_message_pauses_only_that_workspace_and_method(
    app: Heedful, emulator: SlackEmulator, clock: VirtualClock, second_team: str
) -> None:
    """Notices stand in for nudges here (same kinds list, ready-made text), so the test is
    about the budget alone."""
    app.prescheduler.composers.update({k: app.prescheduler.composers["notice"] for k in KINDS})
    later = clock.now() + timedelta(hours=3)
    _enqueue(app, TEAM, "U1", "reminder", later, "a")
    emulator.fault(SCHEDULE_METHOD, status=429, retry_after=120)
    app.prescheduler.run_once()
    pace = app.prescheduler.budget.read(TEAM, SCHEDULE_METHOD)  # type: ignore[union-attr]
    assert pace is not None and pace.paused_until == clock.now() + timedelta(seconds=120)

    _enqueue(app, TEAM, "U2", "reminder", later, "b")
    _enqueue(app, second_team, "U2", "reflection", later, "c")
    _enqueue(app, TEAM, "U2", "notice", clock.now(), "d")  # due now: the sender posts it
    clock.advance(timedelta(seconds=5))
    app.prescheduler.run_once()
    app.send_due()

    states = {(r.team_id, r.ref): r.state for r in rows(app.services)}
    assert states[(second_team, "c")] == "scheduled"  # the other workspace goes on
    assert states[(TEAM, "a")] == states[(TEAM, "b")] == "pending"  # this one waits
    assert states[(TEAM, "d")] == "sent"  # and chat.postMessage is not paused
    assert app.prescheduler.budget.read(TEAM, "chat.postMessage").paused_until is None  # type: ignore[union-attr]

    clock.advance(timedelta(seconds=121))
    hand_over(app, clock)
    states = {(r.team_id, r.ref): r.state for r in rows(app.services)}
    assert states[(TEAM, "a")] == states[(TEAM, "b")] == "scheduled"


def test_a_crowded_dm_gets_the_rest_posted_directly_before_slack_would_refuse(
    app: Heedful, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    """Slack takes at most 30 scheduled messages for one channel within 5 minutes: past
    CROWDED the prescheduler leaves the rest to the sender, so Slack never refuses one and
    every DM still arrives exactly once. Notices stand in for nudges (ready-made text),
    for the sender as for the prescheduler."""
    for composers in (app.prescheduler.composers, app.sender.composers):
        composers.update({k: composers["notice"] for k in KINDS})
    first = clock.now() + timedelta(hours=3)
    for i in range(CROWDED + 3):
        _enqueue(app, TEAM, "U1", "reminder", first + timedelta(seconds=8 * i), f"r{i}")

    hand_over(app, clock, rounds=120)

    by_state = [r.state for r in rows(app.services)]
    assert by_state.count("scheduled") == CROWDED
    assert sum(1 for r in rows(app.services) if r.direct and r.state == "pending") == 3
    assert "restricted_too_many" not in outcomes(emulator)

    run_until(app, emulator, clock, first + timedelta(minutes=10))
    texts = [m.get("text") for m in dms(emulator)]
    assert len(texts) == CROWDED + 3
    assert len(posted_directly(emulator)) == 3
    assert {r.state for r in rows(app.services)} == {"sent"}


# ------------------------------------------------------------------ answers


def test_a_threaded_reply_to_a_scheduled_question_is_stored_as_its_answer(
    app: Heedful, emulator: SlackEmulator, clock: VirtualClock, person: str
) -> None:
    start = local(TUESDAY, "10:00")
    calendar(app.services, meeting(start))
    hand_over(app, clock)
    question = next(r for r in rows(app.services, "reflection"))
    assert question.state == "scheduled" and question.message_ts is None

    run_until(app, emulator, clock, question.due_at + timedelta(minutes=3))
    posted = arrived(app.services, emulator, "reflection")[0]
    emulator.user_says(app.url + "/slack/events", USER, "I listened more.", thread_ts=posted["ts"])
    app.process_inbox()

    with app.services.engine.connect() as conn:
        answers = conn.execute(
            sa.text("SELECT delivery_id, source FROM reflection WHERE user_id = :u"), {"u": USER}
        ).all()
    assert [(a.delivery_id, a.source) for a in answers] == [(question.id, "thread")]
    assert next(r for r in rows(app.services, "reflection")).message_ts == posted["ts"]


@pytest.fixture(name="settings")
def fixture_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, preschedule_hours=36.0)


def test_a_tap_on_a_scheduled_question_keeps_its_ts_and_its_answer(
    app: Heedful, emulator: SlackEmulator, clock: VirtualClock, person: str
) -> None:
    start = local(TUESDAY, "10:00")
    calendar(app.services, meeting(start))
    hand_over(app, clock)
    question = next(r for r in rows(app.services, "reflection"))
    run_until(app, emulator, clock, question.due_at + timedelta(seconds=1))
    posted = arrived(app.services, emulator, "reflection")[0]

    result = emulator.click_button(
        app.url + "/slack/events", USER, kit.tap_action(5), message=posted
    )
    assert result.status == 200

    def kept() -> bool:
        with app.services.engine.connect() as conn:
            return (
                conn.execute(
                    sa.text("SELECT count(*) FROM reflection WHERE delivery_id = :d"),
                    {"d": question.id},
                ).scalar_one()
                == 1
            )

    wait_until(kept, timeout=10, what="the tap kept as the question's answer")
    assert next(r for r in rows(app.services, "reflection")).message_ts == posted["ts"]


def test_a_deletion_within_a_minute_of_its_time_is_counted_as_too_late(
    app: Heedful, emulator: SlackEmulator, clock: VirtualClock, person: str
) -> None:
    start = local(TUESDAY, "10:00")
    calendar(app.services, meeting(start))
    hand_over(app, clock)
    reminder = rows(app.services, "reminder")[0]
    clock.set(reminder.due_at - timedelta(minutes=2))

    calendar(app.services)  # cancelled two minutes before Slack posts the reminder
    # Slack answers the first deletion with a 429 long enough to reach the last minute.
    emulator.fault("chat.deleteScheduledMessage", status=429, retry_after=100)
    take_back(app, clock, rounds=200)

    too_late = ("heedful_scheduled_deletions_total", (("outcome", "too_late"),))
    assert gauges(app)[too_late] == 1
    run_until(app, emulator, clock, reminder.due_at + timedelta(seconds=5))
    assert len(arrived(app.services, emulator, "reminder")) == 1  # Slack posted it
    assert "deleted" in outcomes(emulator)  # the question, hours away, was deleted in time
