"""Fewer, sharper questions: two a day by default, spent on the meetings that matter most
(1:1s, a first meeting with someone, people from outside, small groups, large last),
and a re-plan later in the day never moves or adds one (``bot.planner``, rule 5)."""

from __future__ import annotations

from datetime import timedelta

from factories import BERLIN, local, make_occurrence

from bot.planner import (
    EXTERNAL,
    FIRST_MEETING,
    LARGE,
    ONE_ON_ONE,
    SMALL_GROUP,
    PlanInput,
    Wanted,
    first_meetings,
    importance,
    plan,
)
from bot.prefs import Prefs
from bot.storage.models import DeliveryKind

REMINDER, REFLECTION, TRANSITION = (
    DeliveryKind.REMINDER,
    DeliveryKind.REFLECTION,
    DeliveryKind.TRANSITION,
)

MONDAY = "2026-03-02"
LONG_AGO = local("2026-01-05", "09:00")  # Heedful has read this calendar since January
TEAM = ("ana@example.com", "ben@example.com", "cleo@example.com")
KNOWN = frozenset({*TEAM, "kim@northwind.test"})  # met in the weeks before


def _input(meetings, *, now=None, prefs=None, **kw) -> PlanInput:
    kw.setdefault("history_since", LONG_AGO)
    kw.setdefault("known_people", KNOWN)
    return PlanInput(
        meetings=meetings,
        prefs=prefs or Prefs(),
        zone=BERLIN,
        now=now or local(MONDAY, "07:00"),
        **kw,
    )


def _asked(data: PlanInput) -> list[str]:
    """The meetings asked about, in time order (a transition asks about the one before)."""
    wanted = plan(data)
    refs = [
        w.payload["previous"] if w.kind == TRANSITION else w.ref
        for w in wanted
        if w.kind in (REFLECTION, TRANSITION)
    ]
    return [ref.split("|")[1] for ref in refs]


def _meeting(hhmm: str, uid: str, people=TEAM[:2], *, day: str = MONDAY, **kw):
    attendees = kw.pop("attendees", len(people) + 1)
    return make_occurrence(
        local(day, hhmm), 30, uid=uid, attendees=attendees, people=tuple(people), **kw
    )


# A Monday with something of every kind; at most two questions go out.
ALL_HANDS = _meeting("09:00", "all-hands", [f"p{i}@example.com" for i in range(30)])
STAND_UP = _meeting("10:00", "stand-up", TEAM)
CLIENT = _meeting("11:00", "client", ("kim@northwind.test", "ben@example.com"), external=True)
NEW_FACE = _meeting("13:00", "new-face", ("ana@example.com", "zoe@example.com"))
ONE_ON_ONE_BEN = _meeting("15:00", "ben", ("ben@example.com",))
DAY = [ALL_HANDS, STAND_UP, CLIENT, NEW_FACE, ONE_ON_ONE_BEN]


def test_the_default_is_two_questions_a_day() -> None:
    assert Prefs().max_reflections_per_day == 2
    assert len(_asked(_input(DAY))) == 2


def test_each_meeting_has_its_rank() -> None:
    firsts = first_meetings(_input(DAY))
    assert firsts == {NEW_FACE.key}
    ranks = {m.key.split("|")[1]: importance(m, first=m.key in firsts) for m in DAY}
    assert ranks == {
        "ben": ONE_ON_ONE,
        "new-face": FIRST_MEETING,
        "client": EXTERNAL,
        "stand-up": SMALL_GROUP,
        "all-hands": LARGE,
    }
    assert ONE_ON_ONE < FIRST_MEETING < EXTERNAL < SMALL_GROUP < LARGE
    # A 1:1 with someone from outside is a 1:1; a large meeting is large, whoever is in it.
    outside = _meeting("16:00", "x", ("kim@northwind.test",), external=True)
    assert importance(outside) == ONE_ON_ONE
    assert importance(ALL_HANDS, first=True) == LARGE


def test_questions_go_to_the_meetings_that_matter_most_in_that_order() -> None:
    def asked(limit: int, meetings=DAY) -> list[str]:
        return _asked(_input(meetings, prefs=Prefs(max_reflections_per_day=limit)))

    assert asked(2) == ["new-face", "ben"]
    assert asked(3) == ["client", "new-face", "ben"]
    assert asked(4) == ["stand-up", "client", "new-face", "ben"]
    assert asked(0) == []
    without_ben = [m for m in DAY if m is not ONE_ON_ONE_BEN]
    assert asked(1, without_ben) == ["new-face"]
    assert asked(1, [ALL_HANDS, STAND_UP]) == ["stand-up"]
    # Ties go to the earlier meeting.
    later = _meeting("17:00", "later", ("dan@example.com",))
    assert asked(1, [later, ONE_ON_ONE_BEN]) == ["ben"]


def test_reminders_keep_their_own_cap() -> None:
    prefs = Prefs(max_reminders_per_day=6, max_reflections_per_day=1)
    reminded = [w.ref for w in plan(_input(DAY, prefs=prefs)) if w.kind == REMINDER]
    assert len(reminded) == len(DAY)
    prefs = Prefs(max_reminders_per_day=1, max_reflections_per_day=2)
    wanted = plan(_input(DAY, prefs=prefs))
    assert [w.ref.split("|")[1] for w in wanted if w.kind == REMINDER] == ["ben"]
    assert len([w for w in wanted if w.kind == REFLECTION]) == 2


def test_someone_met_before_or_earlier_the_same_week_is_no_longer_new() -> None:
    # Zoe was met three weeks ago: the 13:00 meeting is an ordinary small one.
    known = _input(DAY, known_people=KNOWN | {"zoe@example.com"})
    assert first_meetings(known) == set()
    assert _asked(known) == ["client", "ben"]
    # Only the first meeting with her is a first meeting; the next day's is not.
    again = _meeting("13:00", "again", ("zoe@example.com", "ben@example.com"), day="2026-03-03")
    assert first_meetings(_input([*DAY, again])) == {NEW_FACE.key}
    # A large meeting meets nobody: Zoe at the all-hands does not make her known.
    crowd = _meeting("08:00", "crowd", ("zoe@example.com",), attendees=30)
    assert first_meetings(_input([crowd, *DAY])) == {NEW_FACE.key}
    # A declined meeting was not a meeting with her either.
    from bot.calendars.occurrence import Response

    declined = _meeting("08:00", "declined", ("zoe@example.com",), self_response=Response.DECLINED)
    assert first_meetings(_input([declined, *DAY])) == {NEW_FACE.key}


def test_no_first_meetings_until_heedful_has_two_weeks_of_the_calendar() -> None:
    """Right after connecting, every face is one Heedful has not seen: it cannot tell a
    new colleague from an old one, so nobody counts as new."""
    assert first_meetings(_input(DAY, history_since=None)) == set()
    connected = local(MONDAY, "07:00") - timedelta(days=13)
    assert first_meetings(_input(DAY, history_since=connected)) == set()
    connected -= timedelta(days=1)
    assert first_meetings(_input(DAY, history_since=connected)) == {NEW_FACE.key}
    # Without it the day is ranked on size and guests alone.
    assert _asked(_input(DAY, history_since=None)) == ["client", "ben"]


def test_a_replan_later_in_the_day_keeps_what_went_out_and_never_sends_a_third() -> None:
    morning = _input(DAY)
    first = plan(morning)
    questions = [w for w in first if w.kind == REFLECTION]
    assert [w.ref for w in questions] == [NEW_FACE.key, ONE_ON_ONE_BEN.key]
    # 13:32 the question about the new face went out; 14:00 a 1:1 with Dan at 16:00 and
    # another at 17:00 are added. Ben's 1:1 (15:00) still has the second place; nothing
    # moves, and no third question is planned.
    dan = _meeting("16:00", "dan", ("dan@example.com",))
    eve = _meeting("17:00", "eve", ("eve@example.com",))
    later = _input([*DAY, dan, eve], now=local(MONDAY, "14:00"), held=[questions[0]])
    wanted = plan(later)
    asked = [w for w in wanted if w.kind == REFLECTION]
    assert [w.ref for w in asked] == [ONE_ON_ONE_BEN.key]
    assert asked[0] == questions[1]  # same time, same everything
    # Once Ben's went out too, the day is full: Dan and Eve get no question.
    full = _input([*DAY, dan, eve], now=local(MONDAY, "15:40"), held=questions)
    assert [w for w in plan(full) if w.kind == REFLECTION] == []
    # Even when what went out no longer stands (the meeting was deleted), its place is taken.
    gone = _input([ALL_HANDS, STAND_UP, dan, eve], now=local(MONDAY, "15:40"), held=questions)
    assert [w for w in plan(gone) if w.kind == REFLECTION] == []
    # A held question of another day takes no place today.
    yesterday = Wanted(
        REFLECTION, "ics:1|old|", local("2026-03-01", "11:00"), None, "ics:1|old|", {}
    )
    assert len([w for w in plan(_input(DAY, held=[yesterday])) if w.kind == REFLECTION]) == 2


def test_a_replan_is_the_same_plan() -> None:
    data = _input(DAY)
    assert plan(data) == plan(data) == plan(_input(list(reversed(DAY))))
    # Later the same day, what is still to come is unchanged.
    noon = [w for w in plan(_input(DAY, now=local(MONDAY, "12:00")))]
    assert noon == [w for w in plan(data) if w.due_at >= local(MONDAY, "12:00")]


def test_back_to_back_the_question_counts_against_the_cap() -> None:
    """A transition asks a question: it takes a question's place. When the meeting
    before loses its place, the next one gets a plain reminder."""
    first = _meeting("10:00", "first", TEAM)
    second = _meeting("10:32", "second", ("dan@example.com",))
    ben = _meeting("15:00", "ben", ("ben@example.com",))
    day = [first, second, ben]

    def kinds(limit: int) -> list[tuple[str, str]]:
        data = _input(day, prefs=Prefs(max_reflections_per_day=limit))
        return [(w.kind, w.ref.split("|")[1]) for w in plan(data)]

    assert (REMINDER, "second") in kinds(2) and (TRANSITION, "second") not in kinds(2)
    assert _asked(_input(day)) == ["second", "ben"]  # the small meeting lost its place
    # With room for the first meeting's question, it goes with the second's reminder.
    assert (TRANSITION, "second") in kinds(3) and (REMINDER, "second") not in kinds(3)
    assert _asked(_input(day, prefs=Prefs(max_reflections_per_day=3))) == [
        "first",
        "second",
        "ben",
    ]


def test_a_reminder_that_went_out_alone_is_not_sent_again_as_a_transition() -> None:
    first = _meeting("10:00", "first", ("dan@example.com",))
    second = _meeting("10:32", "second", TEAM)
    reminder = Wanted(
        REMINDER, second.key, local(MONDAY, "10:27"), None, second.key, {}
    )  # sent at 10:27 (a lead of 5 minutes, while the first meeting ran)
    data = _input(
        [first, second], now=local(MONDAY, "10:28"), held=[reminder], prefs=Prefs(lead_minutes=5)
    )
    wanted = plan(data)
    assert TRANSITION not in {w.kind for w in wanted}
    assert (REFLECTION, first.key) in {(w.kind, w.ref) for w in wanted}
    # And a transition that went out stays the one message about both.
    transition = Wanted(
        TRANSITION,
        second.key,
        local(MONDAY, "10:30"),
        None,
        second.key,
        {"previous": first.key},
    )
    data = _input([first, second], now=local(MONDAY, "10:31"), held=[transition])
    refs = {(w.kind, w.ref) for w in plan(data)}
    assert (REFLECTION, first.key) not in refs and (REMINDER, second.key) not in refs


def test_stored_values_above_the_range_read_as_four() -> None:
    assert Prefs.from_json({"max_reflections_per_day": 20}).max_reflections_per_day == 4
    assert Prefs.from_json({"max_reflections_per_day": 3}).max_reflections_per_day == 3
    assert Prefs.from_json({"max_reflections_per_day": -1}).max_reflections_per_day == 2
    assert Prefs.from_json({"max_reflections_per_day": "x"}).max_reflections_per_day == 2
    assert Prefs.from_json({}).max_reflections_per_day == 2
    try:
        Prefs().with_changes(max_reflections_per_day=5)
    except ValueError as exc:
        assert "max_reflections_per_day" in str(exc)
    else:
        raise AssertionError("5 questions a day was accepted")
