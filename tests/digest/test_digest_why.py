"""The digest opens with the person's own why, through the real app on the virtual clock.

Ana (Europe/Berlin) wrote her why on Monday 2 March and has a meeting with others every
week. Each Friday at 16:00 her digest arrives. It opens with her words, quoted and escaped
once, and one sentence relating the week to her focus practice; the metadata says so
(``why_quoted``). After three weeks on one focus the digest offers to keep it or move on
(``focus_offer``): *Keep this focus* brings the offer back three weeks later, not the week
after; *Move on* changes her focus at once. Someone without a why gets no quote.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from digesting import DM, TEAM, Driver, at, make_user, store_meetings
from factories import make_occurrence
from waiting import wait_until

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator
from bot.focus import save_why, their_why
from bot.messages import blocks as kit
from bot.messages.digest import ACTION_FOCUS_KEEP, ACTION_FOCUS_NEXT, BLOCK_FOCUS_OFFER
from bot.messages.prompts import load_prompts
from bot.occurrences import apply_occurrences
from bot.sender import SentDM
from bot.services import Services
from bot.storage.models import DeliveryKind, Reflection

REFLECTION, TRANSITION = DeliveryKind.REFLECTION, DeliveryKind.TRANSITION

BERLIN = "Europe/Berlin"
ANA = "U1"
PROMPTS = load_prompts()
WORDS = "Someone my team trusts to hear them out & finish <before> I decide."
HEADER = f"*{PROMPTS.text('digest.why_header')}*"


def friday(week: int, hhmm: str = "16:30") -> datetime:
    """The Friday of the ``week``-th week from Monday 2 March 2026 (week 0)."""
    day = datetime(2026, 3, 6) + timedelta(weeks=week)
    return at(day.date().isoformat(), hhmm, BERLIN)


def _ana(services: Services, clock: VirtualClock, *, why: bool = True, weeks: int = 1) -> None:
    """Ana, her why (focus: slow down) and a 1:1 on every Tuesday of ``weeks`` weeks."""
    clock.set(at("2026-03-02", "07:00", BERLIN))
    make_user(services, ANA, BERLIN)
    if why:
        save_why(services, team_id=TEAM, user_id=ANA, text=WORDS, focus="slow-down", suggested=True)
    store_meetings(
        services,
        ANA,
        [
            make_occurrence(friday(n, "10:00") - timedelta(days=3), uid=f"ben-{n}")
            for n in range(weeks)
        ],
    )


def _why_section(digest: DM) -> str | None:
    return next((s for s in digest.sections() if s.startswith(HEADER)), None)


def _offer(digest: DM) -> list[dict[str, Any]]:
    """The offer's buttons (none without an offer)."""
    blocks = [b for b in digest.blocks if b.get("block_id") == BLOCK_FOCUS_OFFER]
    return blocks[0]["elements"] if blocks else []


def _events(heedful: Heedful) -> str:
    return f"{heedful.url}/slack/events"


def _tap(heedful: Heedful, emulator: SlackEmulator, digest: DM, action_id: str) -> dict[str, Any]:
    """Tap one of the offer's buttons; the digest once its buttons have become a line."""
    emulator.click_button(_events(heedful), ANA, action_id, message=digest.message)

    def answered() -> dict[str, Any] | None:
        (now,) = [m for m in emulator.bot_messages(ANA) if m["ts"] == digest.message["ts"]]
        blocks = now.get("blocks") or []
        return None if any(b.get("block_id") == BLOCK_FOCUS_OFFER for b in blocks) else now

    return wait_until(answered, what="the offer's buttons to become a line")


def test_the_digest_opens_with_their_words_and_relates_the_week_to_them(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
) -> None:
    """Ana answers her Tuesday question in words that show her focus got in the way."""
    clock.set(at("2026-03-02", "07:00", BERLIN))
    make_user(services, ANA, BERLIN)
    save_why(services, team_id=TEAM, user_id=ANA, text=WORDS, focus="slow-down", suggested=True)
    ben = make_occurrence(at("2026-03-03", "10:00", BERLIN), uid="ben", attendees=2)
    apply_occurrences(services, team_id=TEAM, user_id=ANA, source="ics:1", occurrences=[ben])

    def on_sent(sent: SentDM) -> None:
        if sent.row.kind in (REFLECTION, TRANSITION):
            thread_ts = sent.ts

            def answer() -> None:
                said = "I rushed Ben and interrupted him twice."
                emulator.user_says(_events(heedful), ANA, said, thread_ts=thread_ts)
                heedful.process_inbox()

            driver.later(timedelta(minutes=3), answer)

    driver.on_sent.append(on_sent)
    driver.run_until(friday(0))
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Reflection)).scalar() == 1

    (digest,) = driver.dms(ANA, "digest")
    assert digest.payload["why_quoted"] is True
    assert digest.payload["focus_offer"] is False  # her first week on this focus
    assert digest.payload["focus_practice"] == "slow-down"
    # First thing after the header: her words, escaped once, and the week against them.
    assert digest.blocks[1]["text"]["text"] == (
        f"{HEADER}\n"
        "> Someone my team trusts to hear them out &amp; finish &lt;before&gt; I decide.\n"
        + PROMPTS.text(
            "digest.why.struggled",
            practice=PROMPTS.text("focus.name.slow-down"),
            answers="1 answer",
        )
    )
    assert "trusts" not in digest.text  # never on a locked screen's notification
    assert _offer(digest) == []


def test_without_a_why_the_digest_quotes_nothing(
    services: Services, clock: VirtualClock, driver: Driver
) -> None:
    _ana(services, clock, why=False)
    driver.run_until(friday(0))
    (digest,) = driver.dms(ANA, "digest")
    assert (digest.payload["why_quoted"], digest.payload["focus_offer"]) == (False, False)
    assert digest.payload["focus_practice"] is None
    assert _why_section(digest) is None
    assert _offer(digest) == []


def test_three_weeks_on_a_focus_bring_the_offer_and_keeping_it_restarts_the_count(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
) -> None:
    _ana(services, clock, weeks=7)
    driver.run_until(friday(3))
    digests = driver.dms(ANA, "digest")
    assert [d.payload["focus_offer"] for d in digests] == [False, False, False, True]
    assert all(d.payload["why_quoted"] for d in digests)
    assert all(_why_section(d) is not None for d in digests)  # a week without answers too

    offer = digests[-1]
    buttons = {b["action_id"]: b["value"] for b in _offer(offer)}
    assert buttons[ACTION_FOCUS_KEEP] == "slow-down"
    # Nothing in her words this week and her why names no other practice first: the next
    # practice in the design's order.
    assert buttons[ACTION_FOCUS_NEXT] != "slow-down"
    assert kit.ACTION_WHY_OPEN in buttons  # or choose another in the form

    updated = _tap(heedful, emulator, offer, ACTION_FOCUS_KEEP)
    kept = PROMPTS.text("focus.kept", practice=PROMPTS.text("focus.name.slow-down"))
    assert kept in str(updated["blocks"])
    why = their_why(services, team_id=TEAM, user_id=ANA)
    assert why is not None
    assert (why.focus, why.suggested) == ("slow-down", False)  # her own choice now

    driver.run_until(friday(6))
    digests = driver.dms(ANA, "digest")
    assert [d.payload["focus_offer"] for d in digests] == [
        *[False] * 3,
        True,  # three weeks on
        False,  # kept: not the week after …
        False,
        True,  # … but three weeks later
    ]
    assert all(d.payload["focus_practice"] == "slow-down" for d in digests)


def test_moving_on_changes_the_focus(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
) -> None:
    _ana(services, clock, weeks=5)
    driver.run_until(friday(3))
    offer = driver.dms(ANA, "digest")[-1]
    buttons = {b["action_id"]: b["value"] for b in _offer(offer)}
    after = buttons[ACTION_FOCUS_NEXT]

    updated = _tap(heedful, emulator, offer, ACTION_FOCUS_NEXT)
    moved = PROMPTS.text("focus.moved", practice=PROMPTS.text(f"focus.name.{after}"))
    assert moved in str(updated["blocks"])
    assert _why_section(DM(ANA, clock.now(), updated)) is not None  # the rest stays
    why = their_why(services, team_id=TEAM, user_id=ANA)
    assert why is not None
    assert (why.focus, why.focus_since, why.text) == (after, clock.now(), WORDS)

    driver.run_until(friday(4))
    latest = driver.dms(ANA, "digest")[-1]
    assert (latest.payload["focus_practice"], latest.payload["focus_offer"]) == (after, False)
