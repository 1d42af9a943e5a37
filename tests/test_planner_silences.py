"""``planner.silences``: for every meeting Heedful says nothing about, the rule that
decided it, the same rules ``plan`` follows (the demo's "stays silent" lines)."""

from __future__ import annotations

from factories import BERLIN, local, make_occurrence

from bot.calendars.occurrence import Category, Response, Status
from bot.planner import DAILY_CAP, MUTED, OUTSIDE_HOURS, PAST, PAUSED, PlanInput, plan, silences
from bot.prefs import Prefs
from bot.storage.models import DeliveryKind

REMINDER, REFLECTION = DeliveryKind.REMINDER, DeliveryKind.REFLECTION

MONDAY = "2026-03-02"


def _input(meetings, *, now=None, prefs=None, **kw) -> PlanInput:
    return PlanInput(
        meetings=meetings,
        prefs=prefs or Prefs(),
        zone=BERLIN,
        now=now or local(MONDAY, "00:00"),
        **kw,
    )


def _uids(reasons: dict[str, str]) -> dict[str, str]:
    return {key.split("|")[1]: why for key, why in reasons.items()}


def test_an_ineligible_meeting_is_silent_for_its_own_reason() -> None:
    start = local(MONDAY, "10:00")
    meetings = [
        make_occurrence(start, status=Status.CANCELLED, uid="cancelled"),
        make_occurrence(start, self_response=Response.DECLINED, uid="declined"),
        make_occurrence(start, all_day=True, uid="all-day"),
        make_occurrence(start, attendees=1, uid="solo"),
        make_occurrence(start, transparent=True, uid="free"),
        make_occurrence(start, category=Category.FOCUS, uid="focus"),
        make_occurrence(start, category=Category.OUT_OF_OFFICE, uid="ooo"),
        make_occurrence(local(MONDAY, "14:00"), uid="fine"),
    ]
    assert _uids(silences(_input(meetings))) == {
        "cancelled": "cancelled",
        "declined": "declined",
        "all-day": "all-day",
        "solo": "solo",
        "free": "free",
        "focus": "focus",
        "ooo": "out-of-office",
    }


def test_quiet_hours_days_off_and_a_pause_silence_a_meeting_only_when_nothing_is_left() -> None:
    meetings = [
        make_occurrence(local(MONDAY, "02:00"), uid="night"),
        make_occurrence(local(MONDAY, "08:00"), uid="early"),  # its reflection still goes
        make_occurrence(local("2026-03-07", "11:00"), uid="saturday"),
        make_occurrence(local("2026-03-04", "11:00"), uid="while-paused"),
    ]
    data = _input(meetings, paused_until=local("2026-03-04", "12:00"))
    assert _uids(silences(data)) == {
        "night": PAUSED,  # a pause outranks the hour it would have been dropped for
        "early": PAUSED,
        "saturday": OUTSIDE_HOURS,
        "while-paused": PAUSED,
    }
    data = _input(meetings)
    assert _uids(silences(data)) == {"night": OUTSIDE_HOURS, "saturday": OUTSIDE_HOURS}
    spoken = {w.occurrence_key.split("|")[1] for w in plan(data)}
    assert spoken == {"early", "while-paused"}  # exactly the others


def test_a_muted_series_the_daily_cap_and_the_back_off_are_reasons_too() -> None:
    muted = make_occurrence(local(MONDAY, "09:00"), uid="muted")
    big = [  # seven large meetings: the cap keeps six reminders and four questions
        make_occurrence(local(MONDAY, f"{10 + i}:00"), 30, uid=f"big{i}", attendees=12)
        for i in range(7)
    ]
    prefs = Prefs(muted_series=(muted.series_key,))
    assert _uids(silences(_input([muted, *big], prefs=prefs))) == {
        "muted": MUTED,
        "big6": DAILY_CAP,
    }
    # After three unanswered questions only every other meeting gets one. With no
    # reminders either, t0 and t2 get nothing; the reminder's reason is the one given.
    tuesday = [
        make_occurrence(local("2026-03-03", f"{10 + 2 * i}:00"), uid=f"t{i}") for i in range(3)
    ]
    data = _input(
        tuesday,
        prefs=Prefs(max_reminders_per_day=0),
        now=local("2026-03-03", "07:00"),
        unanswered_streak=3,
        last_prompt_at=local(MONDAY, "17:00"),
    )
    assert _uids(silences(data)) == {"t0": DAILY_CAP, "t2": DAILY_CAP}
    assert [w.ref.split("|")[1] for w in plan(data)] == ["t1"]


def test_a_reminder_whose_time_has_gone_is_past() -> None:
    meeting = make_occurrence(local(MONDAY, "10:00"), 30, uid="soon")
    data = _input([meeting], now=local(MONDAY, "11:00"), prefs=Prefs(reflection_delay_minutes=0))
    # 11:00: the reminder is gone and the question (10:30) too: nothing left, and why.
    assert _uids(silences(data)) == {"soon": PAST}
    assert plan(data) == []


def test_back_to_back_meetings_are_both_spoken_for_by_the_transition() -> None:
    first = make_occurrence(local(MONDAY, "10:00"), 30, uid="first")
    second = make_occurrence(local(MONDAY, "10:32"), 30, uid="second")
    assert silences(_input([first, second])) == {}
    # With no reminders allowed, the question about the first meeting still goes, on its
    # own at its usual time: nothing is silent.
    data = _input([first, second], prefs=Prefs(max_reminders_per_day=0))
    assert silences(data) == {}
    assert [(w.kind, w.ref.split("|")[1]) for w in plan(data)] == [
        (REFLECTION, "first"),
        (REFLECTION, "second"),
    ]
    # With no questions allowed, the transition is a plain reminder for the second.
    data = _input([first, second], prefs=Prefs(max_reflections_per_day=0))
    assert silences(data) == {}
    assert [(w.kind, w.ref.split("|")[1]) for w in plan(data)] == [
        (REMINDER, "first"),
        (REMINDER, "second"),
    ]
