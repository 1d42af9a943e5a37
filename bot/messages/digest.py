"""Pure Block Kit builders for the weekly digest, and the data they build from
(:class:`Digest`, made by ``bot.digest.summarize``; it lives here so that the builders
import nothing from the use case above them).

A digest for a person with a why opens with it (their words quoted, one sentence relating
the week to their focus) and, after three weeks on one focus, ends with the offer to keep
it or move on (``ACTION_FOCUS_KEEP``, ``ACTION_FOCUS_NEXT``, and the why form's own
button). Their words stay out of the fallback ``text``, which notifications show on a
locked screen."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from bot.messages.blocks import (
    ACTION_WHY_OPEN,
    _actions,
    _button,
    context,
    header,
    section,
    title_text,
)
from bot.messages.message import Message
from bot.messages.mrkdwn import escape, quote
from bot.messages.prompts import Prompts

BAR, PEN = "▮", "✎"
MAX_BAR = 12
ACTION_FOCUS_KEEP = "focus_keep"  # value: the focus practice kept
ACTION_FOCUS_NEXT = "focus_next"  # value: the practice to move on to
BLOCK_FOCUS_OFFER = "focus_offer"


@dataclass(frozen=True)
class Digest:
    """A week in numbers and words, ready for the builder. Pure data."""

    label: str
    so_far: bool
    meetings: int
    by_kind: dict[str, int]
    reminders: int
    asked: int
    answered: int
    presence_by_day: list[tuple[int, float]]  # weekday (0 = Monday), mean 1–5
    practices: list[str]
    quotes: list[tuple[str, str, int]]  # text, meeting title, weekday
    pattern: tuple[str, dict[str, Any]] | None  # prompt id and its values
    experiment: str | None  # prompt id
    chart: list[tuple[int, int, int]]  # weekday, meetings, reflections
    themes: tuple[str, ...] = ()  # practices their words and taps show, most answers first
    experiment_practice: str | None = None  # the practice the experiment serves
    focus_practice: str | None = None  # the person's focus practice, when they chose one
    why: str | None = None  # their why, clipped to WHY_QUOTE_CHARS (raw: the builder escapes)
    relate: tuple[str, dict[str, Any]] | None = None  # the week against it: prompt id, values
    offer: str | None = None  # after three weeks on the focus: the practice to move on to

    def metadata(self) -> dict[str, Any]:
        """What the digest DM's metadata ``event_payload`` carries besides the delivery's
        own fields (DESIGN.md "Messages"), so the choice can be checked."""
        return {
            "themes": list(self.themes),
            "experiment_practice": self.experiment_practice,
            "focus_practice": self.focus_practice,
            "why_quoted": self.why is not None,
            "focus_offer": self.offer is not None,
        }


@functools.lru_cache(maxsize=512)
def _fixed(prompts: Prompts, prompt_id: str) -> str:
    """A prompt without placeholders (a day's name, a header), read once per library."""
    return prompts.text(prompt_id)


def _day(prompts: Prompts, weekday: int) -> str:
    return _fixed(prompts, f"day.{weekday}")


def _count(prompts: Prompts, noun: str, n: int) -> str:
    """ "1 meeting", "3 meetings" """
    return prompts.text(f"digest.count.{noun}.{'one' if n == 1 else 'other'}", n=n)


def _kinds(prompts: Prompts, digest: Digest) -> str:
    return ", ".join(prompts.text(f"digest.kind.{kind}", n=n) for kind, n in digest.by_kind.items())


def _header(prompts: Prompts, digest: Digest) -> dict[str, Any]:
    key = "digest.so_far_header" if digest.so_far else "digest.header"
    return header(prompts.text(key, week=digest.label))


def _chart(prompts: Prompts, digest: Digest) -> str:
    lines = []
    for weekday, meetings, reflections in digest.chart:
        bar = BAR * min(meetings, MAX_BAR) + ("+" if meetings > MAX_BAR else "")
        lines.append(f"`{_day(prompts, weekday)[:3]}` {bar or '·'} {PEN * reflections}".rstrip())
    return "\n".join(lines)


def _pattern(prompts: Prompts, digest: Digest) -> str | None:
    if digest.pattern is None:
        return None
    key, values = digest.pattern
    words = dict(values)
    for name in ("empty", "kind", "other"):
        if name in words:
            words[name] = prompts.text(f"digest.kinds.{words[name]}")
    if "full" in words:  # "after every 1:1", one meeting, not "every 1:1s"
        words["full"] = prompts.text(f"digest.kind_one.{words['full']}")
    if "day" in words:
        words["day"] = _day(prompts, int(words["day"]))
    if "theme" in words:  # a practice their words show, named as the digest names themes
        words["theme"] = _fixed(prompts, f"digest.theme.{words['theme']}")
    if "answers" in words:
        words["answers"] = _count(prompts, "answer", int(words["answers"]))
    if "quote" in words:  # one of their sentences, escaped once here
        words["quote"] = escape(str(words["quote"]))
    return prompts.text(key, **words)


def _why(prompts: Prompts, digest: Digest) -> list[dict[str, Any]]:
    """Their why, quoted, and the week against it (nothing without a why)."""
    if digest.relate is None:
        return []
    key, values = digest.relate
    words = dict(values)
    words["practice"] = _fixed(prompts, f"focus.name.{words['practice']}")
    for noun in ("answers", "meetings"):
        if noun in words:
            words[noun] = _count(prompts, noun.removesuffix("s"), int(words[noun]))
    lines = [f"*{_fixed(prompts, 'digest.why_header')}*"]
    if digest.why:
        lines.append(quote(digest.why))
    lines.append(prompts.text(key, **words))
    return [section("\n".join(lines))]


def _offer(prompts: Prompts, digest: Digest) -> list[dict[str, Any]]:
    """After three weeks on one focus: keep it, move on to the next, or choose another."""
    if digest.offer is None or digest.focus_practice is None:
        return []
    focus = _fixed(prompts, f"focus.name.{digest.focus_practice}")
    after = _fixed(prompts, f"focus.name.{digest.offer}")
    text = prompts.text("digest.focus.offer", practice=focus, next=after)
    return [
        section(f"*{prompts.text('digest.focus.header', practice=focus)}*\n{text}"),
        _actions(
            BLOCK_FOCUS_OFFER,
            _button(
                prompts.text("button.focus.keep"),
                ACTION_FOCUS_KEEP,
                digest.focus_practice,
                style="primary",
            ),
            _button(
                prompts.text("button.focus.next", practice=after), ACTION_FOCUS_NEXT, digest.offer
            ),
            _button(prompts.text("button.focus.choose"), ACTION_WHY_OPEN, "digest"),
        ),
    ]


def build_digest(prompts: Prompts, digest: Digest) -> Message:
    """The weekly (or so-far) digest: numbers, own words, a pattern, one experiment."""
    lines = [
        prompts.text(
            "digest.meetings",
            meetings=_count(prompts, "meeting", digest.meetings),
            kinds=_kinds(prompts, digest),
        ),
        prompts.text(
            "digest.nudges",
            reminders=_count(prompts, "reminder", digest.reminders),
            answered=digest.answered,
            asked=digest.asked,
        ),
    ]
    if digest.presence_by_day:
        trend = " → ".join(
            f"{_day(prompts, d)[:3]} {mean:.1f}".replace(".0", "")
            for d, mean in digest.presence_by_day
        )
        lines.append(prompts.text("digest.presence", trend=trend))
    if digest.practices:
        names = ", ".join(_fixed(prompts, f"practice.{p}") for p in digest.practices)
        lines.append(prompts.text("digest.practices", practices=names))
    blocks: list[dict[str, Any]] = [
        _header(prompts, digest),
        *_why(prompts, digest),
        section("\n".join(lines)),
    ]
    if digest.quotes:
        quoted = "\n\n".join(
            prompts.text(
                "digest.quote", text=escape(text), title=title_text(title), day=_day(prompts, d)
            )
            if title  # an answer to last week's question has no meeting in this week
            else prompts.text("digest.quote_untitled", text=escape(text), day=_day(prompts, d))
            for text, title, d in digest.quotes
        )
        blocks += [section(f"*{_fixed(prompts, 'digest.quotes_header')}*\n{quoted}")]
    if digest.chart:
        blocks.append(
            section(f"*{_fixed(prompts, 'digest.chart_header')}*\n{_chart(prompts, digest)}")
        )
    pattern = _pattern(prompts, digest)
    if pattern:
        blocks.append(section(f"*{_fixed(prompts, 'digest.pattern_header')}*\n{pattern}"))
    if digest.experiment:
        blocks.append(
            section(
                f"*{_fixed(prompts, 'digest.experiment_header')}*\n"
                f":seedling: {prompts[digest.experiment].render()}"
            )
        )
    blocks += [*_offer(prompts, digest), context(_fixed(prompts, "digest.private"))]
    text = "\n".join(
        [
            prompts.text(
                "digest.so_far_header" if digest.so_far else "digest.header", week=digest.label
            ),
            *lines,
        ]
    )
    return Message(text=text, blocks=blocks, metadata=digest.metadata())


def build_digest_note(prompts: Prompts, digest: Digest) -> Message:
    """A week of meetings and no answers: a short, kind note (and the week's picture)."""
    note = prompts.text("digest.no_answers", meetings=_count(prompts, "meeting", digest.meetings))
    blocks = [_header(prompts, digest), *_why(prompts, digest), section(note)]
    if digest.chart:
        blocks.append(
            section(f"*{_fixed(prompts, 'digest.chart_header')}*\n{_chart(prompts, digest)}")
        )
    blocks += [*_offer(prompts, digest), context(_fixed(prompts, "digest.private"))]
    return Message(text=note, blocks=blocks, metadata=digest.metadata())
