"""The weekly digest from a known week, through the real app and the Slack emulator.

Ana (Europe/Berlin) has eight meetings with others from Monday to Thursday: three 1:1s,
two small meetings, two large ones and a call with people from outside (plus a declined
meeting and a focus block, which do not count). The sender sends her reminders and
reflection questions on the virtual clock; she answers after every 1:1 and one of the
small meetings, in every way Heedful takes answers (a thread reply as a signed event, a
plain DM, a tap on a button, the form), and never after the large meetings. On Friday at
16:00 her time the digest arrives.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from digesting import (
    DM,
    TEAM,
    Driver,
    at,
    deliveries,
    make_user,
    questions_answered,
    store_meetings,
)
from factories import make_occurrence
from waiting import wait_until

from bot.app import Heedful
from bot.calendars.occurrence import Response
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator
from bot.emulator.blocks import validate_blocks
from bot.messages import blocks as kit
from bot.messages.library import PRACTICE_ORDER, primary_practice
from bot.messages.prompts import load_prompts
from bot.occurrences import apply_occurrences
from bot.reflections import capture_form, capture_message
from bot.sender import METADATA_EVENT_TYPE, SentDM
from bot.services import Services
from bot.storage.models import DeliveryKind

REMINDER, REFLECTION, TRANSITION = (
    DeliveryKind.REMINDER,
    DeliveryKind.REFLECTION,
    DeliveryKind.TRANSITION,
)

BERLIN = "Europe/Berlin"
ANA = "U1"
MONDAY = "2026-03-02"


def day(offset: int) -> str:
    return f"2026-03-{2 + offset:02d}"


def berlin(offset: int, hhmm: str) -> Any:
    return at(day(offset), hhmm, BERLIN)


MEETINGS = {
    "ben": make_occurrence(berlin(0, "10:00"), uid="ben", title="1:1 with Ben", attendees=2),
    "sync": make_occurrence(berlin(0, "14:00"), uid="sync", title="Team sync", attendees=5),
    "allhands": make_occurrence(
        berlin(1, "10:00"), 60, uid="allhands", title="All-hands", attendees=30
    ),
    "cleo": make_occurrence(berlin(1, "13:00"), uid="cleo", title="1:1 with Cleo", attendees=2),
    "planning": make_occurrence(berlin(2, "10:00"), uid="planning", title="Planning", attendees=4),
    "townhall": make_occurrence(
        berlin(2, "14:00"), 60, uid="townhall", title="Town hall", attendees=40
    ),
    "dana": make_occurrence(berlin(3, "10:00"), uid="dana", title="1:1 with Dana", attendees=2),
    "northwind": make_occurrence(
        berlin(3, "15:00"),
        45,
        uid="northwind",
        title="Intro call with Northwind",
        attendees=3,
        external=True,
    ),
}
NOT_COUNTED = [
    make_occurrence(
        berlin(1, "16:00"),
        uid="vendor",
        title="Vendor pitch",
        attendees=3,
        self_response=Response.DECLINED,
    ),
    make_occurrence(berlin(2, "11:00"), 90, uid="focus", title="Focus time", attendees=0),
]
TITLES = {occ.key: occ.title for occ in MEETINGS.values()}
KEY = {name: occ.key for name, occ in MEETINGS.items()}

BEN_TEXT = "I asked Ben what worried him before giving my view, and he talked for ten minutes."
SYNC_TEXT = "Closed my laptop halfway through the sync and it felt different."
CLEO_TEXT = "Thanked Cleo by name."
DANA_TEXT = "Dana went quiet after the budget slide; I will check in with her tomorrow."


def _events(heedful: Heedful) -> str:
    return f"{heedful.url}/slack/events"


def _answer_plan(
    heedful: Heedful, emulator: SlackEmulator, services: Services, driver: Driver
) -> None:
    """After each question, Ana answers three minutes later (or not), in varied ways."""

    def reply(sent: SentDM) -> None:
        row = sent.row
        if row.kind not in (REFLECTION, TRANSITION) or row.user_id != ANA:
            return
        key, ts, delivery = row.occurrence_key, sent.ts, row.id

        def ben() -> None:  # a thread reply, as a signed event; then a tap ("partly": 3)
            emulator.user_says(_events(heedful), ANA, BEN_TEXT, thread_ts=ts)
            heedful.process_inbox()
            (question,) = [m for m in emulator.bot_messages(ANA) if m["ts"] == ts]
            emulator.click_button(
                _events(heedful), ANA, kit.tap_action(3), value=f"{delivery}:3", message=question
            )

        def sync() -> None:  # the "Write a line" form, with a presence of 4
            capture_form(
                services,
                team_id=TEAM,
                user_id=ANA,
                delivery_id=delivery,
                presence=4,
                text=SYNC_TEXT,
            )

        def cleo() -> None:  # a thread reply, then a tap ("present": 5)
            capture_message(
                services,
                team_id=TEAM,
                user_id=ANA,
                text=CLEO_TEXT,
                ts=f"{time.time():.6f}",
                thread_ts=ts,
            )
            capture_form(
                services,
                team_id=TEAM,
                user_id=ANA,
                delivery_id=delivery,
                presence=5,
                source="tap",
            )

        def dana() -> None:  # a plain DM, not in the thread, as a signed event
            emulator.user_says(_events(heedful), ANA, DANA_TEXT)

        answer = {KEY["ben"]: ben, KEY["sync"]: sync, KEY["cleo"]: cleo, KEY["dana"]: dana}
        if key in answer:
            driver.later(timedelta(minutes=3), answer[key])

    driver.on_sent.append(reply)


def _play_the_week(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
) -> DM:
    clock.set(berlin(0, "07:00"))
    make_user(services, ANA, BERLIN)
    apply_occurrences(
        services,
        team_id=TEAM,
        user_id=ANA,
        source="ics:1",
        occurrences=[*MEETINGS.values(), *NOT_COUNTED],
    )
    _answer_plan(heedful, emulator, services, driver)
    driver.run_until(berlin(4, "16:30"))
    (digest,) = driver.dms(ANA, "digest")
    return digest


def test_the_digest_of_a_known_week(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
) -> None:
    digest = _play_the_week(heedful, emulator, services, clock, driver)
    prompts = load_prompts()

    # What was sent before it: one reminder and one question per meeting with others.
    assert len(driver.dms(ANA, REMINDER)) == 8
    assert len(driver.dms(ANA, REFLECTION)) == 8
    assert len(driver.dms(ANA, "digest")) == 1

    # Sent once, on Friday at 16:00 in Berlin, with the delivery's metadata.
    assert digest.at == berlin(4, "16:00")
    meta = digest.message["metadata"]
    assert meta["event_type"] == METADATA_EVENT_TYPE
    (row,) = deliveries(services, ANA, "digest")
    assert row.ref == "2026-W10" and row.state == "sent"
    # … and what the experiment was chosen from (tests/digest/test_digest_words.py): her
    # words name five practices once each, and show no struggle.
    themes = [
        "observe-listen-ask",  # "I asked Ben"
        "single-tasking",  # "Closed my laptop"
        "appreciation",  # "Thanked Cleo"
        "body-language",  # "Dana went quiet"
        "feelings",  # "what worried him"
    ]
    touched = [primary_practice(prompts[q]) for q in questions_answered(services, ANA)]
    least = min(PRACTICE_ORDER, key=lambda p: (touched.count(p), PRACTICE_ORDER.index(p)))
    assert meta["event_payload"] == {
        "delivery_id": row.id,
        "kind": "digest",
        "due_at": berlin(4, "16:00").isoformat(),
        "themes": themes,
        "experiment_practice": least,
        "focus_practice": None,
        "why_quoted": False,
        "focus_offer": False,
        "commitments_kept": 0,  # none this week (bot.commitments)
    }

    # Valid Block Kit within Slack's limits, and a plain-text fallback.
    assert validate_blocks(digest.blocks) == []
    assert len(digest.blocks) <= 50
    assert all(len(text) <= 3000 for text in digest.sections())
    assert digest.header() == "Your week of 2 March 2026"
    assert digest.text.startswith("Your week of 2 March 2026\n")
    assert "*4 of 8*" in digest.text

    numbers = digest.sections()[0].splitlines()
    assert numbers[0] == (
        "*8 meetings with others*: 3 one-on-one, 2 small, 2 large, 1 with people from outside."
    )
    assert numbers[1] == "8 reminders before meetings; you reflected after *4 of 8*."
    # Monday: a tap of 3 and a form of 4; Tuesday: a tap of 5.
    assert numbers[2] == "How present you felt, 1 to 5, by day: Mon 3.5 → Tue 5."

    # The practices her words name (not the tags of the questions she answered).
    names = [prompts.text(f"practice.{p}") for p in themes]
    assert numbers[3] == f"Your answers touched: {', '.join(names)}."

    # Three of her own answers (the fullest), in the order she wrote them, each with the
    # meeting it was about.
    quotes = digest.section(prompts.text("digest.quotes_header"))
    assert quotes == "\n\n".join(
        [
            f"> {BEN_TEXT}\n_after 1:1 with Ben, Monday_",
            f"> {SYNC_TEXT}\n_after Team sync, Monday_",
            f"> {DANA_TEXT}\n_after 1:1 with Dana, Thursday_",
        ]
    )

    # The pattern: every 1:1 answered, none of the large meetings (her words name no
    # practice twice, and show no struggle: no pattern of words).
    pattern = digest.section(prompts.text("digest.pattern_header"))
    assert pattern == "You reflected after every 1:1 and after none of the large meetings."

    # One experiment, from the practice the questions she answered touched least.
    experiment = digest.section(prompts.text("digest.experiment_header"))
    assert experiment is not None and experiment.startswith(":seedling: ")
    fitting = [
        p.render() for p in prompts if p.id.startswith("experiment.") and least in p.practices
    ]
    assert experiment.removeprefix(":seedling: ") in fitting

    # The week day by day: ▮ a meeting with others, ✎ a question answered.
    chart = digest.section(prompts.text("digest.chart_header"))
    assert chart == "\n".join(["`Mon` ▮▮ ✎✎", "`Tue` ▮▮ ✎", "`Wed` ▮▮", "`Thu` ▮▮ ✎", "`Fri` ·"])
    assert digest.blocks[-1]["type"] == "context"  # only you can see this


def test_a_week_without_meetings_sends_nothing(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
) -> None:
    clock.set(berlin(0, "07:00"))
    make_user(services, ANA, BERLIN)
    # A meeting alone and a declined one are no meetings with others.
    store_meetings(
        services,
        ANA,
        [
            make_occurrence(berlin(1, "10:00"), uid="solo", title="Deep work", attendees=1),
            make_occurrence(
                berlin(2, "10:00"),
                uid="no",
                title="Vendor",
                attendees=4,
                self_response=Response.DECLINED,
            ),
        ],
    )
    driver.run_until(berlin(4, "18:00"))
    assert emulator.bot_messages(ANA) == []
    (row,) = deliveries(services, ANA, "digest")
    assert (row.state, row.error) == ("skipped", "no_meetings")


def test_a_week_of_meetings_and_no_answers_gets_a_short_kind_note(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
) -> None:
    clock.set(berlin(0, "07:00"))
    make_user(services, ANA, BERLIN)
    apply_occurrences(
        services,
        team_id=TEAM,
        user_id=ANA,
        source="ics:1",
        occurrences=[MEETINGS["ben"], MEETINGS["planning"], MEETINGS["townhall"]],
    )
    driver.run_until(berlin(4, "17:00"))
    (note,) = driver.dms(ANA, "digest")
    assert note.at == berlin(4, "16:00")
    prompts = load_prompts()
    assert note.text == prompts.text("digest.no_answers", meetings="3 meetings")
    assert validate_blocks(note.blocks) == []
    assert note.sections()[0] == note.text
    assert "▮" in note.section(prompts.text("digest.chart_header"))
    # No numbers to live up to, no quotes, no experiment: just the kind note and the week.
    assert note.section(prompts.text("digest.experiment_header")) is None
    assert "of 3" not in " ".join(note.sections())


def _wait_for_response(emulator: SlackEmulator, count: int) -> list[Any]:
    wait_until(lambda: len(emulator.responses) >= count, what=f"{count} response(s)")
    return emulator.responses


def _up_to_thursday_evening(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
) -> None:
    """Ana's known week, answered as planned, played up to Thursday 17:00."""
    clock.set(berlin(0, "07:00"))
    make_user(services, ANA, BERLIN)
    apply_occurrences(
        services, team_id=TEAM, user_id=ANA, source="ics:1", occurrences=list(MEETINGS.values())
    )
    _answer_plan(heedful, emulator, services, driver)
    driver.run_until(berlin(3, "17:00"))


def test_heedful_digest_shows_the_week_so_far_without_touching_the_weekly_one(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
) -> None:
    _up_to_thursday_evening(heedful, emulator, services, clock, driver)
    driver.plan_every = timedelta(days=30)  # no more planning from here on
    before = [tuple(r) for r in deliveries(services, ANA)]
    (weekly,) = [r for r in deliveries(services, ANA) if r.kind == "digest"]
    assert weekly.state == "pending"  # Friday's is planned a day ahead

    result = emulator.send_command(_events(heedful), "/heedful", "digest", user_id=ANA)
    assert result.status == 200
    (response,) = _wait_for_response(emulator, 1)
    payload = response["payload"]
    assert payload.get("response_type") == "ephemeral"
    text = payload["text"]
    assert text.startswith("Your week so far (week of 2 March 2026)")
    assert "*8 meetings with others*: 3 one-on-one, 2 small, 2 large, 1 with" in text
    assert "you reflected after *4 of 8*" in text

    # Nothing was created or changed in the outbox, and nothing was DMed.
    assert [tuple(r) for r in deliveries(services, ANA)] == before
    assert not driver.dms(ANA, "digest")
    # … and the weekly one still goes, once, on Friday at 16:00.
    driver.run_until(berlin(4, "17:00"))
    (digest,) = driver.dms(ANA, "digest")
    assert digest.at == berlin(4, "16:00")


def test_heedful_digest_answers_with_the_whole_digest(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
) -> None:
    _up_to_thursday_evening(heedful, emulator, services, clock, driver)
    emulator.send_command(_events(heedful), "/heedful", "digest", user_id=ANA)
    (response,) = _wait_for_response(emulator, 1)
    blocks = response["payload"].get("blocks") or []
    assert validate_blocks(blocks) == []
    assert any(BEN_TEXT in (b.get("text") or {}).get("text", "") for b in blocks)
