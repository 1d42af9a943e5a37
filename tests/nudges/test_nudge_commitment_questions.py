"""The question after the meeting where a commitment comes back keeps its place under the
daily cap (``bot.planner``, "A commitment coming back"): on a day of 1:1s and guests, the
two questions go to the first 1:1 and the small meeting with Ben, where Ana's commitment
is quoted and asked about with one tap. Accepting it, *not yet* and *Drop* re-plan her.
On the virtual clock, through the real app and the Slack emulator, with the default cap of
two questions a day."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from nudging import Driver, Event, FeedServer, Sent, at, colleagues, local_hhmm

from bot.messages import commitments as ckit
from bot.messages.prompts import load_prompts
from bot.prefs import Prefs
from bot.storage.models import Commitment, DeliveryKind, OccurrenceRow

PROMPTS = load_prompts()
MON, TUE, WED = "2026-03-02", "2026-03-03", "2026-03-04"
BEN = "ben@example.com"
SAID = "Next time I'll let Ben finish before I answer."
CALENDAR = [
    Event("ben", "1:1 Ana / Ben", f"{MON} 10:00", 30, [BEN]),
    # Tuesday: two 1:1s and a meeting with guests outrank Planning (a small group) ...
    Event("cleo", "1:1 Ana / Cleo", f"{TUE} 09:00", 30, ["cleo@example.com"]),
    Event("dan", "1:1 Ana / Dan", f"{TUE} 10:00", 30, ["dan@example.com"]),
    Event("partner", "Partner call", f"{TUE} 11:00", 30, ["kim@partner.test", "dana@example.com"]),
    # ... where Ben is.
    Event("plan", "Planning", f"{TUE} 14:00", 30, [BEN, *colleagues(2)]),
    # Wednesday: the same again.
    Event("eve", "1:1 Ana / Eve", f"{WED} 09:00", 30, ["eve@example.com"]),
    Event("finn", "1:1 Ana / Finn", f"{WED} 10:00", 30, ["finn@example.com"]),
    Event("roadmap", "Roadmap", f"{WED} 11:00", 30, [BEN, *colleagues(2)]),
]
CHECK = [ckit.check_action(o) for o in ("yes", "partly", "not_yet")]
COMMIT = Commitment.__table__  # type: ignore[attr-defined]


@pytest.fixture(name="ana")
def fixture_ana(driver: Driver, feed_server: FeedServer) -> Driver:
    assert Prefs().max_reflections_per_day == 2  # the default, left as it is
    return driver.starts(at(MON, "08:00"), feed_server, CALENDAR)


def _planned(driver: Driver, day: str) -> list[str]:
    """The meetings of ``day`` a question is planned for now (waiting in the outbox)."""
    keys = [
        (row.payload or {}).get("previous") if row.kind == "transition" else row.occurrence_key
        for row in driver.deliveries(state="pending")
        if row.kind in ("reflection", "transition") and local_hhmm(row.due_at)[:10] == day
    ]
    t = OccurrenceRow.__table__.c  # type: ignore[attr-defined]
    with driver.services.engine.connect() as conn:
        titles = dict(conn.execute(sa.select(t.key, t.title).where(t.key.in_(keys))).all())
    return sorted((titles[key] for key in keys if key), key=lambda title: _start(title))


def _start(title: str) -> str:
    return next(e.start for e in CALENDAR if e.summary == title)


def _asked(driver: Driver, day: str) -> list[str]:
    """The meetings of ``day`` a question went out about, in order."""
    return [
        driver.title(s)
        for s in driver.sent
        if s.kind in ("reflection", "transition") and local_hhmm(s.at)[:10] == day
    ]


def _said_and_kept(ana: Driver) -> None:
    """Monday: the 1:1 with Ben, answered with an intention; *Bring this back* accepted."""
    ana.run_until(at(MON, "10:40"))
    question = ana.nudge("reflection", "1:1 Ana / Ben")
    ana.says(f"Good talk. {SAID}", thread_ts=question.ts)
    (offer,) = [s for s in ana.sent if s.kind == DeliveryKind.COMMITMENT_OFFER]
    ana.click(ckit.ACTION_KEEP, offer)


def _quoted(sent: Sent) -> bool:
    return PROMPTS.text("commitment.quote", words=SAID) in "\n".join(sent.section_texts())


def _check_ids(sent: Sent) -> list[str]:
    return [
        element["action_id"]
        for block in sent.blocks
        if block.get("block_id") == ckit.BLOCK_CHECK
        for element in block["elements"]
    ]


def _state(driver: Driver) -> Any:
    with driver.services.engine.connect() as conn:
        return conn.execute(sa.select(COMMIT.c.state, COMMIT.c.quoted_for)).one()


def _id(driver: Driver) -> str:
    with driver.services.engine.connect() as conn:
        return str(conn.execute(sa.select(COMMIT.c.id)).scalar_one())


def test_the_meeting_it_comes_back_at_gets_one_of_the_two_questions(ana: Driver) -> None:
    ana.run_until(at(MON, "10:40"))
    # Before anything was said, the 1:1s take Tuesday's and Wednesday's two questions.
    assert _planned(ana, TUE) == ["1:1 Ana / Cleo", "1:1 Ana / Dan"]
    assert _planned(ana, WED) == ["1:1 Ana / Eve", "1:1 Ana / Finn"]
    _said_and_kept(ana)
    # Accepted: Planning, the first meeting with Ben, takes a place; the earlier 1:1 the other.
    assert _planned(ana, TUE) == ["1:1 Ana / Cleo", "Planning"]
    assert _planned(ana, WED) == ["1:1 Ana / Eve", "1:1 Ana / Finn"]

    ana.run_until(at(TUE, "20:00"), on_sent=ana.answer)
    assert _asked(ana, TUE) == ["1:1 Ana / Cleo", "Planning"]  # the cap of two holds
    assert _quoted(ana.nudge("reminder", "Planning"))
    question = ana.nudge("reflection", "Planning")
    assert _check_ids(question) == CHECK  # yes / partly / not yet
    assert PROMPTS.text("commitment.check.a", words=SAID) in "\n".join(question.section_texts())
    # The others of the day still had their reminders, not a question.
    reminded = [ana.title(s) for s in ana.sent if s.kind == "reminder" and s.at >= at(TUE, "00:00")]
    assert reminded == ["1:1 Ana / Cleo", "1:1 Ana / Dan", "Partner call", "Planning"]

    # "Not yet": free to come back at the next meeting with Ben, Wednesday's Roadmap, which
    # now takes the place of the second 1:1.
    ana.click(ckit.check_action("not_yet"), question, value=_id(ana))
    assert _state(ana) == ("open", None)
    assert _planned(ana, WED) == ["1:1 Ana / Eve", "Roadmap"]

    ana.run_until(at(WED, "20:00"), on_sent=ana.answer)
    assert _asked(ana, WED) == ["1:1 Ana / Eve", "Roadmap"]
    assert _quoted(ana.nudge("reminder", "Roadmap"))
    roadmap = ana.nudge("reflection", "Roadmap")
    assert _check_ids(roadmap) == CHECK
    ana.click(ckit.check_action("yes"), roadmap, value=_id(ana))
    assert _state(ana) == ("kept", ana.key_of("Roadmap"))
    per_day = Counter(local_hhmm(s.at)[:10] for s in ana.sent if s.kind == "reflection")
    assert max(per_day.values()) <= 2


def test_dropping_it_gives_the_place_back(ana: Driver) -> None:
    _said_and_kept(ana)
    assert _planned(ana, TUE) == ["1:1 Ana / Cleo", "Planning"]
    ana.open_home()
    ana.click(ckit.ACTION_DROP)
    assert _state(ana) == ("dropped", None)
    assert _planned(ana, TUE) == ["1:1 Ana / Cleo", "1:1 Ana / Dan"]
    ana.run_until(at(TUE, "20:00"), on_sent=ana.answer)
    assert _asked(ana, TUE) == ["1:1 Ana / Cleo", "1:1 Ana / Dan"]
    assert not _quoted(ana.nudge("reminder", "Planning"))
