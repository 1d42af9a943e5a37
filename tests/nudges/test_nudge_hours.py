"""Working hours and days are the user's: set by ``/heedful hours`` (a signed slash
command into the real app) or the settings form, shown in words, and kept by what is
sent, in the user's zone, across Berlin's DST change of Sunday 29 March 2026."""

from __future__ import annotations

from typing import Any

import pytest
from nudging import BERLIN, Driver, Event, FeedServer, at, colleagues

from bot.messages.prompts import load_prompts
from bot.prefs import Prefs

PROMPTS = load_prompts()
THURSDAY, SUNDAY, MONDAY, TUESDAY = "2026-03-26", "2026-03-29", "2026-03-30", "2026-03-31"
MEETINGS = [
    # Every day, weekends too: the reminder would come at 08:57.
    Event("standup", "Team stand-up", f"{THURSDAY} 09:02", 15, colleagues(4), rrule="FREQ=DAILY"),
    # Every day: its question would come at 17:02.
    Event("late", "Late 1:1", f"{THURSDAY} 16:30", 30, ["ben@example.com"], rrule="FREQ=DAILY"),
]
SUN_THU = "09:00–17:00, Sunday to Thursday"


@pytest.fixture(name="ana")
def fixture_ana(driver: Driver, feed_server: FeedServer) -> Driver:
    return driver.starts(at(THURSDAY, "07:00"), feed_server, MEETINGS)


def _answer(driver: Driver) -> str:
    return str(driver.emulator.responses[-1]["payload"]["text"])


def _local(rows: Any) -> set[tuple[str, str]]:
    """(kind, local "Thu 09:19") of (kind, UTC time) pairs."""
    return {(kind, due.astimezone(BERLIN).strftime("%a %H:%M")) for kind, due in rows}


def _pending_local(driver: Driver) -> set[tuple[str, str]]:
    return _local(
        [
            (r.kind, r.due_at)
            for r in driver.deliveries(state="pending")
            if r.kind in ("reminder", "reflection", "transition")
        ],
    )


def _texts(view: dict[str, Any]) -> str:
    out = []
    for block in view["blocks"]:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [e.get("text", "") for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return "\n".join(out)


def test_hours_set_by_command_replan_and_hold_across_dst(ana: Driver) -> None:
    # The default: 08:00–19:00, Monday to Friday. Friday is planned, Sunday is not.
    before = _pending_local(ana)
    assert ("reminder", "Fri 08:57") in before and ("reflection", "Fri 17:02") in before
    assert not any(when.startswith(("Sat", "Sun")) for _, when in before)

    result = ana.command("hours 09:00-17:00 sun-thu")
    assert result.body == ""  # acknowledged at once, answered through response_url
    assert _answer(ana) == (
        PROMPTS.text("hours.done", hours=SUN_THU, zone="Europe/Berlin")
        + "\n"  # her digest stays where she chose it, and she is told
        + PROMPTS.text("hours.digest_day_off", day="Friday", time="16:00")
    )
    prefs = Prefs.from_json(ana.user_row().prefs)
    assert (prefs.quiet_start, prefs.quiet_end, prefs.working_days) == (
        "09:00",
        "17:00",
        (0, 1, 2, 3, 6),
    )

    # Re-planned at once: nothing pending outside the new hours, Sunday now planned.
    after = _pending_local(ana)
    assert not any(when.startswith(("Fri", "Sat")) for _, when in after)
    assert {("reflection", "Sun 09:19"), ("reminder", "Sun 16:25")} <= after
    assert not any(when.endswith(("08:57", "17:02")) for _, when in after)
    withdrawn = ana.deliveries(state="skipped", error="unplanned")
    assert {("reminder", "Fri 08:57"), ("reflection", "Fri 17:02")} <= _local(
        [(r.kind, r.due_at) for r in withdrawn]
    )

    # Shown in words: help, settings and the Home tab.
    ana.command("help")
    assert PROMPTS.text("hours.help", hours=SUN_THU) in _answer(ana)
    ana.command("settings")
    assert f"working hours {SUN_THU}" in _answer(ana)
    ana.command("hours")
    assert _answer(ana) == PROMPTS.text("hours.now", hours=SUN_THU, zone="Europe/Berlin")
    ana.open_home()
    assert f"working hours {SUN_THU}" in _texts(ana.emulator.views["U1"])

    # A week across the DST change: only what falls within the hours is sent.
    ana.run_until(at(TUESDAY, "07:00"), on_sent=ana.answer)
    sent = _local([(s.kind, s.at) for s in ana.sent if s.kind != "welcome"])
    assert sent == {
        ("reflection", "Thu 09:19"),
        ("reminder", "Thu 16:25"),
        ("reflection", "Sun 09:19"),  # 07:19 UTC on Sunday, 08:19 UTC on Thursday
        ("reminder", "Sun 16:25"),
        ("reflection", "Mon 09:19"),
        ("reminder", "Mon 16:25"),
    }
    sunday = next(s for s in ana.sent if s.at.astimezone(BERLIN).day == 29)
    assert sunday.at == at(SUNDAY, "09:19") and sunday.at.hour == 7  # CEST: UTC+2

    # Quiet hours off: every hour of every day.
    ana.command("hours 00:00-24:00 every day")
    assert _answer(ana) == PROMPTS.text("hours.done_off")
    assert Prefs.from_json(ana.user_row().prefs).quiet_hours_off
    assert {("reminder", "Tue 08:57"), ("reflection", "Tue 17:02")} <= _pending_local(ana)
    assert {("reminder", "Sat 08:57"), ("reflection", "Sat 17:02")} <= _pending_local(ana)
    mark = len(ana.sent)
    ana.run_until(at(TUESDAY, "18:00"), on_sent=ana.answer)
    assert _local([(s.kind, s.at) for s in ana.sent[mark:]]) == {
        ("reminder", "Tue 08:57"),
        ("reflection", "Tue 09:19"),
        ("reminder", "Tue 16:25"),
        ("reflection", "Tue 17:02"),
    }


@pytest.mark.parametrize(
    "text",
    ["hours 19:00-08:00", "hours 08:00-19:00 someday", "hours at nine", "hours 8:00-25:00"],
)
def test_bad_hours_change_nothing(ana: Driver, text: str) -> None:
    planned = _pending_local(ana)
    ana.command(text)
    assert "`/heedful hours 08:00-19:00" in _answer(ana)  # the usage, with an example
    assert Prefs.from_json(ana.user_row().prefs) == Prefs()
    assert _pending_local(ana) == planned


def _form_values(start: str, end: str, days: list[int]) -> dict[str, Any]:
    prefs = Prefs().to_json()

    def option(value: Any) -> dict[str, Any]:
        return {"type": "static_select", "selected_option": {"value": str(value)}}

    def clock(value: str) -> dict[str, Any]:
        return {"type": "timepicker", "selected_time": value}

    return {
        "lead_minutes": {"value": option(prefs["lead_minutes"])},
        "reflection_delay_minutes": {"value": option(prefs["reflection_delay_minutes"])},
        "quiet_start": {"value": clock(start)},
        "quiet_end": {"value": clock(end)},
        "working_days": {
            "value": {"type": "checkboxes", "selected_options": [{"value": str(d)} for d in days]}
        },
        "digest_weekday": {"value": option(prefs["digest_weekday"])},
        "digest_time": {"value": clock(prefs["digest_time"])},
    }


def _form_end(form: dict[str, Any]) -> str:
    (block,) = [b for b in form["blocks"] if b.get("block_id") == "quiet_end"]
    assert block["hint"]["text"] == PROMPTS.text("settings.quiet_end_hint")
    return str(block["element"]["initial_time"])


def test_the_settings_form_sets_hours_and_days_and_midnight(ana: Driver) -> None:
    ana.open_home()
    ana.click("home_settings")
    (form,) = ana.emulator.opened_views
    assert _form_end(form) == "19:00"

    # 00:00 as the end of the day is midnight: the whole day, every day.
    refused = ana.submit(form, _form_values("18:00", "09:00", [0, 1, 2, 3, 4]))
    assert refused.json["errors"] == {"quiet_end": PROMPTS.text("settings.bad_hours")}
    ana.submit(form, _form_values("00:00", "00:00", list(range(7))))
    prefs = Prefs.from_json(ana.user_row().prefs)
    assert (prefs.quiet_start, prefs.quiet_end) == ("00:00", "24:00") and prefs.quiet_hours_off
    assert PROMPTS.text("hours.off") in _texts(ana.emulator.views["U1"])  # republished
    assert {("reminder", "Sat 08:57"), ("reminder", "Sun 08:57")} <= _pending_local(ana)

    ana.click("home_settings")  # the form shows midnight as a timepicker can: 00:00
    assert _form_end(ana.emulator.opened_views[-1]) == "00:00"
