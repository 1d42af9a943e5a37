"""Pure Block Kit builders for feedback from others (data from ``bot.feedback``).

The leader's side: a section of the Home tab that turns feedback on or off per meeting
series, the button on a 1:1's reflection question and the form behind it (words to send
the other person themselves), and the week's total in the digest. The attendees' side:
one anonymous question with three answers and *never ask me again*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from bot.messages.blocks import (
    MAX_LABEL,
    _actions,
    _button,
    _modal,
    _plain,
    context,
    replace_actions,
    section,
    title_text,
)
from bot.messages.message import Message
from bot.messages.mrkdwn import escape
from bot.messages.prompts import Prompts

ACTION_SERIES_ON = "feedback_series_on"  # value: the series key
ACTION_SERIES_OFF = "feedback_series_off"
ACTION_WORDS = "feedback_words"  # value: the reflection delivery's id
ACTION_OPT_IN = "feedback_opt_in"  # on a reflection question; value: the series key
BLOCK_OPT_IN = "feedback_opt_in"
VIEW_WORDS = "feedback_words_form"
BLOCK_WORDS, INPUT_WORDS = "feedback_words", "feedback_words_value"
ACTION_ANSWER = "feedback_answer"  # + "_<answer>"; value: the question delivery's id
ANSWERS = ("heard", "somewhat", "not_heard")
ACTION_ANSWER_PATTERN = re.compile(rf"^{ACTION_ANSWER}_({'|'.join(ANSWERS)})$")
ACTION_NEVER = "feedback_never"  # value: the question delivery's id
BLOCK_ANSWER, BLOCK_NEVER, BLOCK_OFFER = "feedback_answer", "feedback_never", "feedback_offer"
HOME_DATA_BLOCK = "home_data"  # the Home tab's export/erase row (bot.messages.blocks)
MAX_HOME_SERIES = 8
WORDS_MAX_CHARS = 1000
_USER_ID = re.compile(r"[UW][A-Z0-9]{1,31}")


@dataclass(frozen=True)
class SeriesItem:
    """One meeting series on the Home tab: its key and title, how many people it has,
    whether it is a 1:1, and whether feedback is on."""

    series_key: str
    title: str
    people: int
    one_on_one: bool
    on: bool


@dataclass(frozen=True)
class TotalsView:
    """A week's total as the digest shows it (``bot.feedback.Totals``)."""

    heard: int
    somewhat: int
    not_heard: int
    own_presence: float | None = None

    @property
    def answers(self) -> int:
        return self.heard + self.somewhat + self.not_heard


def answer_action(answer: str) -> str:
    """The ``action_id`` of one answer button (unique within its block)."""
    return f"{ACTION_ANSWER}_{answer}"


def mention(prompts: Prompts, user_id: str) -> str:
    """A mention of a Slack user, only for a well-formed user id (else neutral words)."""
    if _USER_ID.fullmatch(user_id or ""):
        return f"<@{user_id}>"
    return escape(prompts.text("feedback.ask.someone"))


# ------------------------------------------------------------------------- Home tab


def build_feedback_home(prompts: Prompts, items: list[SeriesItem]) -> list[dict[str, Any]]:
    """The Home tab's "Feedback from others" section: one line per series (at most
    ``MAX_HOME_SERIES``), each with a button that turns asking on or off."""
    blocks: list[dict[str, Any]] = [
        {"type": "divider"},
        section(f"*{prompts.text('feedback.home.header')}*"),
        context(prompts.text("feedback.home.intro")),
    ]
    if not items:
        blocks.append(context(prompts.text("feedback.home.none")))
        return blocks
    for item in items[:MAX_HOME_SERIES]:
        kind = "one-on-one" if item.one_on_one else "group"
        how = prompts.text(
            f"feedback.home.how.{kind}{'_on' if item.on else ''}", people=item.people
        )
        button = (
            _button(prompts.text("button.feedback.off"), ACTION_SERIES_OFF, item.series_key)
            if item.on
            else _button(prompts.text("button.feedback.on"), ACTION_SERIES_ON, item.series_key)
        )
        text = prompts.text("feedback.home.item", title=title_text(item.title), how=how)
        blocks.append({**section(text), "accessory": button})
    return blocks


def with_home_section(view: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The Home view with ``blocks`` placed before its data-and-privacy part (the divider
    before the export/erase row), or at the end when it has none. Pure."""
    out = list(view.get("blocks") or [])
    at = next((i for i, b in enumerate(out) if b.get("block_id") == HOME_DATA_BLOCK), len(out))
    # The data row follows a divider and the privacy line: go in before that divider.
    for i in range(at - 1, max(at - 3, 0) - 1, -1):
        if out[i].get("type") == "divider":
            at = i
            break
    return {**view, "blocks": [*out[:at], *blocks, *out[at:]]}


# ------------------------------------------------------------------------- 1:1 words


def build_words_offer(prompts: Prompts, message: Message, *, delivery_id: int) -> Message:
    """A reflection question with one more button: words to ask the other person, after
    the presence taps (before a closing context line, for a message that ends with one)."""
    button = _button(prompts.text("button.feedback.words"), ACTION_WORDS, str(delivery_id))
    blocks = list(message.blocks)
    at = len(blocks) - 1 if blocks and blocks[-1].get("type") == "context" else len(blocks)
    blocks.insert(at, _actions(BLOCK_OFFER, button))
    return replace(message, blocks=blocks)


def build_opt_in_offer(prompts: Prompts, message: Message, *, series_key: str) -> Message:
    """A reflection question with one more button, after the presence taps (before a
    closing context line): ask for feedback after the series' next meetings."""
    button = _button(prompts.text("button.feedback.next_time"), ACTION_OPT_IN, series_key)
    blocks = list(message.blocks)
    at = len(blocks) - 1 if blocks and blocks[-1].get("type") == "context" else len(blocks)
    blocks.insert(at, _actions(BLOCK_OPT_IN, button))
    return replace(message, blocks=blocks)


def build_words_form(prompts: Prompts) -> dict[str, Any]:
    """The modal behind "Ask them how it was": the words, ready to edit and copy."""
    return _modal(
        prompts,
        callback_id=VIEW_WORDS,
        title="feedback.words.title",
        submit="feedback.words.done",
        blocks=[
            section(prompts.text("feedback.words.intro")),
            {
                "type": "input",
                "block_id": BLOCK_WORDS,
                "optional": True,
                "label": _plain(prompts.text("feedback.words.label"), MAX_LABEL),
                "element": {
                    "type": "plain_text_input",
                    "action_id": INPUT_WORDS,
                    "multiline": True,
                    "max_length": WORDS_MAX_CHARS,
                    "initial_value": prompts.text("feedback.words.text"),
                },
            },
        ],
    )


# ------------------------------------------------------------------ the anonymous question


def build_feedback_ask(
    prompts: Prompts, *, delivery_id: int, title: str, leader_id: str
) -> Message:
    """One anonymous one-tap question to a person who was in a leader's meeting."""
    shown = title_text(title)
    leader = mention(prompts, leader_id)
    answers = [
        _button(prompts.text(f"button.feedback.{answer}"), answer_action(answer), str(delivery_id))
        for answer in ANSWERS
    ]
    never = _button(prompts.text("button.feedback.never"), ACTION_NEVER, str(delivery_id))
    blocks = [
        section(
            f"{prompts.text('feedback.ask.question', title=shown)}\n"
            f"{prompts.text('feedback.ask.who', leader=leader)}"
        ),
        _actions(BLOCK_ANSWER, *answers),
        context(prompts.text("feedback.ask.anonymous", leader=leader)),
        _actions(BLOCK_NEVER, never),
    ]
    return Message(text=prompts.text("feedback.ask.fallback", title=shown), blocks=blocks)


def build_feedback_done(
    message: dict[str, Any], note: str, *, keep_never: bool
) -> tuple[str, list[dict[str, Any]]]:
    """The question once answered (or refused): its answer buttons become ``note``; the
    *never ask me again* button stays after an answer (``keep_never``). Returns the
    message's text and blocks for ``chat.update``."""
    blocks = replace_actions(list(message.get("blocks") or []), BLOCK_ANSWER, note)
    if not keep_never:
        blocks = [b for b in blocks if b.get("block_id") != BLOCK_NEVER]
        if not any(b.get("type") == "context" and note in str(b) for b in blocks):
            blocks.append(context(escape(note)))
    return str(message.get("text") or note), blocks


# ------------------------------------------------------------------------- the digest


def build_feedback_totals(prompts: Prompts, message: Message, totals: TotalsView) -> Message:
    """The digest with last week's total from others in a section of its own, before its
    closing privacy line, and in its fallback text."""
    lines = [
        prompts.text(
            "feedback.digest.totals",
            answers=totals.answers,
            heard=totals.heard,
            somewhat=totals.somewhat,
            not_heard=totals.not_heard,
        )
    ]
    if totals.own_presence is not None:
        presence = f"{totals.own_presence:.1f}".removesuffix(".0")
        lines.append(prompts.text("feedback.digest.own", presence=presence))
    block = section(f"*{prompts.text('feedback.digest.header')}*\n" + "\n".join(lines))
    blocks = list(message.blocks)
    at = len(blocks) - 1 if blocks and blocks[-1].get("type") == "context" else len(blocks)
    blocks.insert(at, block)
    return replace(message, text="\n".join([message.text, *lines]), blocks=blocks)
