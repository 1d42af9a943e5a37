"""Structural tests of the pure Block Kit builders."""

from __future__ import annotations

import re

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.emulator.blocks import validate_message, validate_view
from bot.home import settings_summary
from bot.messages import Message
from bot.messages.blocks import (
    ACTION_TAP_PATTERN,
    ACTION_WHY_OPEN,
    BLOCK_FOCUS,
    BLOCK_WHY,
    FOCUS_SUGGEST,
    HomeState,
    WhyCard,
    build_connect_form,
    build_done,
    build_erase_form,
    build_forget_confirm,
    build_home_view,
    build_pause_form,
    build_reflection,
    build_reflection_form,
    build_reminder,
    build_settings_form,
    build_transition,
    build_welcome,
    build_why_form,
    replace_actions,
)
from bot.messages.mrkdwn import clip, clip_mrkdwn, escape, link_url, quote, unescape
from bot.messages.prompts import PRACTICE_ORDER, load_prompts
from bot.prefs import Prefs
from bot.sync.oauth import build_connection_notice


def test_home_view_for_a_new_user_asks_for_a_calendar_and_makes_the_privacy_promise() -> None:
    prompts = load_prompts()
    view = build_home_view(prompts, HomeState(zone="Europe/Berlin", connected=False))
    assert view["type"] == "home"
    texts = [str(b) for b in view["blocks"]]
    assert view["blocks"][0]["type"] == "header"
    assert any(prompts.text("home.not_connected") in t for t in texts)
    assert any(prompts.text("home.privacy") in t for t in texts)
    assert any(prompts.text("home.how") in t for t in texts)  # how to answer, always
    assert any("Europe/Berlin" in t for t in texts)
    assert len(view["blocks"]) <= 100


def test_home_view_once_connected_drops_the_call_to_connect() -> None:
    prompts = load_prompts()
    view = build_home_view(prompts, HomeState(zone=None, connected=True))
    assert not any(prompts.text("home.not_connected") in str(b) for b in view["blocks"])


def test_how_to_answer_and_who_reads_it_come_with_a_persons_first_questions_only() -> None:
    prompts = load_prompts()
    how, private = prompts.text("reflection.how"), prompts.text("form.private")
    nudge = {"delivery_id": 7, "series_key": "s", "time": "10:00", "join_url": None}
    words = {"previous": "A", "question": "Q?", "title": "B", "cue": "C.", "intention": "I."}
    for guide in (True, False):
        reflection = build_reflection(
            prompts, delivery_id=7, title="A", question="Q?", series_key="s", guide=guide
        )
        transition = build_transition(prompts, guide=guide, **nudge, **words)
        for message in (reflection, transition):
            shown = " ".join(_texts(message.blocks))
            assert (how in shown, private in shown) == (guide, guide)
            assert any(b.get("block_id") == "reflect" for b in message.blocks)  # still answerable
        assert (how in reflection.text) == guide


def test_messages_enforce_slack_limits() -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    with pytest.raises(ValueError, match="fallback"):
        Message(text="  ")
    with pytest.raises(ValueError, match="50"):
        Message(text="t", blocks=[section] * 51)
    too_long = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    with pytest.raises(ValueError, match="3000"):
        Message(text="t", blocks=[too_long])
    assert Message(text="t", blocks=[section]).plain() == Message(text="t")


# ---------------------------------------------------------------- every builder is valid

LONG = "R&D <review> " * 400  # 5,200 characters, with all three of Slack's control characters
# A why as long as Heedful keeps (500), over several lines, with Slack's control characters.
WHY_WORDS = ("For my team & <the new hires>:\n\n> someone who listens. " * 9)[:500]
SETTINGS = {
    "lead_minutes": 5,
    "reflection_delay_minutes": 2,
    "max_reflections_per_day": 2,
    "quiet_start": "08:00",
    "quiet_end": "19:00",
    "working_days": [0, 1, 2, 3, 4],
    "digest_weekday": 4,
    "digest_time": "16:00",
}


def _messages() -> dict[str, Message]:
    prompts = load_prompts()
    nudge = {"delivery_id": 7, "series_key": "src|" + "u" * 300, "time": "10:00"}
    meeting = {"cue": "Breathe out.", "intention": "Listen.", "join_url": "https://x.example/j"}
    return {
        "reminder": build_reminder(prompts, title="1:1 & <Ben>", **nudge, **meeting),
        "reminder, long title": build_reminder(prompts, title=LONG, **nudge, **meeting),
        "transition": build_transition(
            prompts, previous=LONG, question="Q?", title=LONG, **nudge, **meeting
        ),
        "reflection": build_reflection(
            prompts, delivery_id=7, title=LONG, question="Q?", series_key="s"
        ),
        "transition, later": build_transition(
            prompts, previous="A", question="Q?", title="B", guide=False, **nudge, **meeting
        ),
        "reflection, later": build_reflection(
            prompts, delivery_id=7, title="A", question="Q?", series_key="s", guide=False
        ),
        "done": build_done(LONG),
        "google connected": build_connection_notice(
            prompts, "google.connected", account="ana@example.com", upcoming=12
        ),
        "google broken": build_connection_notice(
            prompts,
            "google.broken",
            account=LONG,
            link="https://heedful.example.com/oauth/google/start?state=" + "s" * 43,
        ),
        "outlook connected": build_connection_notice(
            prompts, "microsoft.connected", account="", upcoming=1
        ),
        "outlook broken": build_connection_notice(
            prompts,
            "microsoft.broken",
            account=LONG,
            link="https://heedful.example.com/oauth/microsoft/start?state=" + "s" * 43,
        ),
        "welcome": build_welcome(prompts),
        "forget": build_forget_confirm(prompts),
    }


def _views() -> dict[str, dict]:
    prompts = load_prompts()
    full = HomeState(
        zone="Europe/Berlin",
        connected=True,
        paused_until="Monday 6 April",
        next_items=[("Mon 10:00", "reminder", LONG)] * 20,
        settings=settings_summary(prompts, Prefs()),
        calendars=[(n, LONG, "up to date") for n in range(20)],
        google_link="https://heedful.example.com/oauth/google/start?state=" + "s" * 43,
        muted=[(f"src|{n}", LONG) for n in range(20)] + [("src|untitled", "")],
        why=WhyCard(
            text=WHY_WORDS, practice="ask-feedback", since="Monday 2 March", suggested=True
        ),
    )
    unreadable = WhyCard(text=None, practice="feelings", since="Monday 2 March", suggested=False)
    return {
        "home, new": build_home_view(prompts, HomeState(zone=None, connected=False)),
        "home, full": build_home_view(prompts, full),
        "connect": build_connect_form(prompts),
        "settings": build_settings_form(prompts, SETTINGS),
        "settings, no days": build_settings_form(prompts, {**SETTINGS, "working_days": []}),
        "reflection form": build_reflection_form(prompts, delivery_id=7, question="Q?"),
        "reflection form, no question": build_reflection_form(prompts, delivery_id=7, question=""),
        "pause": build_pause_form(prompts, initial_date="2026-04-06"),
        "erase": build_erase_form(prompts),
        "home, why unreadable": build_home_view(
            prompts, HomeState(zone=None, connected=True, why=unreadable)
        ),
        "why form, new": build_why_form(prompts, text="", focus=None, suggestion=None),
        "why form, suggested": build_why_form(
            prompts, text=WHY_WORDS, focus=None, suggestion="body-language"
        ),
        "why form, picked": build_why_form(
            prompts, text=WHY_WORDS, focus="single-tasking", suggestion="observe-listen-ask"
        ),
    }


@pytest.mark.parametrize("name", list(_messages()))
def test_every_message_builder_passes_slack_sdk_models_and_slacks_limits(name: str) -> None:
    message = _messages()[name]
    assert validate_message(message.text, message.blocks) == []
    for block in message.blocks:  # slack_sdk.models keeps every field, unchanged
        assert Block.parse(block).to_dict() == block
    assert not any(BROKEN_ENTITY.search(text) for text in _texts(message.blocks))


@pytest.mark.parametrize("name", list(_views()))
def test_every_view_builder_passes_slack_sdk_models_and_slacks_limits(name: str) -> None:
    view = _views()[name]
    assert validate_view(view) == []
    assert View(**view).to_dict() == view
    assert not any(BROKEN_ENTITY.search(text) for text in _texts(view["blocks"]))


def test_a_nudge_after_it_was_acted_on_is_still_valid() -> None:
    sent = _messages()["transition"]
    for block_id in ("reflect", "nudge"):
        blocks = replace_actions(sent.blocks, block_id, LONG)
        assert validate_message(sent.text, blocks) == []


def test_the_three_presence_buttons_have_their_own_action_ids() -> None:
    for message in (_messages()["reflection"], _messages()["transition"]):
        (taps,) = [b for b in message.blocks if b.get("block_id") == "reflect"]
        ids = [e["action_id"] for e in taps["elements"]]
        assert ids == ["reflect_tap_5", "reflect_tap_3", "reflect_tap_1", "reflect_write"]
        assert all(ACTION_TAP_PATTERN.match(i) for i in ids[:3])
    assert ACTION_TAP_PATTERN.match("reflect_tap")  # messages sent before
    assert not ACTION_TAP_PATTERN.match("reflect_tap_9")
    assert not ACTION_TAP_PATTERN.match("reflect_write")


def _texts(blocks: list[dict]) -> list[str]:
    found = []
    for block in blocks:
        for part in (block.get("text"), *block.get("elements", [])):
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                found.append(part["text"])
    return found


# ---------------------------------------------------------------- mrkdwn: cut, escape, link

BROKEN_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


@pytest.mark.parametrize("limit", range(1990, 2010))
def test_a_cut_never_splits_an_entity_or_a_link(limit: int) -> None:
    text = escape("R&D <x> " * 300) + " <https://x.example/a?b=1&amp;c=2|Join the call> " * 20
    cut = clip_mrkdwn(text, limit)
    assert len(cut) <= limit and cut.endswith("…")
    assert not BROKEN_ENTITY.search(cut)
    assert cut.count("<") == cut.count(">")


def test_short_texts_are_not_cut() -> None:
    assert clip("Team stand-up", 24) == "Team stand-up"
    assert clip("A" * 30, 24) == "A" * 23 + "…"
    assert clip_mrkdwn("R&amp;D", 7) == "R&amp;D"


def test_the_persons_words_are_unescaped_once() -> None:
    assert unescape("R&amp;D &lt;3 &gt; you") == "R&D <3 > you"
    assert unescape("I wrote &amp;lt; on purpose") == "I wrote &lt; on purpose"
    assert escape(unescape("R&amp;D")) == "R&amp;D"


def _reminder_with_link(url: str | None) -> Message:
    """A reminder whose meeting has ``url`` as its conference link."""
    return build_reminder(
        load_prompts(),
        delivery_id=1,
        title="Sync",
        time="10:00",
        cue="c",
        intention="i",
        join_url=url,
        series_key="s",
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://x.example/a><!channel>",
        "https://x.example/a|Click me",
        "https://x.example/a b",
        "https://x.example/a\nb",
        "https://x.example/<a>",
        "javascript:alert(1)",
        "ftp://x.example/a",
        "https://",
        "https://x.example:port/",
        "https://[::1/",
        "x.example/a",
        "",
        None,
        "https://x.example/" + "a" * 1000,
    ],
)
def test_a_link_that_could_break_out_of_its_label_is_not_shown(url: str | None) -> None:
    assert link_url(url) is None
    message = _reminder_with_link(url)
    assert "<!" not in str(message.blocks) and "Join" not in str(message.blocks)
    assert validate_message(message.text, message.blocks) == []


def test_a_well_formed_conference_link_is_shown_with_its_ampersands_escaped() -> None:
    url = "https://meet.example/j/123?pwd=a1&lang=en"
    assert link_url(url) == url
    message = _reminder_with_link(url)
    (join,) = [t for t in _texts(message.blocks) if t.startswith("<https://")]
    label = load_prompts().text("reminder.join")
    assert join == f"<https://meet.example/j/123?pwd=a1&amp;lang=en|{label}>"


# ---------------------------------------------------------------- the why


def test_the_welcome_has_one_button_and_it_opens_the_why_form() -> None:
    welcome = build_welcome(load_prompts())
    assert welcome.text == load_prompts().text("welcome.text")
    actions = [b for b in welcome.blocks if b["type"] == "actions"]
    assert [[e["action_id"] for e in b["elements"]] for b in actions] == [[ACTION_WHY_OPEN]]


def _inputs(view: dict) -> dict[str, dict]:
    return {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}


def test_the_why_form_asks_for_the_words_and_one_of_the_nine_practices() -> None:
    prompts = load_prompts()
    new = _inputs(build_why_form(prompts, text="", focus=None, suggestion=None))
    assert list(new) == [BLOCK_WHY, BLOCK_FOCUS]
    words, select = new[BLOCK_WHY], new[BLOCK_FOCUS]
    assert words["type"] == "plain_text_input" and words["multiline"] is True
    assert "max_length" not in words and "initial_value" not in words  # Heedful checks length
    values = [o["value"] for o in select["options"]]
    assert values == [FOCUS_SUGGEST, *PRACTICE_ORDER] and len(values) <= 100
    assert all("description" in o for o in select["options"][1:])
    assert select["initial_option"] == select["options"][0]
    assert select["initial_option"]["text"]["text"] == prompts.text("why.suggest")

    suggested = _inputs(
        build_why_form(prompts, text="Patient.", focus=None, suggestion="slow-down")
    )
    assert suggested[BLOCK_WHY]["initial_value"] == "Patient."
    name = prompts.text("focus.name.slow-down")
    initial = suggested[BLOCK_FOCUS]["initial_option"]
    assert initial["value"] == FOCUS_SUGGEST
    assert initial["text"]["text"] == prompts.text("why.suggest_now", practice=name)

    picked = _inputs(build_why_form(prompts, text="x", focus="feelings", suggestion="slow-down"))
    assert picked[BLOCK_FOCUS]["initial_option"]["value"] == "feelings"
    odd = _inputs(build_why_form(prompts, text="x", focus="not-a-practice", suggestion="nope"))
    assert odd[BLOCK_FOCUS]["initial_option"]["text"]["text"] == prompts.text("why.suggest")


def test_the_home_tab_quotes_the_why_with_an_edit_button_or_invites_one() -> None:
    prompts = load_prompts()
    card = WhyCard(
        text="Calm & <kind>\nfor all",
        practice="be-present",
        since="Monday 2 March",
        suggested=False,
    )
    view = build_home_view(prompts, HomeState(zone=None, connected=True, why=card))
    (why,) = [
        b for b in view["blocks"] if b.get("accessory", {}).get("action_id") == ACTION_WHY_OPEN
    ]
    assert why["text"]["text"].endswith("\n> Calm &amp; &lt;kind&gt;\n> for all")
    assert why["accessory"]["text"]["text"] == prompts.text("button.why.edit")
    name = prompts.text("focus.name.be-present")
    assert prompts.text("home.focus", practice=name, since="Monday 2 March") in str(view)

    empty = build_home_view(prompts, HomeState(zone=None, connected=False))
    (invite,) = [
        b for b in empty["blocks"] if b.get("accessory", {}).get("action_id") == ACTION_WHY_OPEN
    ]
    assert prompts.text("home.why_none") in invite["text"]["text"]
    assert invite["accessory"]["text"]["text"] == prompts.text("button.why.write")


def test_a_quote_keeps_every_line_inside_it() -> None:
    assert quote("a\n\n> b <c>") == "> a\n>\n> &gt; b &lt;c&gt;"
    assert quote("") == ">"
