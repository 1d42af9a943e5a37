"""The person's why, through signed requests to the real app: the welcome's button opens the
form, a submission is stored (encrypted when a key is set) and shown on the Home tab, Edit
reopens it, bad input gets a field error, and the why is in the export and gone on erase."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from nudging import Driver, at
from waiting import wait_until

from bot.config import Settings
from bot.crypto import PREFIX
from bot.focus import WHY_MAX_CHARS
from bot.messages import blocks as kit
from bot.messages.mrkdwn import quote
from bot.messages.prompts import PRACTICE_ORDER, load_prompts
from bot.storage.models import LeaderWhy

PROMPTS = load_prompts()
WHY = LeaderWhy.__table__
MONDAY = "2026-03-02"
# Three words of slowing down (rush, patient, pauses) and none of any other practice.
WORDS = (
    "A leader who doesn't rush people: patient, who pauses and leaves room, for my team of five."
)


@pytest.fixture(name="encrypted")
def fixture_encrypted() -> bool:
    return True


@pytest.fixture(name="settings")
def fixture_settings(settings: Settings, encrypted: bool) -> Settings:
    """The nudge tests' settings (a key set), or without a key."""
    return settings if encrypted else replace(settings, encryption_keys=())


@pytest.fixture(name="ana")
def fixture_ana(driver: Driver) -> Driver:
    driver.clock.set(at(MONDAY, "08:00"))
    return driver


def _element(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    (block,) = [b for b in view["blocks"] if b.get("block_id") == block_id]
    assert block["type"] == "input"
    return block["element"]


def _values(form: dict[str, Any], text: str, focus: str = kit.FOCUS_SUGGEST) -> dict[str, Any]:
    """What Slack sends for the form: the text, and the option chosen as Slack shows it."""
    select = _element(form, kit.BLOCK_FOCUS)
    (option,) = [o for o in select["options"] if o["value"] == focus]
    return {
        kit.BLOCK_WHY: {kit.INPUT_WHY: {"type": "plain_text_input", "value": text}},
        kit.BLOCK_FOCUS: {
            kit.INPUT_FOCUS: {"type": "static_select", "selected_option": option},
        },
    }


def _stored(driver: Driver) -> list[Any]:
    with driver.services.engine.connect() as conn:
        return list(conn.execute(sa.select(WHY).where(WHY.c.user_id == driver.user)))


def _home(driver: Driver) -> dict[str, Any]:
    return driver.emulator.views[driver.user]


def _texts(view: dict[str, Any]) -> str:
    out = []
    for block in view["blocks"]:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [e.get("text", "") for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return "\n".join(out)


def _buttons(view: dict[str, Any]) -> list[str]:
    found = []
    for block in view["blocks"]:
        for element in [*block.get("elements", []), block.get("accessory") or {}]:
            if element.get("type") == "button":
                found.append(element["action_id"])
    return found


def _open_form(driver: Driver) -> dict[str, Any]:
    """Tap "Write my why" / "Edit" on the Home tab; returns the modal that opened."""
    before = len(driver.emulator.opened_views)
    driver.click(kit.ACTION_WHY_OPEN)
    opened = driver.emulator.opened_views
    assert len(opened) == before + 1
    return opened[-1]


def test_the_welcome_invites_with_one_button_that_opens_the_form(ana: Driver) -> None:
    ana.open_home()
    (welcome,) = [s for s in ana.sent if s.kind == "welcome"]
    assert PROMPTS.text("welcome.why") in welcome.section_texts()
    buttons = [e for b in welcome.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [kit.ACTION_WHY_OPEN]  # one button
    home = _home(ana)  # before anything is written, the Home tab invites too
    assert PROMPTS.text("home.why_none") in _texts(home)
    assert kit.ACTION_WHY_OPEN in _buttons(home)

    ana.click(kit.ACTION_WHY_OPEN, welcome)
    (form,) = ana.emulator.opened_views
    assert form["callback_id"] == kit.VIEW_WHY
    words = _element(form, kit.BLOCK_WHY)
    assert words["type"] == "plain_text_input" and words["multiline"] is True
    assert "initial_value" not in words
    select = _element(form, kit.BLOCK_FOCUS)
    assert select["type"] == "static_select"
    assert [o["value"] for o in select["options"]] == [kit.FOCUS_SUGGEST, *PRACTICE_ORDER]
    assert select["initial_option"]["value"] == kit.FOCUS_SUGGEST
    assert select["initial_option"]["text"]["text"] == PROMPTS.text("why.suggest")
    assert _stored(ana) == []  # opening it stores nothing


@pytest.mark.parametrize("encrypted", [True, False], ids=["key", "no-key"])
def test_a_submission_is_stored_encrypted_and_the_home_tab_shows_it(
    ana: Driver, encrypted: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert ana.services.cipher.enabled is encrypted
    ana.open_home()
    form = _open_form(ana)
    result = ana.submit(form, _values(form, f"  {WORDS}\n"))
    assert not result.body  # accepted: the modal closes

    (row,) = _stored(ana)
    if encrypted:  # ciphertext in the database, the words only through the key
        assert row.text.startswith(PREFIX) and "patient" not in row.text
    else:
        assert row.text == WORDS
    assert ana.services.cipher.decrypt(row.text) == WORDS  # trimmed, otherwise as written
    assert (row.focus_practice, row.focus_suggested) == ("slow-down", True)  # from the words
    assert row.focus_since == ana.clock.now()

    texts = _texts(_home(ana))  # republished at once
    assert quote(WORDS) in texts
    name = PROMPTS.text("focus.name.slow-down")
    assert PROMPTS.text("home.focus_suggested", practice=name, since="Monday 2 March") in texts
    assert PROMPTS.text("home.why_none") not in texts
    assert kit.ACTION_WHY_OPEN in _buttons(_home(ana))  # Edit
    # … and confirmed once in the DM, naming the focus.
    assert [r.text for r in ana.replies] == [PROMPTS.text("why.saved_suggested", practice=name)]
    # Heedful logged that it was saved, never the words. (Slack's client library logs
    # request bodies at DEBUG; `heedful run` keeps it above that, as the at-rest tests check.)
    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if r.name.startswith(("bot", "handlers", "slack_bolt"))
        and not r.name.startswith("bot.emulator")
    )
    assert "why saved for U1" in logged
    assert "patient" not in logged and "rush" not in logged


def test_edit_reopens_the_words_and_the_focus_restarts_only_when_the_practice_changes(
    ana: Driver,
) -> None:
    ana.open_home()
    form = _open_form(ana)
    ana.submit(form, _values(form, WORDS))
    first = ana.clock.now()

    ana.clock.advance(timedelta(days=1))
    form = _open_form(ana)  # Edit: filled with the words, the suggestion refreshed
    assert _element(form, kit.BLOCK_WHY)["initial_value"] == WORDS
    select = _element(form, kit.BLOCK_FOCUS)
    assert select["initial_option"]["value"] == kit.FOCUS_SUGGEST
    slow = PROMPTS.text("focus.name.slow-down")
    assert select["initial_option"]["text"]["text"] == PROMPTS.text(
        "why.suggest_now", practice=slow
    )
    # New words, the same suggestion: the focus keeps its start.
    ana.submit(form, _values(form, WORDS + " Unhurried, and patient with myself too."))
    (row,) = _stored(ana)
    assert (row.focus_practice, row.focus_since) == ("slow-down", first)

    ana.clock.advance(timedelta(days=1))
    form = _open_form(ana)
    ana.submit(form, _values(form, WORDS, focus="appreciation"))  # picked: a new start
    second = ana.clock.now()
    (row,) = _stored(ana)
    assert (row.focus_practice, row.focus_suggested, row.focus_since) == (
        "appreciation",
        False,
        second,
    )
    name = PROMPTS.text("focus.name.appreciation")
    home = _texts(_home(ana))
    assert PROMPTS.text("home.focus", practice=name, since="Wednesday 4 March") in home
    assert ana.replies[-1].text == PROMPTS.text("why.saved", practice=name)

    ana.clock.advance(timedelta(days=1))
    form = _open_form(ana)  # their own pick stays selected
    assert _element(form, kit.BLOCK_FOCUS)["initial_option"]["value"] == "appreciation"
    ana.submit(form, _values(form, "Shorter now.", focus="appreciation"))
    (row,) = _stored(ana)
    assert ana.services.cipher.decrypt(row.text) == "Shorter now."
    assert row.focus_since == second  # the same practice: the same start


def test_too_long_or_empty_words_get_an_error_on_the_field_and_nothing_is_stored(
    ana: Driver,
) -> None:
    ana.open_home()
    form = _open_form(ana)
    too_long = ("I want to listen before I speak. " * 20)[: WHY_MAX_CHARS + 1]
    refused = ana.submit(form, _values(form, too_long))
    error = PROMPTS.text("why.too_long", count=WHY_MAX_CHARS + 1, limit=WHY_MAX_CHARS)
    assert refused.json == {"response_action": "errors", "errors": {kit.BLOCK_WHY: error}}
    blank = ana.submit(form, _values(form, " \n\t "))
    assert blank.json["errors"] == {kit.BLOCK_WHY: PROMPTS.text("why.empty")}
    assert _stored(ana) == [] and ana.replies == []

    just_fits = too_long[:WHY_MAX_CHARS]
    assert len(just_fits.strip()) == WHY_MAX_CHARS
    assert not ana.submit(form, _values(form, just_fits)).body
    (row,) = _stored(ana)
    assert ana.services.cipher.decrypt(row.text) == just_fits


def test_the_export_holds_the_why_and_focus_and_erase_removes_them(ana: Driver) -> None:
    ana.open_home()
    form = _open_form(ana)
    ana.submit(form, _values(form, WORDS, focus="feelings"))

    ana.command("export")
    wait_until(lambda: ana.emulator.files, what="the export file")
    (raw,) = ana.emulator.files.values()
    exported = json.loads(raw)["why"]
    assert exported["text"] == WORDS  # theirs to read, in clear
    assert (exported["focus_practice"], exported["focus_suggested"]) == ("feelings", False)
    assert exported["focus_since"] == ana.clock.now().isoformat()

    ana.click(kit.ACTION_HOME_ERASE)
    erase = ana.emulator.opened_views[-1]
    assert erase["callback_id"] == kit.VIEW_ERASE
    ana.submit(erase, {})
    assert _stored(ana) == []
    assert PROMPTS.text("home.why_none") in _texts(_home(ana))  # an invitation again


def test_settings_and_help_mention_the_why_and_the_focus(ana: Driver) -> None:
    ana.open_home()
    ana.command("settings")
    assert "Focus" not in ana.emulator.responses[-1]["payload"]["text"]  # none yet
    form = _open_form(ana)
    ana.submit(form, _values(form, WORDS))
    ana.command("settings")
    name = PROMPTS.text("focus.name.slow-down")
    focus = PROMPTS.text("settings.focus", practice=name, since="Monday 2 March")
    assert ana.emulator.responses[-1]["payload"]["text"].endswith("\n" + focus)
    ana.command("help")
    assert "Your why" in ana.emulator.responses[-1]["payload"]["text"]
