"""Structural tests of the feedback builders (``bot.messages.feedback``): each passes
slack_sdk.models and Slack's documented limits, escapes words Heedful did not write, and
puts its buttons where the listeners look for them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.emulator.blocks import validate_message, validate_view
from bot.feedback import ask_slots
from bot.messages import Message
from bot.messages import feedback as fkit
from bot.messages.blocks import HomeState, build_home_view, build_reflection
from bot.messages.prompts import load_prompts

LONG = "R&D <review> " * 400  # over every limit, with all three of Slack's control characters
ITEMS = [fkit.SeriesItem(f"src|{n}", LONG, 12, one_on_one=n % 2 == 0, on=n < 3) for n in range(20)]


# A stand-in digest: like the real one, it closes with its privacy line in a context block.
DIGEST = Message(
    text="Your week",
    blocks=[
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Your week*"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Only you can see this."}]},
    ],
)


def _messages() -> dict[str, Message]:
    prompts = load_prompts()
    reflection = build_reflection(prompts, delivery_id=7, title=LONG, question="Q?", series_key="s")
    asked = fkit.build_feedback_ask(prompts, delivery_id=7, title=LONG, leader_id="U123ABC")
    totals = fkit.TotalsView(4, 3, 0, own_presence=4.5)
    return {
        "question": asked,
        "question, odd leader id": fkit.build_feedback_ask(
            prompts, delivery_id=7, title="Sync", leader_id="<!channel>"
        ),
        "words offer": fkit.build_words_offer(prompts, reflection, delivery_id=7),
        "digest with totals": fkit.build_feedback_totals(prompts, DIGEST, totals),
        "digest with totals, no own rating": fkit.build_feedback_totals(
            prompts, Message(text="t"), fkit.TotalsView(5, 0, 0)
        ),
    }


def _views() -> dict[str, dict]:
    prompts = load_prompts()
    home = build_home_view(prompts, HomeState(zone="Europe/Berlin", connected=True))
    return {
        "home with series": fkit.with_home_section(home, fkit.build_feedback_home(prompts, ITEMS)),
        "home, none": fkit.with_home_section(home, fkit.build_feedback_home(prompts, [])),
        "words form": fkit.build_words_form(prompts),
    }


@pytest.mark.parametrize("name", list(_messages()))
def test_every_feedback_message_passes_slack_sdk_models_and_slacks_limits(name: str) -> None:
    message = _messages()[name]
    assert validate_message(message.text, message.blocks) == []
    for block in message.blocks:
        assert Block.parse(block).to_dict() == block


@pytest.mark.parametrize("name", list(_views()))
def test_every_feedback_view_passes_slack_sdk_models_and_slacks_limits(name: str) -> None:
    view = _views()[name]
    assert validate_view(view) == []
    assert View(**view).to_dict() == view


def test_the_question_names_who_asked_and_never_mentions_anything_else() -> None:
    message = _messages()["question"]
    text = str(message.blocks)
    assert "<@U123ABC>" in text and "<review>" not in text and "&lt;review&gt;" in text
    ids = [e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert ids == [*(fkit.answer_action(a) for a in fkit.ANSWERS), fkit.ACTION_NEVER]
    assert all(fkit.ACTION_ANSWER_PATTERN.fullmatch(i) for i in ids[:3])
    odd = str(_messages()["question, odd leader id"].blocks)
    assert "<!channel>" not in odd and load_prompts().text("feedback.ask.someone") in odd


def test_the_home_section_sits_before_the_data_row_with_at_most_eight_series() -> None:
    view = _views()["home with series"]
    blocks = view["blocks"]
    header = next(i for i, b in enumerate(blocks) if "Feedback from others" in str(b))
    data = next(i for i, b in enumerate(blocks) if b.get("block_id") == fkit.HOME_DATA_BLOCK)
    assert header < data and blocks[header - 1]["type"] == "divider"
    series = (fkit.ACTION_SERIES_ON, fkit.ACTION_SERIES_OFF)
    buttons = [b["accessory"] for b in blocks if b.get("accessory", {}).get("action_id") in series]
    assert len(buttons) == fkit.MAX_HOME_SERIES
    assert [b["action_id"] for b in buttons][:4] == [
        fkit.ACTION_SERIES_OFF,
        fkit.ACTION_SERIES_OFF,
        fkit.ACTION_SERIES_OFF,
        fkit.ACTION_SERIES_ON,
    ]
    assert "Feedback from others" in str(_views()["home, none"])


def test_the_words_go_after_the_taps_and_the_total_before_the_digests_last_line() -> None:
    offered = _messages()["words offer"]
    assert offered.blocks[-1]["block_id"] == fkit.BLOCK_OFFER
    assert offered.blocks[-2]["type"] == "actions"  # the presence taps come first
    digest = _messages()["digest with totals"]
    assert digest.blocks[-1]["type"] == "context"
    assert "4.5/5" in digest.blocks[-2]["text"]["text"]
    assert "7 times" in digest.text


def test_an_answered_question_keeps_never_ask_and_a_refused_one_drops_every_button() -> None:
    asked = _messages()["question"]
    message = {"text": asked.text, "blocks": asked.blocks}
    _, kept = fkit.build_feedback_done(message, "Thanks", keep_never=True)
    ids = [e["action_id"] for b in kept if b["type"] == "actions" for e in b["elements"]]
    assert ids == [fkit.ACTION_NEVER] and "Thanks" in str(kept)
    _, gone = fkit.build_feedback_done(message, "Done", keep_never=False)
    assert not [b for b in gone if b["type"] == "actions"] and "Done" in str(gone)
    assert validate_message("t", kept) == [] and validate_message("t", gone) == []


def test_ask_slots_are_working_days_inside_the_persons_hours_within_a_day() -> None:
    berlin, tokyo = ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Tokyo")
    end = datetime(2026, 3, 6, 17, 30, tzinfo=UTC)  # Friday 18:30 in Berlin
    closes = datetime(2026, 3, 8, 23, 0, tzinfo=UTC)  # the end of that Sunday, Berlin
    (only,) = ask_slots(end, berlin, closes, now=end)
    assert only[0].isoformat() == "2026-03-06"
    assert only[1].astimezone(berlin).strftime("%H:%M") == "18:35"
    assert only[2].astimezone(berlin).strftime("%H:%M") == "19:00"
    # Tokyo is already at Saturday 02:30: no working day within a day of the meeting.
    assert ask_slots(end, tokyo, closes, now=end) == []
    # Across a change to summer time (29 March in Berlin), hours stay local.
    sunday_night = datetime(2026, 3, 29, 20, 0, tzinfo=UTC)
    (monday,) = ask_slots(sunday_night, berlin, datetime(2026, 4, 6, tzinfo=UTC), now=sunday_night)
    assert monday[1].astimezone(berlin).strftime("%a %H:%M") == "Mon 08:00"
    assert monday[1] == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
