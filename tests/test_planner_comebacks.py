"""The meeting where an open commitment comes back ranks first for the day's reminder and
question (``bot.planner``, "A commitment coming back"; the rule is ``bot.comeback``'s),
and the daily caps still hold. Pure: no database, no clock."""

from __future__ import annotations

from datetime import timedelta

from factories import BERLIN, local, make_occurrence

from bot.comeback import Pending
from bot.planner import PlanInput, Wanted, comebacks, plan
from bot.prefs import Prefs
from bot.storage.models import DeliveryKind

REMINDER, REFLECTION, TRANSITION = (
    DeliveryKind.REMINDER,
    DeliveryKind.REFLECTION,
    DeliveryKind.TRANSITION,
)

MONDAY = "2026-03-02"
BEN = "ben@example.com"
CLEO = "cleo@example.com"
TEAM = ("ana@example.com", BEN, CLEO)


def _meeting(hhmm: str, uid: str, people=TEAM[:2], *, day: str = MONDAY, **kw):
    attendees = kw.pop("attendees", len(people) + 1)
    return make_occurrence(
        local(day, hhmm), 30, uid=uid, attendees=attendees, people=tuple(people), **kw
    )


# A Monday where two 1:1s and a meeting with guests outrank the small and large groups.
ALL_HANDS = _meeting("09:00", "all-hands", (), attendees=30, recurring=True)  # keeps no people
STAND_UP = _meeting("10:00", "stand-up", TEAM)
DAN = _meeting("11:00", "dan", ("dan@example.com",))
CLIENT = _meeting("13:00", "client", ("kim@northwind.test", BEN), external=True)
EVE = _meeting("15:00", "eve", ("eve@example.com",))
DAY = [ALL_HANDS, STAND_UP, DAN, CLIENT, EVE]
LAST_WEEK = local("2026-02-23", "10:40")


def _said(id_: int = 1, *, people=(), series: str = "ics:1|elsewhere", **kw) -> Pending:
    """A commitment made last week about another meeting."""
    kw.setdefault("accepted_at", LAST_WEEK)
    kw.setdefault("occurrence_key", "ics:1|last-week|")
    return Pending(id=id_, series_key=series, people=frozenset(people), **kw)


def _input(commitments=(), *, now=None, prefs=None, meetings=DAY, **kw) -> PlanInput:
    return PlanInput(
        meetings=meetings,
        prefs=prefs or Prefs(),
        zone=BERLIN,
        now=now or local(MONDAY, "07:00"),
        commitments=commitments,
        **kw,
    )


def _asked(data: PlanInput) -> list[str]:
    wanted = plan(data)
    refs = [
        w.payload["previous"] if w.kind == TRANSITION else w.ref
        for w in wanted
        if w.kind in (REFLECTION, TRANSITION)
    ]
    return [ref.split("|")[1] for ref in refs]


def test_without_commitments_the_ones_and_guests_take_the_questions() -> None:
    assert _asked(_input()) == ["dan", "eve"]
    assert comebacks(_input()) == {}


def test_the_meeting_it_comes_back_at_is_asked_about_first_and_the_cap_holds() -> None:
    # Cleo is only at the stand-up: it is where the commitment comes back.
    with_cleo = _input([_said(people=[CLEO])])
    assert comebacks(with_cleo) == {STAND_UP.key: 1}
    assert _asked(with_cleo) == ["stand-up", "dan"]  # then the earlier 1:1
    # Ben is at the stand-up and with the client: the first of them.
    assert comebacks(_input([_said(people=[BEN])])) == {STAND_UP.key: 1}
    # A large meeting keeps no people: it comes back there by its series only.
    series = _input([_said(series=ALL_HANDS.series_key)])
    assert comebacks(series) == {ALL_HANDS.key: 1}
    assert _asked(series) == ["all-hands", "dan"]
    for limit in (0, 1, 3):
        data = _input(
            [_said(series=ALL_HANDS.series_key)], prefs=Prefs(max_reflections_per_day=limit)
        )
        assert _asked(data) == ["all-hands", "dan", "eve"][:limit]


def test_its_reminder_which_quotes_it_ranks_first_too() -> None:
    data = _input([_said(people=[CLEO])], prefs=Prefs(max_reminders_per_day=1))
    assert [w.ref for w in plan(data) if w.kind == REMINDER] == [STAND_UP.key]


def test_no_comeback_past_30_days_nor_at_the_meeting_it_was_said_about() -> None:
    old = _said(people=[CLEO], accepted_at=local(MONDAY, "09:00") - timedelta(days=31))
    assert comebacks(_input([old])) == {}
    same = _said(people=[CLEO], occurrence_key=STAND_UP.key)
    assert comebacks(_input([same])) == {}
    assert _asked(_input([old, same])) == ["dan", "eve"]
    # The window is counted from its reminder (09:55, a lead of 5 minutes).
    edge = local(MONDAY, "09:55") - timedelta(days=30)
    assert comebacks(_input([_said(people=[CLEO], accepted_at=edge)])) == {STAND_UP.key: 1}
    early = _said(people=[CLEO], accepted_at=edge - timedelta(minutes=1))
    assert comebacks(_input([early])) == {}


def test_one_per_reminder_the_newest_first_the_other_at_the_next_match() -> None:
    older = _said(1, people=[BEN], accepted_at=LAST_WEEK)
    newer = _said(2, people=[BEN], accepted_at=LAST_WEEK + timedelta(days=1))
    data = _input([older, newer])
    assert comebacks(data) == {STAND_UP.key: 2, CLIENT.key: 1}
    assert _asked(data) == ["stand-up", "client"]  # both before the 1:1s; two a day


def test_only_where_its_reminder_is_still_to_go() -> None:
    with_ben = _said(people=[BEN])
    # 10:00: the stand-up starts, its reminder can no longer go out: the client's quotes it.
    later = _input([with_ben], now=local(MONDAY, "10:00"))
    assert comebacks(later) == {CLIENT.key: 1}
    assert _asked(later) == ["dan", "client"]
    # Paused until 10:30 (or outside the hours): the same.
    paused = _input([with_ben], paused_until=local(MONDAY, "10:30"))
    assert comebacks(paused) == {CLIENT.key: 1}
    # The stand-up's reminder went out already (before it was accepted): not there either.
    sent = Wanted(REMINDER, STAND_UP.key, local(MONDAY, "09:55"), None, STAND_UP.key)
    held = _input([with_ben], now=local(MONDAY, "09:56"), held=[sent])
    assert comebacks(held) == {CLIENT.key: 1}
    # A muted series is no meeting of the plan.
    muted = _input([with_ben], prefs=Prefs(muted_series=[STAND_UP.series_key]))
    assert comebacks(muted) == {CLIENT.key: 1}


def test_once_quoted_it_stays_with_that_meeting_until_its_question() -> None:
    quoted = _said(people=[BEN], quoted_for=STAND_UP.key)
    # 10:20, during the stand-up: its reminder is past, the question still to come.
    data = _input([quoted], now=local(MONDAY, "10:20"))
    assert comebacks(data) == {STAND_UP.key: 1}
    assert _asked(data) == ["stand-up", "dan"]
    # A commitment quoted for another meeting (its question not answered yet) comes back
    # nowhere else.
    elsewhere = _said(people=[BEN], quoted_for="ics:1|friday|")
    assert comebacks(_input([elsewhere])) == {}


def test_a_replan_is_the_same_plan_as_the_day_goes_on() -> None:
    said = _said(people=[CLEO])
    morning = plan(_input([said]))
    # 09:55 the reminder quoted it (quoted_for set); the plan of the rest is the same.
    quoted = _said(people=[CLEO], quoted_for=STAND_UP.key)
    sent = [w for w in morning if w.kind == REMINDER and w.ref == STAND_UP.key]
    noon = plan(_input([quoted], now=local(MONDAY, "09:56"), held=sent))
    assert [w for w in noon if w.kind == REFLECTION] == [w for w in morning if w.kind == REFLECTION]
