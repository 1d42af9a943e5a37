"""The leader's side: feedback turned on and off per series from the Home tab, and for a
1:1, words to ask the other person themselves (Heedful never writes to them)."""

from __future__ import annotations

import sqlalchemy as sa
from asking import (
    ANA,
    MEETING,
    TEAM,
    Play,
    ask_for_feedback,
    at,
    colleagues,
    leader,
    meeting,
    rows,
    store,
)
from sqlmodel import SQLModel
from waiting import wait_until

from bot.emulator import SlackEmulator
from bot.messages import feedback as fkit
from bot.messages.prompts import load_prompts
from bot.services import Services
from bot.storage.models import CalendarSource, FeedbackSeries

SERIES = FeedbackSeries.__table__
SOURCE = CalendarSource.__table__
MONDAY = "2026-03-02"


def _home(play: Play) -> list[dict]:
    return list(play.emulator.views[ANA]["blocks"])


def _series_buttons(blocks: list[dict]) -> dict[str, tuple[str, str]]:
    """Series key → (action id, the line's text) of the Home tab's feedback section."""
    found = {}
    for block in blocks:
        button = block.get("accessory") or {}
        if button.get("action_id") in (fkit.ACTION_SERIES_ON, fkit.ACTION_SERIES_OFF):
            found[button["value"]] = (button["action_id"], block["text"]["text"])
    return found


def test_the_home_tab_turns_feedback_on_and_off_for_a_series(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    people = [e for _, e in colleagues(emulator, 6)]
    leader(services, ANA)
    team = meeting(ANA, at(MONDAY, "11:00"), people)
    one_on_one = meeting(
        ANA, at(MONDAY, "14:00"), ["cleo@example.com"], series="cleo", title="1:1 with Cleo"
    )
    small = meeting(ANA, at(MONDAY, "15:00"), people[:3], series="small", title="Small group")
    store(services, ANA, [team, one_on_one, small])
    with services.engine.begin() as conn:  # her calendar feed, read a while ago
        conn.execute(
            sa.insert(SOURCE).values(
                team_id=TEAM,
                user_id=ANA,
                kind="ics",
                url="https://calendar.example.com/private/basic.ics",
                status="ok",
                expanded_until=at("2026-03-16", "10:00"),
                next_check_at=at("2026-03-02", "10:30"),
            )
        )

    emulator.open_home(play.url, ANA)
    play.heedful.process_inbox()
    buttons = wait_until(lambda: _series_buttons(_home(play)), what="the feedback section")
    # Recurring 1:1s and meetings of six or more, soonest first; not the small group.
    assert list(buttons) == [team.series_key, one_on_one.series_key]
    assert {action for action, _ in buttons.values()} == {fkit.ACTION_SERIES_ON}
    assert "1:1 with Cleo" in buttons[one_on_one.series_key][1]
    assert load_prompts().text("feedback.home.header") in str(_home(play))

    result = emulator.click_button(play.url, ANA, fkit.ACTION_SERIES_ON, value=team.series_key)
    assert result.status == 200
    on = wait_until(
        lambda: (
            (b := _series_buttons(_home(play)))[team.series_key][0] == fkit.ACTION_SERIES_OFF and b
        ),
        what="the series to show as asking",
    )
    assert on[one_on_one.series_key][0] == fkit.ACTION_SERIES_ON
    assert [r.series_key for r in rows(services, SERIES)] == [team.series_key]
    (source,) = rows(services, SOURCE)  # read again in full at the next poll
    assert source.expanded_until is None and source.next_check_at == play.clock.now()

    store(services, ANA, [team])  # that read: the meeting's invitees are kept to ask
    assert [r.state for r in rows(services, MEETING)] == ["waiting"]

    emulator.click_button(play.url, ANA, fkit.ACTION_SERIES_OFF, value=team.series_key)
    wait_until(
        lambda: _series_buttons(_home(play))[team.series_key][0] == fkit.ACTION_SERIES_ON,
        what="the series to show as not asking",
    )
    assert rows(services, SERIES) == [] and rows(services, MEETING) == []

    # A series that is not hers changes nothing.
    emulator.click_button(play.url, ANA, fkit.ACTION_SERIES_ON, value="ics:U2|someone-else")
    wait_until(lambda: emulator.calls_to("views.publish")[3:], what="the Home tab again")
    assert rows(services, SERIES) == []


def test_a_one_on_one_offers_words_to_send_and_heedful_never_writes_to_the_other_person(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    emulator.add_user("UCLEO", tz="Europe/Berlin", email="cleo@example.com", real_name="Cleo")
    leader(services, ANA)
    cleo = meeting(
        ANA, at(MONDAY, "11:00"), ["cleo@example.com"], series="cleo", title="1:1 with Cleo"
    )
    other = meeting(
        ANA, at(MONDAY, "14:00"), ["dan@example.com"], series="dan", title="1:1 with Dan"
    )
    ask_for_feedback(services, ANA, [cleo])
    store(services, ANA, [other])  # feedback not on

    play.run_until(at(MONDAY, "19:00"))

    asked, not_asked = play.dms(ANA, kind="reflection")
    assert "1:1 with Cleo" in asked.words() and "1:1 with Dan" in not_asked.words()
    assert fkit.ACTION_WORDS in asked.action_ids()
    assert fkit.ACTION_WORDS not in not_asked.action_ids()
    assert asked.blocks[-1]["block_id"] == fkit.BLOCK_OFFER  # after the presence taps

    result = emulator.click_button(play.url, ANA, fkit.ACTION_WORDS, message=asked.message)
    assert result.status == 200
    (form,) = wait_until(lambda: emulator.opened_views, what="the form with the words")
    assert form["callback_id"] == fkit.VIEW_WORDS
    (field,) = [b for b in form["blocks"] if b.get("block_id") == fkit.BLOCK_WORDS]
    words = load_prompts().text("feedback.words.text")
    assert field["element"]["initial_value"] == words
    assert words == "Did you feel heard today? What could I do better next time?"

    mine = "Did you feel heard today, Cleo? What should I do differently?"
    submitted = emulator.submit_view(
        play.url, ANA, form, {fkit.BLOCK_WORDS: {fkit.INPUT_WORDS: mine}}
    )
    assert submitted.status == 200 and submitted.body in ("", "{}")
    play.run_until(at("2026-03-03", "19:00"))

    assert emulator.bot_messages("UCLEO") == []  # never written to
    assert emulator.calls_to("users.lookupByEmail") == []  # a 1:1 asks no one anonymously
    with services.engine.connect() as conn:  # and the words are not kept anywhere
        for table in SQLModel.metadata.sorted_tables:
            assert mine not in str(conn.execute(sa.select(table)).all()), table.name
