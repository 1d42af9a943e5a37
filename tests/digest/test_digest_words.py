"""A digest from the person's own words, through the real app on the virtual clock.

Ana (Europe/Berlin) has five meetings with others from Monday to Thursday. She answers the
reflection questions in her own words, in a thread reply or a plain DM sent as signed
events through Slack's emulator, sometimes with a presence tap. On Friday at 16:00 the
digest arrives: its pattern names what her words show, with one of her sentences, and its
experiment serves the practice her words show her struggling with. The digest DM's
metadata says which (``themes``, ``experiment_practice``, ``focus_practice``), and nothing
of what she wrote reaches the logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from digesting import DM, TEAM, Driver, at, deliveries, make_user, questions_answered
from factories import make_occurrence

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator
from bot.focus import save_why
from bot.logging_setup import protect_private_logs
from bot.messages import blocks as kit
from bot.messages.library import PRACTICE_ORDER, primary_practice
from bot.messages.prompts import load_prompts
from bot.occurrences import apply_occurrences
from bot.sender import METADATA_EVENT_TYPE, SentDM, delivery_metadata
from bot.services import Services
from bot.storage.models import DeliveryKind, Reflection

REFLECTION, TRANSITION = DeliveryKind.REFLECTION, DeliveryKind.TRANSITION

BERLIN = "Europe/Berlin"
ANA = "U1"
PROMPTS = load_prompts()


def berlin(offset: int, hhmm: str) -> Any:
    return at(f"2026-03-{2 + offset:02d}", hhmm, BERLIN)


MEETINGS = {
    "ben": make_occurrence(berlin(0, "10:00"), uid="ben", title="1:1 with Ben", attendees=2),
    "sync": make_occurrence(berlin(0, "14:00"), uid="sync", title="Team sync", attendees=5),
    "cleo": make_occurrence(berlin(1, "13:00"), uid="cleo", title="1:1 with Cleo", attendees=2),
    "planning": make_occurrence(berlin(2, "10:00"), uid="planning", title="Planning", attendees=4),
    "dana": make_occurrence(berlin(3, "10:00"), uid="dana", title="1:1 with Dana", attendees=2),
}
KEY = {name: occ.key for name, occ in MEETINGS.items()}


@dataclass(frozen=True)
class Said:
    """Ana's answer to one question: her words (None: none), how, and a tap (or None)."""

    text: str | None
    thread: bool = True  # a reply in the question's thread, else a plain DM
    tap: int | None = None


SCREENS = {
    "ben": Said("Had Slack open & kept checking my phone the whole time. Ben noticed.", tap=2),
    "sync": Said("Answered e-mail during the demo, couldn't help it.", thread=False),
    "cleo": Said("My laptop was open on the inbox again.", tap=2),
    "planning": Said("I asked good questions in planning.", tap=4),
}
FEELINGS = {
    "ben": Said("Ben was upset about the reorg and I didn't ask how he felt."),
    "cleo": Said("Cleo seemed frustrated; I glossed over it.", tap=3),
    "dana": Said("Dana was worried about the deadline. I couldn't find the words.", tap=2),
}
NO_WORDS = {
    "ben": Said("Fine.", tap=4),
    "cleo": Said(None, tap=3),
    "dana": Said("Good one overall.", thread=False),
}


def _events(heedful: Heedful) -> str:
    return f"{heedful.url}/slack/events"


@pytest.fixture(name="logs")
def fixture_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything logged down to DEBUG, with the floors ``configure_logging`` puts on the
    loggers that write request bodies (as ``HEEDFUL_LOG_LEVEL=DEBUG heedful run`` has them)."""
    caplog.set_level(logging.DEBUG)
    protect_private_logs()
    yield caplog


def _app_log(logs: pytest.LogCaptureFixture) -> str:
    """What the app logged (the emulator's logs are Slack's side, and say what it got)."""
    return "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}"
        for r in logs.records
        if not r.name.startswith("bot.emulator")
    )


def _play(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
    answers: dict[str, Said],
) -> DM:
    """Ana's week, answered as ``answers`` say three minutes after each question; her
    digest."""
    clock.set(berlin(0, "07:00"))
    make_user(services, ANA, BERLIN)
    apply_occurrences(
        services, team_id=TEAM, user_id=ANA, source="ics:1", occurrences=list(MEETINGS.values())
    )
    by_key = {KEY[name]: said for name, said in answers.items()}

    def on_sent(sent: SentDM) -> None:
        row = sent.row
        if row.kind not in (REFLECTION, TRANSITION) or row.occurrence_key not in by_key:
            return
        said, ts, delivery = by_key[row.occurrence_key], sent.ts, row.id

        def answer() -> None:
            if said.text is not None:
                thread_ts = ts if said.thread else None
                emulator.user_says(_events(heedful), ANA, said.text, thread_ts=thread_ts)
                heedful.process_inbox()
            if said.tap is not None:
                (question,) = [m for m in emulator.bot_messages(ANA) if m["ts"] == ts]
                emulator.click_button(
                    _events(heedful),
                    ANA,
                    kit.tap_action(said.tap),
                    value=f"{delivery}:{said.tap}",
                    message=question,
                )

        driver.later(timedelta(minutes=3), answer)

    driver.on_sent.append(on_sent)
    driver.run_until(berlin(4, "16:30"))
    (digest,) = driver.dms(ANA, "digest")
    return digest


def _kept(services: Services) -> int:
    r = Reflection.__table__.c
    with services.engine.connect() as conn:
        return len(conn.execute(sa.select(r.id).where(r.user_id == ANA)).all())


def _experiment_practices(digest: DM) -> tuple[str, ...]:
    shown = digest.section(PROMPTS.text("digest.experiment_header"))
    assert shown is not None and shown.startswith(":seedling: ")
    (experiment,) = [
        p
        for p in PROMPTS
        if p.id.startswith("experiment.") and p.render() == shown.removeprefix(":seedling: ")
    ]
    return experiment.practices


def test_a_week_of_phones_email_and_slack_gets_a_single_tasking_experiment(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
    logs: pytest.LogCaptureFixture,
) -> None:
    digest = _play(heedful, emulator, services, clock, driver, SCREENS)
    assert _kept(services) == 7  # four answers in words, three taps

    meta = digest.message["metadata"]
    assert meta["event_type"] == METADATA_EVENT_TYPE
    (row,) = deliveries(services, ANA, "digest")
    assert meta["event_payload"] == {
        "delivery_id": row.id,
        "kind": "digest",
        "due_at": berlin(4, "16:00").isoformat(),
        "themes": ["single-tasking", "observe-listen-ask"],
        "experiment_practice": "single-tasking",
        "focus_practice": None,
        "why_quoted": False,
        "focus_offer": False,
        "commitments_kept": 0,  # none this week (bot.commitments)
    }
    assert "single-tasking" in _experiment_practices(digest)

    # What her words show, with her own sentence as evidence: escaped once ("&amp;").
    pattern = digest.section(PROMPTS.text("digest.pattern_header"))
    assert pattern == (
        "What got in the way, in your own words: phones, laptops and messages in meetings"
        " (3 answers). You wrote:\n"
        "> Had Slack open &amp; kept checking my phone the whole time."
    )
    # The week's themes, in her words' order.
    (touched,) = [line for line in digest.sections()[0].splitlines() if "touched" in line]
    assert touched == "Your answers touched: one thing at a time, listening and asking."

    log = _app_log(logs)
    assert "reflection kept for delivery" in log  # the app's logs were captured …
    for said in SCREENS.values():  # … without a word of hers
        for sentence in (said.text or "").split(". "):
            assert sentence.strip(" .") not in log
    for word in ("Slack open", "checking my phone", "laptop", "e-mail during"):
        assert word not in log


def test_a_week_of_feelings_gets_a_feelings_experiment(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
) -> None:
    digest = _play(heedful, emulator, services, clock, driver, FEELINGS)
    payload = digest.payload
    assert payload["experiment_practice"] == "feelings"
    assert payload["themes"][0] == "feelings"
    assert payload["focus_practice"] is None
    assert "feelings" in _experiment_practices(digest)
    pattern = digest.section(PROMPTS.text("digest.pattern_header"))
    assert pattern is not None
    assert pattern.startswith(
        "What got in the way, in your own words: how people felt (3 answers)."
    )
    quoted = pattern.rpartition("\n> ")[2]
    assert quoted in {
        "Ben was upset about the reorg and I didn't ask how he felt.",
        "Cleo seemed frustrated; I glossed over it.",
    }


def test_without_words_of_the_lexicon_the_experiment_is_chosen_as_before(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
) -> None:
    """Without a focus practice (``focus_practice`` is null), a week whose words show
    nothing gets the experiment of the practice its questions touched least."""
    digest = _play(heedful, emulator, services, clock, driver, NO_WORDS)
    touched = [primary_practice(PROMPTS[q]) for q in questions_answered(services, ANA)]
    least = min(PRACTICE_ORDER, key=lambda p: (touched.count(p), PRACTICE_ORDER.index(p)))
    payload = digest.payload
    assert payload["themes"] == []
    assert payload["experiment_practice"] == least
    assert payload["focus_practice"] is None
    assert least in _experiment_practices(digest)
    # The pattern comes from the week's shape, as before: every 1:1 answered.
    pattern = digest.section(PROMPTS.text("digest.pattern_header"))
    assert pattern == "You reflected after every 1:1 and after none of the small meetings."


def test_without_words_of_the_lexicon_the_experiment_serves_their_focus(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
) -> None:
    """With a focus practice chosen (``bot.focus``), a week whose words show no struggle
    gets an experiment for the focus, and the metadata names it."""
    save_why(
        services,
        team_id=TEAM,
        user_id=ANA,
        text="A lead people trust to hear them out.",
        focus="appreciation",
        suggested=False,
    )
    digest = _play(heedful, emulator, services, clock, driver, NO_WORDS)
    touched = [primary_practice(PROMPTS[q]) for q in questions_answered(services, ANA)]
    least = min(PRACTICE_ORDER, key=lambda p: (touched.count(p), PRACTICE_ORDER.index(p)))
    assert least != "appreciation"  # so the focus, not the old rule, chose it
    payload = digest.payload
    assert payload["themes"] == []
    assert payload["focus_practice"] == "appreciation"
    assert payload["experiment_practice"] == "appreciation"
    assert "appreciation" in _experiment_practices(digest)


def test_a_message_adds_to_the_delivery_metadata_and_never_replaces_it() -> None:
    row = SimpleNamespace(
        id=7, kind="digest", due_at=berlin(4, "16:00"), occurrence_key=None, payload=None
    )
    meta = delivery_metadata(row, {"delivery_id": 99, "kind": "x", "themes": ["feelings"]})
    assert meta == {
        "event_type": METADATA_EVENT_TYPE,
        "event_payload": {
            "delivery_id": 7,
            "kind": "digest",
            "due_at": berlin(4, "16:00").isoformat(),
            "themes": ["feelings"],
        },
    }
