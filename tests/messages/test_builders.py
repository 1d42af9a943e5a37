"""Every Block Kit builder in ``bot/messages``, held to Slack's limits.

``EXAMPLES`` names each ``build_*`` function of the ``bot.messages`` package with a few
calls that push it: titles and names far too long, holding all three of Slack's control
characters (``&``, ``<``, ``>``), as many items as a view shows, empty states. The
builders are found by name, so a new one without examples fails
:func:`test_every_builder_has_examples` until it is added here and checked like the rest.

Each example must keep Slack's documented limits (Block Kit reference): at most 50
blocks in a message and 100 in a view, a section's text at most 3,000 characters, every
``block_id`` unique, every ``action_id`` unique among the elements of its block, a plain
``text`` fallback for every message; and pass the emulator's checks
(``bot.emulator.blocks``) and ``slack_sdk.models`` unchanged.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

import bot.messages
from bot.digest import Digest
from bot.emulator.blocks import validate_message, validate_view
from bot.home import settings_summary
from bot.messages import Message
from bot.messages.blocks import (
    HomeState,
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
)
from bot.messages.commitments import (
    MAX_HOME_COMMITMENTS,
    HomeCommitment,
    build_commitment_check,
    build_commitment_offer,
    build_commitment_quote,
    build_commitments_digest,
    build_commitments_home,
)
from bot.messages.digest import build_digest, build_digest_note
from bot.messages.feedback import (
    MAX_HOME_SERIES,
    SeriesItem,
    TotalsView,
    build_feedback_ask,
    build_feedback_done,
    build_feedback_home,
    build_feedback_totals,
    build_opt_in_offer,
    build_words_form,
    build_words_offer,
)
from bot.messages.library import PRACTICE_ORDER
from bot.messages.prompts import load_prompts
from bot.prefs import Prefs

P = load_prompts()
LONG = "R&D <review> " * 400  # 5,200 characters, with all three control characters
SERIES = "ics:1|" + "u" * 300
NUDGE: dict[str, Any] = {"delivery_id": 7, "series_key": SERIES, "time": "10:00"}
MEETING: dict[str, Any] = {"cue": "Breathe out.", "intention": "Listen.", "join_url": None}
LINKED = {**MEETING, "join_url": "https://meet.example/j/1?pwd=a&lang=en"}
SETTINGS = Prefs().to_json()
FULL_HOME = HomeState(
    zone="Europe/Berlin",
    connected=True,
    paused_until="Monday 6 April",
    next_items=[("Mon 10:00", "Before", LONG)] * 20,
    settings=settings_summary(P, Prefs()),
    calendars=[(n, LONG, "up to date") for n in range(20)],
    muted=[(f"ics:1|{n}", LONG) for n in range(20)] + [("ics:1|untitled", "")],
)
EXPERIMENT = next(p.id for p in P if p.id.startswith("experiment."))
WEEK = Digest(
    label="2 March 2026",
    so_far=False,
    meetings=8,
    by_kind={"one-on-one": 3, "small": 2, "large": 2, "external": 1},
    reminders=8,
    asked=8,
    answered=4,
    presence_by_day=[(0, 3.5), (1, 5.0)],
    practices=["observe-listen-ask", "appreciation"],
    quotes=[("Listened first.", "1:1 with <Ben> & co", 0)],
    pattern=("digest.pattern.kind_gap", {"full": "one-on-one", "empty": "large"}),
    experiment=EXPERIMENT,
    chart=[(0, 2, 2), (1, 2, 1), (2, 2, 0), (3, 2, 1), (4, 0, 0)],
)
HUGE_WEEK = replace(
    WEEK,
    label="2 March 2026 " * 20,
    meetings=140,
    by_kind={"one-on-one": 50, "small": 50, "large": 30, "external": 10},
    practices=list(PRACTICE_ORDER),
    presence_by_day=[(d, 3.0) for d in range(7)],
    quotes=[(LONG, LONG, d) for d in range(3)],
    chart=[(d, 20, 20) for d in range(7)],
)
EMPTY_WEEK = replace(
    WEEK, answered=0, quotes=[], practices=[], pattern=None, experiment=None, chart=[]
)
# Their why (as long as it may be, clipped as the digest clips it), the week against it and
# the three-week offer.
WHY_WEEK = replace(
    HUGE_WEEK,
    focus_practice="body-language",
    why=LONG[:300],
    relate=("digest.why.struggled", {"practice": "body-language", "answers": 3}),
    offer="observe-listen-ask",
)

Built = Message | dict[str, Any]

# builder (module.name) → example → a call of it
EXAMPLES: dict[str, dict[str, Callable[[], Built]]] = {
    "bot.messages.blocks.build_home_view": {
        "new": lambda: build_home_view(P, HomeState(zone=None, connected=False)),
        "full": lambda: build_home_view(P, FULL_HOME),
    },
    "bot.messages.blocks.build_connect_form": {"form": lambda: build_connect_form(P)},
    "bot.messages.blocks.build_settings_form": {
        "defaults": lambda: build_settings_form(P, SETTINGS),
        "no day": lambda: build_settings_form(P, {**SETTINGS, "working_days": []}),
    },
    "bot.messages.blocks.build_reminder": {
        "short": lambda: build_reminder(P, title="1:1 & <Ben>", **NUDGE, **LINKED),
        "long title": lambda: build_reminder(P, title=LONG, **NUDGE, **MEETING),
    },
    "bot.messages.blocks.build_transition": {
        "long titles": lambda: build_transition(
            P, previous=LONG, question="Q?", title=LONG, **NUDGE, **LINKED
        ),
    },
    "bot.messages.blocks.build_reflection": {
        "long title": lambda: build_reflection(
            P, delivery_id=7, title=LONG, question="How did you listen?", series_key=SERIES
        ),
    },
    "bot.messages.blocks.build_done": {"long": lambda: build_done(LONG)},
    "bot.messages.blocks.build_reflection_form": {
        "with its question": lambda: build_reflection_form(P, delivery_id=7, question=LONG),
        "no question": lambda: build_reflection_form(P, delivery_id=7, question=""),
    },
    "bot.messages.blocks.build_pause_form": {
        "tomorrow": lambda: build_pause_form(P, initial_date="2026-03-03")
    },
    "bot.messages.blocks.build_welcome": {"first visit": lambda: build_welcome(P)},
    "bot.messages.blocks.build_forget_confirm": {"ask once": lambda: build_forget_confirm(P)},
    "bot.messages.blocks.build_erase_form": {"ask once": lambda: build_erase_form(P)},
    "bot.messages.digest.build_digest": {
        "a week": lambda: build_digest(P, WEEK),
        "so far": lambda: build_digest(P, replace(WEEK, so_far=True)),
        "the biggest week": lambda: build_digest(P, HUGE_WEEK),
        "no words": lambda: build_digest(P, EMPTY_WEEK),
        "their why and the offer": lambda: build_digest(P, WHY_WEEK),
    },
    "bot.messages.digest.build_digest_note": {
        "a quiet week": lambda: build_digest_note(P, EMPTY_WEEK),
        "the biggest week": lambda: build_digest_note(P, HUGE_WEEK),
        "their why and the offer": lambda: build_digest_note(P, WHY_WEEK),
    },
    "bot.messages.blocks.build_why_form": {
        "first time": lambda: build_why_form(P, text="", focus=None, suggestion=None),
        "long words": lambda: build_why_form(
            P, text=LONG, focus="feelings", suggestion="observe-listen-ask"
        ),
    },
    "bot.messages.feedback.build_feedback_home": {
        "none": lambda: _home_section([]),
        "more than shown": lambda: _home_section(
            [
                SeriesItem(f"{SERIES}{n}", LONG, people=n + 2, one_on_one=n == 0, on=n % 2 == 0)
                for n in range(MAX_HOME_SERIES + 3)
            ]
        ),
    },
    "bot.messages.feedback.build_words_offer": {
        "on a question": lambda: build_words_offer(P, _reflection(), delivery_id=7),
    },
    "bot.messages.feedback.build_words_form": {"form": lambda: build_words_form(P)},
    "bot.messages.feedback.build_opt_in_offer": {
        "on a question": lambda: build_opt_in_offer(P, _reflection(), series_key=SERIES),
    },
    "bot.messages.feedback.build_feedback_ask": {
        "long title": lambda: build_feedback_ask(P, delivery_id=7, title=LONG, leader_id="U1"),
    },
    "bot.messages.feedback.build_feedback_done": {
        "answered": lambda: Message(
            *build_feedback_done(_asked(), "Thanks: somewhat.", keep_never=True)
        ),
        "never again": lambda: Message(
            *build_feedback_done(_asked(), LONG[:200], keep_never=False)
        ),
    },
    "bot.messages.feedback.build_feedback_totals": {
        "with own taps": lambda: build_feedback_totals(
            P, build_digest(P, WEEK), TotalsView(4, 3, 1, own_presence=4.0)
        ),
        "without": lambda: build_feedback_totals(P, build_digest(P, WEEK), TotalsView(5, 0, 0)),
    },
    "bot.messages.commitments.build_commitment_offer": {
        "short": lambda: build_commitment_offer(
            P, lead="A promise to yourself:", words="I'll ask <Ben> & wait.", reflection_id=7
        ),
        "long words": lambda: build_commitment_offer(P, lead="Lead:", words=LONG, reflection_id=7),
    },
    "bot.messages.commitments.build_commitment_quote": {
        "on a reminder": lambda: build_commitment_quote(
            P, build_reminder(P, title=LONG, **NUDGE, **LINKED), words=LONG
        ),
        "on a transition": lambda: build_commitment_quote(
            P,
            build_transition(P, previous=LONG, question="Q?", title=LONG, **NUDGE, **LINKED),
            words="I'll let her finish.",
        ),
    },
    "bot.messages.commitments.build_commitment_check": {
        "on a question": lambda: build_commitment_check(
            P, _reflection(), commitment_id=3, words=LONG
        ),
        "with the feedback offer": lambda: build_commitment_check(
            P, build_words_offer(P, _reflection(), delivery_id=7), commitment_id=3, words="x"
        ),
    },
    "bot.messages.commitments.build_commitments_home": {
        "none": lambda: {
            "type": "home",
            "blocks": build_commitments_home(P, []) or [{"type": "divider"}],
        },
        "more than shown": lambda: {
            "type": "home",
            "blocks": build_commitments_home(
                P,
                [
                    HomeCommitment(n, LONG, "Monday 2 March")
                    for n in range(MAX_HOME_COMMITMENTS + 3)
                ],
            ),
        },
    },
    "bot.messages.commitments.build_commitments_digest": {
        "one kept": lambda: build_commitments_digest(P, build_digest(P, WEEK), kept=1),
        "many kept": lambda: build_commitments_digest(P, build_digest(P, HUGE_WEEK), kept=12),
        "none kept": lambda: build_commitments_digest(P, build_digest(P, WEEK), kept=0),
    },
}


def _home_section(items: list[SeriesItem]) -> dict[str, Any]:
    """The Home tab's feedback section, as a Home view of its own."""
    return {"type": "home", "blocks": build_feedback_home(P, items)}


def _reflection() -> Message:
    return build_reflection(
        P, delivery_id=7, title=LONG, question="How did you listen?", series_key=SERIES
    )


def _asked() -> dict[str, Any]:
    """A feedback question as Slack sends it back with a tap."""
    ask = build_feedback_ask(P, delivery_id=7, title="All-hands", leader_id="U1")
    return {"text": ask.text, "blocks": ask.blocks}


MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000


def _builders() -> set[str]:
    """Every ``build_*`` function defined in a module of the ``bot.messages`` package."""
    found = set()
    for info in pkgutil.iter_modules(bot.messages.__path__, "bot.messages."):
        module = importlib.import_module(info.name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("build_") and function.__module__ == module.__name__:
                found.add(f"{module.__name__}.{name}")
    return found


def test_every_builder_has_examples() -> None:
    builders = _builders()
    missing = sorted(builders - set(EXAMPLES))
    assert not missing, f"add examples of {missing} to EXAMPLES in {__name__}"
    assert not set(EXAMPLES) - builders, "EXAMPLES names a builder that is gone"
    assert all(EXAMPLES.values()), "every builder needs at least one example"


CASES = [(builder, case) for builder, cases in EXAMPLES.items() for case in cases]


def _interactive(block: dict[str, Any]) -> list[dict[str, Any]]:
    """The elements of a block that may carry an ``action_id``."""
    found = [e for e in block.get("elements") or [] if isinstance(e, dict)]
    found += [block[k] for k in ("accessory", "element") if isinstance(block.get(k), dict)]
    return found


def _check_blocks(blocks: list[dict[str, Any]]) -> None:
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(ids) == len(set(ids)), f"block_ids repeat: {ids}"
    for block in blocks:
        text = block.get("text")
        if block["type"] == "section" and isinstance(text, dict):
            assert len(text["text"]) <= MAX_SECTION_TEXT
        actions = [e["action_id"] for e in _interactive(block) if "action_id" in e]
        assert len(actions) == len(set(actions)), f"action_ids repeat in a block: {actions}"


@pytest.mark.parametrize(("builder", "case"), CASES, ids=[f"{b}: {c}" for b, c in CASES])
def test_every_builder_keeps_slacks_limits(builder: str, case: str) -> None:
    built = EXAMPLES[builder][case]()
    if isinstance(built, Message):
        assert built.text.strip(), "a message needs a plain text fallback"
        assert len(built.blocks) <= MAX_MESSAGE_BLOCKS
        _check_blocks(built.blocks)
        assert validate_message(built.text, built.blocks) == []
        assert [Block.parse(b).to_dict() for b in built.blocks] == built.blocks
    else:
        assert built["type"] in ("modal", "home")
        assert len(built["blocks"]) <= MAX_VIEW_BLOCKS
        _check_blocks(built["blocks"])
        assert validate_view(built) == []
        assert View(**built).to_dict() == built
