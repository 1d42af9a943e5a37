"""App Home and ``/heedful``, through signed requests to the real app over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from factories import settings_values
from nudging import Driver, Event, FeedServer, at, colleagues

from bot.home import settings_summary
from bot.messages.prompts import load_prompts
from bot.prefs import Prefs

MONDAY = "2026-03-02"
PROMPTS = load_prompts()
MEETINGS = [
    Event(
        "standup",
        "Team stand-up",
        f"{MONDAY} 09:30",
        15,
        colleagues(4),
        rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    ),
    Event("ben", "1:1 Ana / Ben", f"{MONDAY} 11:00", 30, ["ben@example.com"]),
]


@pytest.fixture(name="ana")
def fixture_ana(driver: Driver) -> Driver:
    driver.clock.set(at(MONDAY, "08:00"))
    return driver


def _home(driver: Driver) -> dict[str, Any]:
    return driver.emulator.views["U1"]


def _texts(view: dict[str, Any]) -> list[str]:
    out = []
    for block in view["blocks"]:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [e.get("text", "") for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return out


def _actions(view: dict[str, Any]) -> dict[str, str]:
    """action_id → value of every button on a view."""
    found = {}
    for block in view["blocks"]:
        for element in [*block.get("elements", []), block.get("accessory") or {}]:
            if element.get("type") == "button":
                found[element["action_id"]] = element.get("value", "")
    return found


def _summary(prefs: Prefs) -> str:
    return PROMPTS.text("home.settings_summary", **settings_summary(PROMPTS, prefs))


def _ephemeral(driver: Driver) -> dict[str, Any]:
    """The latest answer posted to a command's response_url."""
    return driver.emulator.responses[-1]["payload"]


def test_app_home_shows_what_comes_next_and_welcomes_once(
    ana: Driver, feed_server: FeedServer
) -> None:
    ana.open_home()
    home = _home(ana)
    assert home["type"] == "home"
    texts = _texts(home)
    assert PROMPTS.text("home.not_connected") in texts
    assert PROMPTS.text("home.privacy") in texts
    assert [s.kind for s in ana.sent] == ["welcome"]
    welcome = ana.sent[0]
    assert welcome.text == PROMPTS.text("welcome.text") and "connect" in welcome.text

    ana.connect(feed_server, MEETINGS)
    ana.open_home()
    home = _home(ana)
    texts = "\n".join(_texts(home))
    # What Heedful will do next, at Ana's local times.
    for when, kind, title in [
        ("09:25", "reminder", "Team stand-up"),
        ("09:47", "reflection", "Team stand-up"),
        ("10:55", "reminder", "1:1 Ana / Ben"),
        ("11:32", "reflection", "1:1 Ana / Ben"),
    ]:
        what = PROMPTS.text(f"home.kind.{kind}")
        assert PROMPTS.text("home.next_item", when=when, what=what, title=title) in texts
    assert _summary(Prefs()) in texts  # the settings, summarised
    assert PROMPTS.text("home.calendar_item", name="Work", status="up to date") in texts
    assert PROMPTS.text("home.privacy") in texts
    assert PROMPTS.text("home.zone", zone="Europe/Berlin") in texts
    actions = _actions(home)
    for action_id in (
        "home_pause",
        "home_settings",
        "home_connect",
        "home_export",
        "home_erase",
        "home_remove_calendar",
    ):
        assert action_id in actions, action_id
    assert len(home["blocks"]) <= 100

    assert [s.kind for s in ana.sent] == ["welcome"]  # two visits, one welcome
    assert len(ana.emulator.calls_to("views.publish")) == 2


DEFAULT_HOURS = "08:00–19:00, Monday to Friday"
HELP = PROMPTS.text("command.help") + "\n" + PROMPTS.text("hours.help", hours=DEFAULT_HOURS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("help", HELP),
        ("", HELP),
        ("hours", PROMPTS.text("hours.now", hours=DEFAULT_HOURS, zone="UTC")),
        ("hours 9 to 5", PROMPTS.text("command.hours_order")),
        ("hours 08:00-19:00 funday", PROMPTS.text("command.hours_days")),
        ("hours from nine", PROMPTS.text("command.hours_usage")),
        ("pause", PROMPTS.text("done.paused", until="Tuesday 3 March")),
        ("pause for 3 days", PROMPTS.text("done.paused", until="Thursday 5 March")),
        ("pause until 2026-12-24", PROMPTS.text("done.paused", until="Thursday 24 December")),
        ("pause until 2020-01-01", PROMPTS.text("command.pause_past")),
        ("pause whenever", PROMPTS.text("command.pause_usage")),
        ("connect", PROMPTS.text("command.connect_usage")),
        (
            "bogus",
            PROMPTS.text("command.unknown", word="bogus") + "\n" + PROMPTS.text("command.help"),
        ),
    ],
)
def test_every_subcommand_answers_ephemerally(ana: Driver, text: str, expected: str) -> None:
    result = ana.command(text)
    answer = _ephemeral(ana)
    assert answer["text"] == expected
    assert answer["response_type"] == "ephemeral"
    assert result.body == ""  # acknowledged at once, answered through response_url


def test_pause_and_resume_commands_change_what_is_planned(
    ana: Driver, feed_server: FeedServer
) -> None:
    ana.open_home()
    ana.connect(feed_server, MEETINGS)
    planned = len(ana.deliveries(state="pending"))
    assert planned == 2 + 2 * 6  # the 1:1, and the stand-up on six working days ahead

    ana.command("pause until 2026-12-24")
    assert ana.user_row().paused_until == at("2026-12-24", "00:00")
    assert ana.deliveries(state="pending") == []

    ana.command("resume")
    assert _ephemeral(ana)["text"] == PROMPTS.text("done.resumed")
    assert ana.user_row().paused_until is None
    assert len(ana.deliveries(state="pending")) == planned

    ana.command("settings")
    assert _ephemeral(ana)["text"] == _summary(Prefs())


def test_connect_command_reads_the_feed_and_says_what_it_found(
    ana: Driver, feed_server: FeedServer
) -> None:
    ana.open_home()
    url = feed_server.publish(MEETINGS)
    result = ana.command(f"connect {url}")
    assert result.body == PROMPTS.text("connect.checking")  # the ack, at once
    answer = _ephemeral(ana)["text"]
    assert answer == PROMPTS.text("calendar.connected.many", name="127.0.0.1", count=6)
    assert ana.user_row().opted_in_at is not None
    assert ana.deliveries(state="pending")

    ana.command(f"connect {feed_server.base}/missing.ics")
    reason = "the server answered 404: the calendar was removed or the link is wrong"
    assert _ephemeral(ana)["text"] == PROMPTS.text("calendar.connect.unreachable", reason=reason)
    assert len(ana.emulator.responses) == 2


def test_digest_export_and_forget_answer(ana: Driver, feed_server: FeedServer) -> None:
    ana.open_home()
    ana.connect(feed_server, MEETINGS)
    ana.run_until(at(MONDAY, "09:50"))
    ana.says("Stand-up felt rushed.", thread_ts=ana.nudge("reflection", "Team stand-up").ts)

    ana.command("digest")
    assert _ephemeral(ana)["text"]
    assert _ephemeral(ana)["response_type"] == "ephemeral"

    ana.command("export")
    assert _ephemeral(ana)["text"] == PROMPTS.text("export.preparing")

    ana.command("forget")
    forget = _ephemeral(ana)
    assert forget["text"] == PROMPTS.text("forget.confirm")
    assert len(ana.reflections()) == 1  # asking is not erasing

    # The command uploaded one export; the Home tab's button uploads another.
    ana.open_home()
    ana.click("home_export")
    first, second = ana.emulator.files.values()
    assert "Stand-up felt rushed." in first.decode()
    assert "Stand-up felt rushed." in second.decode()


def test_export_uploads_the_users_data_and_forget_offers_a_confirm_button(
    ana: Driver, feed_server: FeedServer
) -> None:
    ana.open_home()
    ana.connect(feed_server, MEETINGS)
    ana.run_until(at(MONDAY, "09:50"))
    ana.says("Stand-up felt rushed.", thread_ts=ana.nudge("reflection", "Team stand-up").ts)

    ana.command("forget")
    assert "erase_confirm" in json.dumps(_ephemeral(ana).get("blocks") or [])

    ana.command("export")
    assert _ephemeral(ana)["text"] == PROMPTS.text("export.preparing")
    (content,) = ana.emulator.files.values()
    assert "Stand-up felt rushed." in content.decode()


def test_settings_from_the_home_tab(ana: Driver, feed_server: FeedServer) -> None:
    ana.open_home()
    ana.connect(feed_server, MEETINGS)
    ana.open_home()

    ana.click("home_settings")
    (form,) = ana.emulator.opened_views
    assert form["callback_id"] == "settings_form"

    # Quiet hours that end before they start, and no working day: refused, form stays.
    bad = ana.submit(form, settings_values(quiet_start="18:00", quiet_end="09:00"))
    assert bad.json["response_action"] == "errors" and "quiet_end" in bad.json["errors"]
    none = settings_values()
    none["working_days"]["value"]["selected_options"] = []
    refused = ana.submit(form, none)
    assert "working_days" in refused.json["errors"]
    assert Prefs.from_json(ana.user_row().prefs) == Prefs()

    # The form offers 0 to 4 questions a day, the current number chosen.
    (questions,) = [b for b in form["blocks"] if b.get("block_id") == "max_reflections_per_day"]
    options = [o["value"] for o in questions["element"]["options"]]
    assert options == ["0", "1", "2", "3", "4"]
    assert questions["element"]["initial_option"]["value"] == "2"
    good = ana.submit(
        form,
        settings_values(lead_minutes=10, reflection_delay_minutes=5, max_reflections_per_day=3),
    )
    assert not good.body
    prefs = Prefs.from_json(ana.user_row().prefs)
    assert (prefs.lead_minutes, prefs.reflection_delay_minutes) == (10, 5)
    assert prefs.max_reflections_per_day == 3
    texts = "\n".join(_texts(_home(ana)))  # republished
    assert _summary(prefs) in texts

    # The plan follows: the stand-up's reminder now comes ten minutes ahead.
    ana.run_until(at(MONDAY, "10:00"))
    assert [(s.kind, f"{s.at:%H:%M}") for s in ana.sent if s.kind != "welcome"] == [
        ("reminder", "08:20"),  # 09:20 Berlin
        ("reflection", "08:50"),  # 09:50 Berlin
    ]


def test_connect_and_remove_a_calendar_from_the_home_tab(
    ana: Driver, feed_server: FeedServer
) -> None:
    ana.open_home()
    ana.click("home_connect")
    (form,) = ana.emulator.opened_views
    url = feed_server.publish(MEETINGS)
    ana.submit(form, {"url": {"url_value": url}})

    found = PROMPTS.text("calendar.connected.many", name="127.0.0.1", count=6)
    assert found in [r.text for r in ana.replies]
    assert ana.deliveries(state="pending")
    home = _home(ana)
    source_id = _actions(home)["home_remove_calendar"]

    ana.click("home_remove_calendar", value=source_id)
    assert ana.deliveries(state="pending") == []
    assert "home_remove_calendar" not in _actions(_home(ana))
    ana.run_until(at(MONDAY, "18:00"))
    assert [s.kind for s in ana.sent] == ["welcome"]


def test_unmute_from_the_home_tab(ana: Driver, feed_server: FeedServer) -> None:
    ana.open_home()
    ana.connect(feed_server, MEETINGS)
    ana.run_until(at(MONDAY, "09:25"))
    reminder = ana.nudge("reminder", "Team stand-up")
    ana.click("nudge_mute", reminder)
    ana.open_home()
    home = _home(ana)
    assert "Team stand-up" in "\n".join(_texts(home))
    series = _actions(home)["home_unmute"]
    assert series == reminder.action_values("nudge_mute")[0]
    assert series == reminder.occurrence.rsplit("|", 1)[0]

    ana.click("home_unmute", value=series)
    assert "home_unmute" not in _actions(_home(ana))
    assert Prefs.from_json(ana.user_row().prefs).muted_series == ()
    ana.run_until(at("2026-03-03", "10:00"))
    standup = [s.kind for s in ana.sent if s.occurrence and "standup" in s.occurrence]
    # Unmuted within the hour: Monday's question comes after all, then Tuesday's pair.
    assert standup == ["reminder", "reflection", "reminder", "reflection"]


def test_pause_and_resume_from_the_home_tab(ana: Driver, feed_server: FeedServer) -> None:
    ana.open_home()
    ana.connect(feed_server, MEETINGS)
    ana.open_home()
    planned = len(ana.deliveries(state="pending"))
    ana.click("home_pause")
    (form,) = ana.emulator.opened_views
    assert form["callback_id"] == "pause_form"
    ana.submit(
        form, {"until": {"until_value": {"type": "datepicker", "selected_date": "2026-03-04"}}}
    )
    assert min(r.due_at for r in ana.deliveries(state="pending")) > at("2026-03-04", "00:00")

    ana.open_home()
    assert PROMPTS.text("home.paused", until="Wednesday 4 March") in _texts(_home(ana))
    ana.click("home_resume")
    assert ana.user_row().paused_until is None
    assert len(ana.deliveries(state="pending")) == planned
    assert "home_pause" in _actions(_home(ana))
