"""Planner rules the week found wanting, pinned down on the pure planner."""

from __future__ import annotations

from factories import local, make_occurrence

from bot.planner import PlanInput, plan
from bot.prefs import Prefs
from bot.storage.models import DeliveryKind

REMINDER, REFLECTION = DeliveryKind.REMINDER, DeliveryKind.REFLECTION

THURSDAY = "2026-03-05"


def _plan(meetings, **kw):
    from factories import BERLIN

    kw.setdefault("now", local(THURSDAY, "00:30"))
    prefs = kw.pop("prefs", Prefs())
    return plan(PlanInput(meetings=meetings, prefs=prefs, zone=BERLIN, **kw))


def test_nudges_ruled_out_by_quiet_hours_take_no_place_under_the_daily_cap() -> None:
    """A 02:00 call is small, so it outranks the 14:30 roadmap meeting for a reminder;
    but its reminder is never sent, so it must not cost the roadmap its own."""
    night = make_occurrence(local(THURSDAY, "02:00"), 20, attendees=3, uid="tokyo")
    day = [
        make_occurrence(local(THURSDAY, f"{h:02d}:00"), 20, attendees=2, uid=f"one-on-one-{h}")
        for h in (9, 11, 13, 15)
    ]
    hiring = make_occurrence(local(THURSDAY, "10:00"), 20, attendees=4, uid="hiring")
    roadmap = make_occurrence(local(THURSDAY, "14:30"), 20, attendees=5, uid="roadmap")
    large = make_occurrence(local(THURSDAY, "16:30"), 20, attendees=12, uid="quarterly")

    reminded = {
        w.ref.split("|")[1]
        for w in _plan([night, *day, hiring, roadmap, large])
        if w.kind == REMINDER
    }
    assert reminded == {"one-on-one-9", "one-on-one-11", "one-on-one-13", "one-on-one-15"} | {
        "hiring",
        "roadmap",
    }


def test_the_back_off_keeps_its_rhythm_whenever_the_plan_is_remade() -> None:
    """Three questions went unanswered, the last at 09:22: skip the next meeting, ask
    after the one after, and so on, whether the plan is made at 09:30 or at 12:00."""
    meetings = [
        make_occurrence(local(THURSDAY, f"{h:02d}:00"), 20, uid=f"m{h}")
        for h in (10, 11, 12, 13, 14)
    ]
    last = local(THURSDAY, "09:22")

    def asked(now: str) -> list[str]:
        wanted = _plan(
            meetings,
            now=local(THURSDAY, now),
            unanswered_streak=3,
            last_prompt_at=last,
            prefs=Prefs(max_reflections_per_day=4),  # five meetings: the cap plays no part
        )
        return [w.ref.split("|")[1] for w in wanted if w.kind == REFLECTION]

    assert asked("09:30") == ["m11", "m13"]
    # Later the same day (m10's question would have been skipped; m11's not yet due).
    assert asked("11:00") == ["m11", "m13"]
    assert asked("12:00") == ["m13"]
