"""Pure Block Kit builders for commitments (data from ``bot.commitments``).

The offer in the thread of an answer (their sentence quoted, one button), their sentence
in the reminder before the next meeting with the same people, the one-tap *Did you do
it?* in the reflection question after it, the Home tab's open commitments, and the count
of the kept ones in the weekly digest. Their words are escaped once here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from bot.messages.blocks import _actions, _button, context, section
from bot.messages.message import Message
from bot.messages.mrkdwn import clip, escape, quote
from bot.messages.prompts import Prompts

ACTION_KEEP = "commitment_keep"  # value: the reflection's id
ACTION_CHECK = "commitment_check"  # + "_<outcome>"; value: the commitment's id
OUTCOMES = ("yes", "partly", "not_yet")
ACTION_CHECK_PATTERN = re.compile(rf"^{ACTION_CHECK}_({'|'.join(OUTCOMES)})$")
ACTION_DONE = "commitment_done"  # the Home tab's buttons; value: the commitment's id
ACTION_DROP = "commitment_drop"
BLOCK_OFFER, BLOCK_CHECK, BLOCK_QUOTE = "commitment_offer", "commitment_check", "commitment_quote"
NUDGE_BLOCK = "nudge"  # a reminder's buttons (bot.messages.blocks)
REFLECT_BLOCK = "reflect"  # a question's presence taps (bot.messages.blocks)
CHECK_LINES = "commitment.check"  # the wordings of *Did you do it?* (commitment.check.*)
MAX_HOME_COMMITMENTS = 8
MAX_WORDS = 500  # characters of their sentence shown in one place (it is quoted, not kept)


def check_action(outcome: str) -> str:
    """The ``action_id`` of one *Did you do it?* button (unique within its block)."""
    return f"{ACTION_CHECK}_{outcome}"


def _words(text: str) -> str:
    """Their sentence, cut to ``MAX_WORDS`` and escaped once (inline: one line)."""
    return escape(" ".join(clip(text, MAX_WORDS).split()))


def build_commitment_offer(
    prompts: Prompts, *, lead: str, words: str, reflection_id: int
) -> Message:
    """The offer in the thread of an answer that states an intention: a lead line, their
    sentence quoted, one button."""
    button = _button(prompts.text("button.commitment.keep"), ACTION_KEEP, str(reflection_id))
    blocks = [
        section(f"{lead}\n{quote(clip(words, MAX_WORDS))}"),
        _actions(BLOCK_OFFER, button),
    ]
    text = prompts.text("commitment.offer_fallback", lead=lead, words=_words(words))
    return Message(text=text, blocks=blocks)


def build_commitment_quote(prompts: Prompts, message: Message, *, words: str) -> Message:
    """A reminder with their sentence before its buttons ("Last time you said: …")."""
    line = prompts.text("commitment.quote", words=_words(words))
    block = {**section(f":leftwards_arrow_with_hook: {line}"), "block_id": BLOCK_QUOTE}
    blocks = list(message.blocks)
    at = next(
        (i for i, b in enumerate(blocks) if b.get("block_id") == NUDGE_BLOCK),
        len(blocks),
    )
    blocks.insert(at, block)
    return replace(message, text=f"{message.text}\n{line}", blocks=blocks)


def build_commitment_check(
    prompts: Prompts,
    message: Message,
    *,
    commitment_id: int,
    words: str,
    question_id: str = f"{CHECK_LINES}.a",
) -> Message:
    """A reflection question with *Did you do it?* (yes / partly / not yet) about their
    sentence, after the presence taps, in the wording ``question_id`` (one of
    ``commitment.check.*``, rotated by the caller)."""
    line = prompts.text(question_id, words=_words(words))
    buttons = [
        _button(
            prompts.text(f"button.commitment.{outcome}"),
            check_action(outcome),
            str(commitment_id),
        )
        for outcome in OUTCOMES
    ]
    blocks = list(message.blocks)
    at = next(
        (i + 1 for i, b in enumerate(blocks) if b.get("block_id") == REFLECT_BLOCK),
        len(blocks),
    )
    blocks[at:at] = [section(line), _actions(BLOCK_CHECK, *buttons)]
    return replace(message, text=f"{message.text}\n{line}", blocks=blocks)


@dataclass(frozen=True)
class HomeCommitment:
    """One open commitment on the Home tab: its id, their words, when it was made (words)."""

    commitment_id: int
    words: str
    when: str


def build_commitments_home(prompts: Prompts, items: list[HomeCommitment]) -> list[dict[str, Any]]:
    """The Home tab's open commitments (at most ``MAX_HOME_COMMITMENTS``), each with
    *Did it* and *Drop*; nothing when there are none."""
    if not items:
        return []
    blocks: list[dict[str, Any]] = [
        {"type": "divider"},
        section(f"*{prompts.text('commitment.home.header')}*"),
        context(prompts.text("commitment.home.intro")),
    ]
    for item in items[:MAX_HOME_COMMITMENTS]:
        value = str(item.commitment_id)
        blocks += [
            section(
                prompts.text(
                    "commitment.home.item", words=quote(clip(item.words, MAX_WORDS)), when=item.when
                )
            ),
            _actions(
                f"commitment_{value}",
                _button(prompts.text("button.commitment.done"), ACTION_DONE, value),
                _button(prompts.text("button.commitment.drop"), ACTION_DROP, value),
            ),
        ]
    return blocks


def build_commitments_digest(prompts: Prompts, message: Message, *, kept: int) -> Message:
    """The digest with the week's kept commitments: a line before its closing privacy
    line and in its fallback when any were kept; the count in its metadata always."""
    metadata = {**message.metadata, "commitments_kept": kept}
    if kept <= 0:
        return replace(message, metadata=metadata)
    line = prompts.text(f"commitment.digest.kept.{'one' if kept == 1 else 'other'}", n=kept)
    blocks = list(message.blocks)
    at = len(blocks) - 1 if blocks and blocks[-1].get("type") == "context" else len(blocks)
    blocks.insert(at, section(line))
    return replace(message, text=f"{message.text}\n{line}", blocks=blocks, metadata=metadata)
