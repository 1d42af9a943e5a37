"""The pure planner: the right nudges at the right local times, and none at 3 am."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

from factories import BERLIN, local, make_occurrence

from bot import feedback
from bot.calendars.occurrence import Category, MeetingKind, Response, Status
from bot.planner import SMALL_GROUP, PlanInput, importance, plan
from bot.prefs import Prefs
from bot.storage.models import DeliveryKind

REMINDER, REFLECTION, TRANSITION = (
    DeliveryKind.REMINDER,
    DeliveryKind.REFLECTION,
    DeliveryKind.TRANSITION,
)

MONDAY = "2026-03-02"


def _plan(meetings, *, now=None, prefs=None, zone=BERLIN, **kw):
    return plan(
        PlanInput(
            meetings=meetings,
            prefs=prefs or Prefs(),
            zone=zone,
            now=now or local(MONDAY, "07:00", zone),
            **kw,
        )
    )


def _times(wanted, zone=BERLIN):
    return [(w.kind, w.due_at.astimezone(zone).strftime("%H:%M")) for w in wanted]


def test_a_meeting_gets_a_reminder_before_and_a_reflection_after() -> None:
    wanted = _plan([make_occurrence(local(MONDAY, "10:00"), 30)])
    assert _times(wanted) == [(REMINDER, "09:55"), (REFLECTION, "10:32")]
    reminder = wanted[0]
    assert reminder.expires_at == reminder.meeting_start == local(MONDAY, "10:00")
    assert reminder.ref == reminder.occurrence_key


def test_lead_and_delay_follow_the_users_preferences() -> None:
    prefs = Prefs(lead_minutes=15, reflection_delay_minutes=10)
    wanted = _plan([make_occurrence(local(MONDAY, "10:00"), 60)], prefs=prefs)
    assert _times(wanted) == [(REMINDER, "09:45"), (REFLECTION, "11:10")]


def test_ineligible_meetings_get_nothing() -> None:
    start = local(MONDAY, "10:00")
    meetings = [
        make_occurrence(start, status=Status.CANCELLED, uid="a"),
        make_occurrence(start, self_response=Response.DECLINED, uid="b"),
        make_occurrence(start, all_day=True, uid="c"),
        make_occurrence(start, attendees=1, uid="d"),
        make_occurrence(start, attendees=0, uid="e"),
        make_occurrence(start, transparent=True, uid="f"),
        make_occurrence(start, category=Category.FOCUS, uid="g"),
        make_occurrence(start, category=Category.OUT_OF_OFFICE, uid="h"),
    ]
    assert _plan(meetings) == []


def test_quiet_hours_and_weekends_drop_nudges() -> None:
    meetings = [
        make_occurrence(local(MONDAY, "02:00"), uid="night"),
        make_occurrence(local(MONDAY, "08:00"), uid="early"),  # reminder 07:55: dropped
        make_occurrence(local(MONDAY, "18:40"), uid="late"),  # reflection 19:12: dropped
        make_occurrence(local("2026-03-07", "11:00"), uid="saturday"),
    ]
    wanted = _plan(meetings, now=local(MONDAY, "00:00"))
    assert [(w.ref.split("|")[1], w.kind) for w in wanted] == [
        ("early", REFLECTION),
        ("late", REMINDER),
    ]


def test_back_to_back_meetings_get_one_combined_message() -> None:
    first = make_occurrence(local(MONDAY, "10:00"), 30, uid="first")
    second = make_occurrence(local(MONDAY, "10:32"), 30, uid="second")
    wanted = _plan([first, second])
    assert _times(wanted) == [(REMINDER, "09:55"), (TRANSITION, "10:30"), (REFLECTION, "11:04")]
    transition = wanted[1]
    assert transition.ref == second.key and transition.payload == {"previous": first.key}


def test_caps_keep_one_on_ones_and_small_meetings_first() -> None:
    prefs = Prefs(max_reminders_per_day=2, max_reflections_per_day=1)
    meetings = [
        make_occurrence(local(MONDAY, "09:00"), attendees=40, uid="all-hands"),
        make_occurrence(local(MONDAY, "11:00"), attendees=5, uid="team"),
        make_occurrence(local(MONDAY, "14:00"), attendees=2, uid="one-on-one"),
    ]
    wanted = _plan(meetings, prefs=prefs)
    kept = {(w.kind, w.ref.split("|")[1]) for w in wanted}
    assert kept == {(REMINDER, "team"), (REMINDER, "one-on-one"), (REFLECTION, "one-on-one")}


def test_the_cap_counts_the_whole_day_so_the_choice_does_not_drift() -> None:
    prefs = Prefs(max_reminders_per_day=1, max_reflections_per_day=1)
    meetings = [
        make_occurrence(local(MONDAY, "09:00"), uid="morning"),
        make_occurrence(local(MONDAY, "15:00"), uid="afternoon"),
    ]
    assert {w.ref.split("|")[1] for w in _plan(meetings, prefs=prefs)} == {"morning"}
    # Later that day the morning's nudges are in the past; the afternoon still gets none.
    assert _plan(meetings, prefs=prefs, now=local(MONDAY, "12:00")) == []


def test_three_unanswered_prompts_mean_every_other_meeting() -> None:
    meetings = [make_occurrence(local(MONDAY, f"{h:02d}:00"), uid=f"m{h}") for h in (9, 11, 13, 15)]
    four = Prefs(max_reflections_per_day=4)
    asked = [
        w.ref for w in _plan(meetings, unanswered_streak=3, prefs=four) if w.kind == REFLECTION
    ]
    assert [r.split("|")[1] for r in asked] == ["m11", "m15"]
    asked = [
        w.ref for w in _plan(meetings, unanswered_streak=2, prefs=four) if w.kind == REFLECTION
    ]
    assert len(asked) == 4
    # The back-off halves what the daily cap left: with the default two, one.
    asked = [w.ref for w in _plan(meetings, unanswered_streak=3) if w.kind == REFLECTION]
    assert [r.split("|")[1] for r in asked] == ["m11"]


def test_pause_and_mute() -> None:
    weekly = make_occurrence(local(MONDAY, "10:00"), uid="standup")
    other = make_occurrence(local(MONDAY, "14:00"), uid="other")
    assert (
        _plan([weekly, other], prefs=Prefs(muted_series=(weekly.series_key,)))[0].ref == other.key
    )
    paused = _plan([weekly, other], paused_until=local(MONDAY, "12:00"))
    assert {w.ref for w in paused} == {other.key}


def test_a_late_reminder_goes_now_if_the_meeting_is_still_a_way_off() -> None:
    meeting = make_occurrence(local(MONDAY, "10:00"))
    assert _times(_plan([meeting], now=local(MONDAY, "09:57")))[0] == (REMINDER, "09:55")
    kinds = [w.kind for w in _plan([meeting], now=local(MONDAY, "09:59:30"))]
    assert kinds == [REFLECTION]


def test_local_times_follow_the_zone_across_a_dst_change() -> None:
    # Europe/Berlin springs forward on 2026-03-29; a 10:00 meeting stays at 10:00 local.
    before = make_occurrence(local("2026-03-27", "10:00"), uid="fri")
    after = make_occurrence(local("2026-03-30", "10:00"), uid="mon")
    wanted = [
        w for w in _plan([before, after], now=local("2026-03-27", "07:00")) if w.kind == REMINDER
    ]
    assert [w.due_at.astimezone(ZoneInfo("UTC")).strftime("%H:%M") for w in wanted] == [
        "08:55",
        "07:55",
    ]
    assert _times(wanted) == [(REMINDER, "09:55"), (REMINDER, "09:55")]


def test_quiet_hours_are_the_users_own_zone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    meeting = make_occurrence(local(MONDAY, "10:00", tokyo))
    assert _plan([meeting], zone=tokyo, now=local(MONDAY, "07:00", tokyo))
    assert _plan([meeting], zone=BERLIN, now=local(MONDAY, "00:00", tokyo)) == []  # 02:00 Berlin


def test_plans_are_deterministic() -> None:
    meetings = [make_occurrence(local(MONDAY, f"{h:02d}:00"), uid=f"m{h}") for h in range(9, 18)]
    assert _plan(meetings) == _plan(list(reversed(meetings)))
    assert timedelta(0) < _plan(meetings)[1].due_at - _plan(meetings)[0].due_at


def test_a_meeting_whose_calendar_lists_no_attendees_is_not_solo_nor_a_one_on_one() -> None:
    """A feed that lists nobody (Outlook's published calendars): attendance is unknown, so
    the meeting is nudged, ranked and worded as a small group, never as a 1:1."""
    unknown = make_occurrence(local("2026-03-02", "10:00"), attendees=0, attendees_unknown=True)
    assert unknown.eligible and unknown.kind is MeetingKind.SMALL
    assert importance(unknown) == SMALL_GROUP
    assert not feedback.eligible(replace(unknown, recurring=True))
    external = replace(unknown, external=True)
    assert external.kind is MeetingKind.EXTERNAL
    assert {w.kind for w in _plan([unknown])} == {DeliveryKind.REMINDER, DeliveryKind.REFLECTION}
    solo = replace(unknown, attendees_unknown=False)
    assert not solo.eligible and not _plan([solo])
