"""One meeting on two calendars: ``bot.copies`` says which occurrences are one meeting,
and the pure planner nudges each meeting once (rule 0)."""

from __future__ import annotations

from dataclasses import replace

from factories import BERLIN, local, make_occurrence

from bot.calendars.occurrence import Response, Status
from bot.copies import meetings, same_meeting
from bot.messages.prompts import load_prompts
from bot.planner import COPY, MUTED, PlanInput, Wanted, plan, silences
from bot.prefs import Prefs
from bot.storage.models import DeliveryKind

REMINDER, REFLECTION, TRANSITION = (
    DeliveryKind.REMINDER,
    DeliveryKind.REFLECTION,
    DeliveryKind.TRANSITION,
)

MONDAY = "2026-03-02"
TEN = local(MONDAY, "10:00")


def _input(meetings_, **kw) -> PlanInput:
    kw.setdefault("now", local(MONDAY, "07:00"))
    return PlanInput(meetings=meetings_, prefs=kw.pop("prefs", Prefs()), zone=BERLIN, **kw)


def feed(start=TEN, **kw):
    kw.setdefault("uid", "standup@example.com")
    kw.setdefault("ical_uid", kw["uid"])
    return make_occurrence(start, source="ics:1", **kw)


def google(start=TEN, **kw):
    kw.setdefault("uid", "g0a1b2c3")
    kw.setdefault("ical_uid", "standup@example.com")
    return make_occurrence(start, source="google:2", **kw)


def _kinds(wanted: list[Wanted]) -> list[tuple[str, str]]:
    return [(w.kind, w.ref.split("|")[0]) for w in wanted]


# --------------------------------------------------------------------------- the rule


def test_the_same_start_and_uid_or_title_on_two_calendars_is_one_meeting() -> None:
    assert same_meeting(feed(), google())  # same iCalendar UID
    # Microsoft: one UID per instance, so another calendar's UID differs; the title tells.
    assert same_meeting(
        feed(title="1:1 with Ben"), google(ical_uid="040000-ms", title="1:1 with Ben")
    )
    # Titles compare without case and runs of white space.
    assert same_meeting(feed(title="Weekly  Sync "), google(ical_uid=None, title="weekly sync"))


def test_a_different_start_different_words_or_one_calendar_keep_them_apart() -> None:
    later = local(MONDAY, "15:00")
    assert not same_meeting(feed(), google(later))  # same UID (a series), other instance
    assert not same_meeting(feed(title="Sync"), google(later, ical_uid="x", title="Sync"))
    assert not same_meeting(feed(title="Sync"), google(ical_uid="x", title="Planning"))
    assert not same_meeting(feed(title=""), google(ical_uid="x", title=""))  # no title
    assert not same_meeting(feed(ical_uid=None), google(ical_uid=None, title="Other"))
    # Within one calendar nothing is one meeting, whatever it says.
    assert not same_meeting(feed(uid="a"), feed(uid="b"))


def test_each_calendar_gives_a_meeting_one_copy_whatever_the_order() -> None:
    one, two = feed(uid="a", title="Sync"), feed(uid="b", title="Sync")
    other = google(ical_uid="b", title="Sync")  # the UID says which of the two it is
    for order in ([one, two, other], [other, two, one], [two, other, one]):
        found = sorted(sorted(o.uid for o in g) for g in meetings(order))
        assert found == [["a"], ["b", other.uid]]


# --------------------------------------------------------------------------- the plan


def test_a_meeting_on_two_calendars_gets_one_reminder_and_one_question() -> None:
    copies = [feed(), google()]
    wanted = plan(_input(copies))
    # The calendar read through its API speaks for the meeting (freshest), naming the other.
    assert _kinds(wanted) == [(REMINDER, "google:2"), (REFLECTION, "google:2")]
    assert all(w.payload == {"copies": [copies[0].key]} for w in wanted)
    assert silences(_input(copies)) == {}  # the feed's copy is spoken for


def test_the_copy_a_nudge_went_out_for_keeps_speaking_for_the_meeting() -> None:
    ics, gcal = feed(), google()
    sent = Wanted(REMINDER, ics.key, local(MONDAY, "09:55"), None, ics.key, {})
    wanted = plan(_input([ics, gcal], now=local(MONDAY, "09:58"), held=[sent]))
    assert _kinds(wanted) == [(REMINDER, "ics:1"), (REFLECTION, "ics:1")]


def test_a_copy_seen_as_solo_or_free_leaves_the_meeting_to_the_other() -> None:
    # A published feed often lists no attendees; the API copy knows them.
    for quiet in (feed(attendees=0), feed(transparent=True)):
        wanted = plan(_input([quiet, google()]))
        assert _kinds(wanted) == [(REMINDER, "google:2"), (REFLECTION, "google:2")]
    wanted = plan(_input([feed(), google(attendees=1)]))
    assert _kinds(wanted) == [(REMINDER, "ics:1"), (REFLECTION, "ics:1")]


def test_a_decline_or_cancellation_on_one_calendar_silences_every_copy() -> None:
    for change, why in (
        ({"self_response": Response.DECLINED}, "declined"),
        ({"status": Status.CANCELLED}, "cancelled"),
    ):
        for copies in ([feed(**change), google()], [feed(), google(**change)]):
            assert plan(_input(copies)) == []
            assert set(silences(_input(copies)).values()) == {why}


def test_a_muted_series_mutes_the_meeting_on_every_calendar() -> None:
    ics, gcal = feed(), google()
    data = _input([ics, gcal], prefs=Prefs(muted_series=(gcal.series_key,)))
    assert plan(data) == []
    assert silences(data) == {ics.key: MUTED, gcal.key: MUTED}


def test_a_same_title_at_another_time_or_other_words_at_the_same_time_are_two_meetings() -> None:
    later = google(local(MONDAY, "15:00"), ical_uid="other", title="1:1 with Ben")
    other = google(ical_uid="other", title="Budget review", uid="g2")
    prefs = Prefs(max_reflections_per_day=4)  # three meetings: the cap plays no part
    wanted = plan(_input([feed(title="1:1 with Ben"), later, other], prefs=prefs))
    assert sorted(_kinds(wanted)) == sorted(
        [(REMINDER, "ics:1"), (REFLECTION, "ics:1")]
        + [(REMINDER, "google:2")] * 2
        + [(REFLECTION, "google:2")] * 2
    )
    assert all(w.payload == {} for w in wanted)


def test_copies_take_one_place_under_the_daily_caps() -> None:
    a = [feed(local(MONDAY, f"{h}:00"), uid=f"m{h}", title=f"M{h}") for h in (10, 12)]
    b = [google(local(MONDAY, f"{h}:00"), uid=f"g{h}", ical_uid=f"m{h}") for h in (10, 12)]
    wanted = plan(_input([*a, *b], prefs=Prefs(max_reminders_per_day=2)))
    assert [(w.kind, w.ref.split("|")[1]) for w in wanted if w.kind == REMINDER] == [
        (REMINDER, "g10"),
        (REMINDER, "g12"),
    ]


def test_back_to_back_copies_fold_into_one_transition_that_names_both_meetings_copies() -> None:
    first = [feed(uid="first"), google(uid="gfirst", ical_uid="first")]
    after = local(MONDAY, "10:32")
    second = [feed(after, uid="second"), google(after, uid="gsecond", ical_uid="second")]
    wanted = plan(_input([*first, *second]))
    assert [w.kind for w in wanted] == [REMINDER, TRANSITION, REFLECTION]
    transition = wanted[1]
    assert transition.payload == {
        "previous": first[1].key,
        "copies": [second[0].key],
        "previous_copies": [first[0].key],
    }


# --------------------------------------------------------------------------- takeover


def test_when_the_copy_that_spoke_goes_the_other_takes_over_what_is_still_to_come() -> None:
    ics, gcal = feed(), google()
    # The reminder went out for the Google copy; then Google was disconnected.
    sent = Wanted(REMINDER, gcal.key, local(MONDAY, "09:55"), None, gcal.key, {"copies": [ics.key]})
    data = _input([ics], now=local(MONDAY, "09:56"), held=[sent])
    assert _kinds(plan(data)) == [(REFLECTION, "ics:1")]  # no second reminder
    # The question went out too: nothing more, and silences says why.
    asked = Wanted(
        REFLECTION, gcal.key, local(MONDAY, "10:32"), None, gcal.key, {"copies": [ics.key]}
    )
    data = replace(data, now=local(MONDAY, "10:40"), held=[sent, asked])
    assert plan(data) == []
    assert silences(data) == {ics.key: COPY}
    assert f"demo.why.{COPY}" in load_prompts()  # the demo's "stays silent" words for it


def test_a_transition_that_went_out_counts_for_both_meetings_it_spoke_of() -> None:
    first = [feed(uid="first"), google(uid="gfirst", ical_uid="first")]
    after = local(MONDAY, "10:32")
    second = [feed(after, uid="second"), google(after, uid="gsecond", ical_uid="second")]
    went = plan(_input([*first, *second]))[1]
    assert went.kind == TRANSITION
    # Google is disconnected after the transition went out: the feed's copies remain.
    data = _input([first[0], second[0]], now=local(MONDAY, "10:31"), held=[went])
    assert _kinds(plan(data)) == [(REFLECTION, "ics:1")]
    assert plan(data)[0].ref == second[0].key  # only the second meeting's question is left
