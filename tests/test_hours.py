"""Working hours and days (pure): reading ``/heedful hours``, saying the hours in words,
and the planner keeping to them in the user's zone, across a DST change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import BERLIN, local, make_occurrence

from bot.home import days_in_words, hours_in_words
from bot.messages.prompts import load_prompts
from bot.planner import PlanInput, plan
from bot.prefs import EVERY_DAY, HoursError, Prefs, WorkingHours, parse_days, parse_hours
from bot.storage.models import DeliveryKind

REMINDER, REFLECTION = DeliveryKind.REMINDER, DeliveryKind.REFLECTION

PROMPTS = load_prompts()
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("08:00-19:00 mon-fri", WorkingHours("08:00", "19:00", (MON, TUE, WED, THU, FRI))),
        ("8:00-19:00", WorkingHours("08:00", "19:00", None)),  # the days stay as they are
        ("9-17", WorkingHours("09:00", "17:00", None)),
        ("09:30 - 17:15 sun-thu", WorkingHours("09:30", "17:15", (MON, TUE, WED, THU, SUN))),
        ("10:00–18:00 fri-mon", WorkingHours("10:00", "18:00", (MON, FRI, SAT, SUN))),
        ("10:00 to 18:00 mon to wed", WorkingHours("10:00", "18:00", (MON, TUE, WED))),
        ("08:00-12:00 mon,tue,thu", WorkingHours("08:00", "12:00", (MON, TUE, THU))),
        ("08:00-12:00 Mon, Tue and Thu", WorkingHours("08:00", "12:00", (MON, TUE, THU))),
        ("08:00-12:00 mon-wed,fri", WorkingHours("08:00", "12:00", (MON, TUE, WED, FRI))),
        ("08:00-12:00 monday tuesdays thurs", WorkingHours("08:00", "12:00", (MON, TUE, THU))),
        ("08:00-12:00 sat", WorkingHours("08:00", "12:00", (SAT,))),
        ("08:00-12:00 wed-wed", WorkingHours("08:00", "12:00", (WED,))),
        ("08:00-12:00 weekends", WorkingHours("08:00", "12:00", (SAT, SUN))),
        ("08:00-12:00 weekdays", WorkingHours("08:00", "12:00", (MON, TUE, WED, THU, FRI))),
        ("00:00-24:00 every day", WorkingHours("00:00", "24:00", EVERY_DAY)),
        ("00:00-24:00 EVERY  DAY", WorkingHours("00:00", "24:00", EVERY_DAY)),
        ("18:00-00:00 daily", WorkingHours("18:00", "24:00", EVERY_DAY)),  # 00:00: midnight
        ("07:00-23:59", WorkingHours("07:00", "23:59", None)),
    ],
)
def test_hours_and_days_are_read(text: str, expected: WorkingHours) -> None:
    assert parse_hours(text) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "command.hours_usage"),
        ("from nine", "command.hours_usage"),
        ("08:00", "command.hours_usage"),
        ("25:00-26:00", "command.hours_usage"),
        ("08:60-09:00", "command.hours_usage"),
        ("08:00-24:30", "command.hours_usage"),
        ("24:00-24:00", "command.hours_usage"),  # a day cannot start at its end
        ("08:00-190", "command.hours_usage"),
        ("19:00-08:00", "command.hours_order"),  # overnight hours are not supported
        ("09:00-09:00", "command.hours_order"),
        ("9-5", "command.hours_order"),  # 24-hour times: 5 is five in the morning
        ("08:00-19:00 funday", "command.hours_days"),
        ("08:00-19:00 t", "command.hours_days"),  # Tuesday or Thursday?
        ("08:00-19:00 mon-", "command.hours_days"),
        ("08:00-19:00 s-f", "command.hours_days"),
    ],
)
def test_bad_input_names_what_was_wrong(text: str, error: str) -> None:
    with pytest.raises(HoursError) as caught:
        parse_hours(text)
    assert caught.value.prompt_id == error
    assert error in PROMPTS  # and the user gets words for it, with an example
    assert "`/heedful hours 08:00-19:00" in PROMPTS.text(error)


def test_a_range_wraps_over_the_weekend() -> None:
    assert parse_days("sun-thu") == (MON, TUE, WED, THU, SUN)
    assert parse_days("sat-mon") == (MON, SAT, SUN)
    assert parse_days("thu-tue") == (MON, TUE, THU, FRI, SAT, SUN)


@pytest.mark.parametrize(
    ("days", "words"),
    [
        (EVERY_DAY, "every day"),
        ((MON, TUE, WED, THU, FRI), "Monday to Friday"),
        ((MON, TUE, WED, THU, SUN), "Sunday to Thursday"),
        ((MON, FRI, SAT, SUN), "Friday to Monday"),
        ((SAT, SUN), "Saturday and Sunday"),
        ((MON, TUE, THU), "Monday, Tuesday and Thursday"),
        ((WED,), "Wednesday"),
        ((MON, SUN), "Monday and Sunday"),
    ],
)
def test_days_in_words(days: tuple[int, ...], words: str) -> None:
    assert days_in_words(PROMPTS, days) == words


def test_hours_in_words() -> None:
    assert hours_in_words(PROMPTS, Prefs()) == "08:00–19:00, Monday to Friday"
    sun_thu = Prefs(quiet_start="09:30", quiet_end="17:00", working_days=(0, 1, 2, 3, 6))
    assert hours_in_words(PROMPTS, sun_thu) == "09:30–17:00, Sunday to Thursday"
    late = Prefs(quiet_start="18:00", quiet_end="24:00", working_days=(5,))
    assert hours_in_words(PROMPTS, late) == "18:00–24:00, Saturday"
    whole_weekdays = Prefs(quiet_start="00:00", quiet_end="24:00")
    assert hours_in_words(PROMPTS, whole_weekdays) == "all day, Monday to Friday"
    off = Prefs().with_changes(**parse_hours("00:00-24:00 every day").changes())
    assert off.quiet_hours_off
    assert hours_in_words(PROMPTS, off) == PROMPTS.text("hours.off")


def test_working_at_is_local_and_the_end_is_excluded() -> None:
    prefs = Prefs(quiet_start="09:00", quiet_end="17:00", working_days=(0, 1, 2, 3, 6))
    assert not prefs.working_at(local("2026-03-02", "08:59"))  # Monday
    assert prefs.working_at(local("2026-03-02", "09:00"))
    assert prefs.working_at(local("2026-03-02", "16:59"))
    assert not prefs.working_at(local("2026-03-02", "17:00"))
    assert not prefs.working_at(local("2026-03-06", "10:00"))  # Friday
    assert prefs.working_at(local("2026-03-08", "10:00"))  # Sunday
    until_midnight = Prefs(quiet_start="00:00", quiet_end="24:00")
    assert until_midnight.working_at(local("2026-03-02", "23:59") + timedelta(seconds=59))
    assert until_midnight.working_at(local("2026-03-02", "00:00"))


def test_stored_hours_are_checked() -> None:
    # A timepicker's 00:00 as the end is midnight.
    assert Prefs().with_changes(quiet_start="20:00", quiet_end="00:00").quiet_end == "24:00"
    with pytest.raises(ValueError, match="end after it starts"):
        Prefs().with_changes(quiet_start="20:00", quiet_end="08:00")
    # Stored values that make no day at all fall back to the defaults, not to silence.
    broken = Prefs.from_json({"quiet_start": "19:00", "quiet_end": "08:00", "lead_minutes": 10})
    assert (broken.quiet_start, broken.quiet_end, broken.lead_minutes) == ("08:00", "19:00", 10)
    assert Prefs.from_json(Prefs(quiet_end="24:00").to_json()).quiet_end == "24:00"
    assert Prefs.from_json({"quiet_start": "24:00"}).quiet_start == "08:00"


def _times(wanted: list, day: str) -> list[tuple[str, str]]:
    return [
        (w.kind, w.due_at.astimezone(BERLIN).strftime("%a %H:%M"))
        for w in wanted
        if w.due_at.astimezone(BERLIN).strftime("%Y-%m-%d") == day
    ]


def test_the_planner_keeps_to_the_hours_on_both_sides_of_a_dst_change() -> None:
    """Berlin moves its clocks on Sunday 29 March 2026: 09:00 local stays 09:00 local."""
    prefs = Prefs().with_changes(**parse_hours("09:00-17:00 sun-thu").changes())
    days = ("2026-03-26", "2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30")  # Thu to Mon
    meetings = []
    for day in days:
        meetings += [
            # the reminder would come at 08:57, before the day starts: dropped
            make_occurrence(local(day, "09:02"), 15, uid=f"standup-{day}", attendees=5),
            # the question would come at 17:02, after it ends: dropped
            make_occurrence(local(day, "16:30"), 30, uid=f"late-{day}"),
        ]
    now = local("2026-03-26", "07:00")
    wanted = plan(PlanInput(meetings=meetings, prefs=prefs, zone=BERLIN, now=now))
    assert _times(wanted, "2026-03-27") == []  # Friday: a day off now
    assert _times(wanted, "2026-03-28") == []  # Saturday
    for day, name in (("2026-03-26", "Thu"), ("2026-03-29", "Sun"), ("2026-03-30", "Mon")):
        assert _times(wanted, day) == [
            (REFLECTION, f"{name} 09:19"),
            (REMINDER, f"{name} 16:25"),
        ]
    # In UTC the day moved by an hour: the hours are the user's own, not UTC's.
    thursday, sunday, _ = (w for w in wanted if w.kind == REFLECTION)
    assert (thursday.due_at.hour, sunday.due_at.hour) == (8, 7)  # CET, then CEST
    # With the default hours, Friday is a working day (and 08:57 is in it).
    default = plan(PlanInput(meetings=meetings, prefs=Prefs(), zone=BERLIN, now=now))
    assert _times(default, "2026-03-27") == [
        (REMINDER, "Fri 08:57"),
        (REFLECTION, "Fri 09:19"),
        (REMINDER, "Fri 16:25"),
        (REFLECTION, "Fri 17:02"),
    ]
