"""Commitments come back (``bot.commitments``): an answer that says what the person means to
do next time is acknowledged as before and offered, once, a *Bring this back* button; the
kept sentence is quoted in the next reminder for the same series or a meeting with any of
the same people (within 30 days), the question after that meeting asks whether they did it,
the Home tab lists the open ones, and the digest counts the kept ones. On the virtual
clock, through the real app and the Slack emulator."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from nudging import TEAM, Driver, Event, FeedServer, Sent, at, colleagues

from bot import commitments, privacy
from bot.messages import commitments as ckit
from bot.messages.prompts import load_prompts
from bot.replies import REACTION
from bot.storage.models import Commitment, DeliveryKind, OccurrenceRow

PROMPTS = load_prompts()
MONDAY = "2026-03-02"
BEN = "ben@example.com"
SAID = "Next time I'll let Ben finish before I answer."
WEEKLY_BEN = Event(
    "ben", "1:1 Ana / Ben", f"{MONDAY} 10:00", 30, [BEN], rrule="FREQ=WEEKLY;COUNT=3"
)
PLANNING = Event("plan", "Planning", "2026-03-03 11:00", 30, [BEN, *colleagues(2)])
CLEO = Event("cleo", "1:1 Ana / Cleo", "2026-03-03 14:00", 30, ["cleo@example.com"])
ACCEPTED = {PROMPTS.text(p.id) for p in PROMPTS if p.id.startswith("commitment.accepted.")}
COMMIT = Commitment.__table__  # type: ignore[attr-defined]


@pytest.fixture(name="ana")
def fixture_ana(driver: Driver, feed_server: FeedServer) -> Driver:
    return driver.starts(
        at(MONDAY, "08:00"), feed_server, [WEEKLY_BEN, PLANNING, CLEO]
    ).questions_a_day(4)


def _now(driver: Driver, sent: Sent) -> dict[str, Any]:
    """``sent`` as it is in the DM now (after any update)."""
    return next(m for m in driver.emulator.messages(driver.user) if m["ts"] == sent.ts)


def _offers(driver: Driver) -> list[Sent]:
    return [s for s in driver.sent if s.kind == DeliveryKind.COMMITMENT_OFFER]


def _rows(driver: Driver) -> list[Any]:
    with driver.services.engine.connect() as conn:
        return list(conn.execute(sa.select(COMMIT).order_by(COMMIT.c.id)))


def _said_and_kept(ana: Driver) -> tuple[Sent, str]:
    """Monday: answer the 1:1's question with an intention, and accept the offer."""
    ana.run_until(at(MONDAY, "10:40"))
    question = ana.nudge("reflection", "1:1 Ana / Ben")
    answer = ana.says(f"Good talk. {SAID}", thread_ts=question.ts)
    (offer,) = _offers(ana)
    ana.click(ckit.ACTION_KEEP, offer)
    return question, answer


def _series(driver: Driver, sent: Sent) -> str:
    t = OccurrenceRow.__table__.c  # type: ignore[attr-defined]
    with driver.services.engine.connect() as conn:
        return str(conn.execute(sa.select(t.series_key).where(t.key == sent.occurrence)).scalar())


def _digest(driver: Driver, friday: str) -> Sent:
    """Run through Friday, planning the digest as the scheduler does: the week's digest."""
    driver.run_until(at(friday, "08:00"))
    driver.heedful.plan_digests()
    driver.run_until(at(friday, "17:00"))
    return [s for s in driver.sent if s.kind == "digest"][-1]


def _quoted(sent: Sent) -> bool:
    return PROMPTS.text("commitment.quote", words=SAID) in "\n".join(sent.section_texts())


def _check_ids(message: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in message.get("blocks") or []
        if block.get("block_id") == ckit.BLOCK_CHECK
        for element in block["elements"]
    ]


def test_an_intention_is_acknowledged_and_offered_once_in_the_thread(ana: Driver) -> None:
    ana.run_until(at(MONDAY, "10:40"))
    question = ana.nudge("reflection", "1:1 Ana / Ben")
    answer = ana.says(f"Good talk. {SAID}", thread_ts=question.ts)
    assert ana.reactions_on(answer) == [REACTION]  # acknowledged as every answer is
    (offer,) = _offers(ana)
    assert offer.message.get("thread_ts") == question.ts
    (text,) = offer.section_texts()
    lead, quoted = text.split("\n")
    assert lead == PROMPTS.text("commitment.offer.a")  # the first of the rotated lines
    assert quoted == f"> {SAID}"  # their sentence, not the whole answer
    assert offer.action_values(ckit.ACTION_KEEP) == [str(ana.reflections()[0].id)]
    # The same answer again (a retried event, a replay) is no second offer.
    assert not commitments.offer(
        ana.services, team_id=TEAM, user_id="U1", message_ts=answer, thread_ts=question.ts
    )
    ana.settle()
    assert len(_offers(ana)) == 1
    assert ana.deliveries(kind=DeliveryKind.COMMITMENT_OFFER)[0].payload == {
        "reflection": ana.reflections()[0].id,
        "thread_ts": question.ts,
    }  # no words of theirs in the outbox

    ana.click(ckit.ACTION_KEEP, offer)
    now = _now(ana, offer)
    assert not [b for b in now["blocks"] if b["type"] == "actions"]
    assert now["blocks"][-1]["elements"][0]["text"] in ACCEPTED
    (row,) = _rows(ana)
    assert row.text != SAID and ana.services.cipher.decrypt(row.text) == SAID  # at rest
    assert (row.state, row.people, row.series_key) == ("open", [BEN], _series(ana, question))
    ana.click(ckit.ACTION_KEEP, offer, value=offer.action_values(ckit.ACTION_KEEP)[0], as_sent=True)
    assert len(_rows(ana)) == 1  # a second tap keeps one


def test_no_offer_without_an_intention_of_theirs(ana: Driver) -> None:
    ana.run_until(at(MONDAY, "10:40"))
    question = ana.nudge("reflection", "1:1 Ana / Ben")
    ana.says("Listened well. She will send the notes.", thread_ts=question.ts)
    ana.run_until(at("2026-03-03", "11:40"))
    planning = ana.nudge("reflection", "Planning")
    ana.says("They're going to move the launch?", thread_ts=planning.ts)
    assert _offers(ana) == [] and _rows(ana) == []
    assert len(ana.reflections()) == 2  # both kept


def test_the_form_offers_too_in_the_questions_thread(ana: Driver) -> None:
    ana.run_until(at(MONDAY, "10:40"))
    question = ana.nudge("reflection", "1:1 Ana / Ben")
    ana.click("reflect_write", question)
    form = ana.emulator.opened_views[-1]
    ana.submit(form, {"text": {"text_value": "Rushed. I\u2019m going to ask Ben first."}})
    (offer,) = _offers(ana)
    assert offer.message.get("thread_ts") == question.ts
    assert "I\u2019m going to ask Ben first." in offer.section_texts()[0]


def test_it_comes_back_with_the_same_people_is_asked_about_and_counted(ana: Driver) -> None:
    _said_and_kept(ana)
    # Tuesday: Planning shares Ben (another series): its reminder quotes the sentence.
    ana.run_until(at("2026-03-03", "11:40"))
    assert _quoted(ana.nudge("reminder", "Planning"))
    question = ana.nudge("reflection", "Planning")
    ids = _check_ids(question.message)
    assert ids == [ckit.check_action(o) for o in ("yes", "partly", "not_yet")]
    # The first of the rotated wordings, the person's first check-in.
    first = PROMPTS.text("commitment.check.a", words=SAID)
    assert first in "\n".join(question.section_texts())
    ana.click(ckit.check_action("not_yet"), question, value=str(_rows(ana)[0].id))
    now = _now(ana, question)
    assert _check_ids(now) == []
    not_yet = PROMPTS.text("button.commitment.not_yet")
    assert any(not_yet in str(b) for b in now["blocks"] if b["type"] == "context")
    assert _rows(ana)[0].state == "open"

    # No one of them at Cleo's 1:1: not quoted.
    ana.run_until(at("2026-03-03", "14:40"))
    assert not _quoted(ana.nudge("reminder", "1:1 Ana / Cleo"))
    assert _check_ids(ana.nudge("reflection", "1:1 Ana / Cleo").message) == []

    # "Not yet": it comes back at the next meeting of the series, and is asked about again.
    assert _digest(ana, "2026-03-06").payload["commitments_kept"] == 0  # nothing kept yet
    ana.run_until(at("2026-03-09", "10:40"))
    reminders = [s for s in ana.sent if s.kind == "reminder" and ana.title(s) == "1:1 Ana / Ben"]
    assert [_quoted(r) for r in reminders] == [False, True]
    questions = [s for s in ana.sent if s.kind == "reflection" and ana.title(s) == "1:1 Ana / Ben"]
    # Asked again in the next of the rotated wordings, not the same sentence twice.
    second = PROMPTS.text("commitment.check.b", words=SAID)
    assert second in "\n".join(questions[-1].section_texts())
    ana.click(ckit.check_action("yes"), questions[-1], value=str(_rows(ana)[0].id))
    assert (_rows(ana)[0].state, _rows(ana)[0].closed_at) == ("kept", ana.clock.now())

    # The week's digest counts it; a kept one does not come back.
    digest = _digest(ana, "2026-03-13")
    assert digest.payload["commitments_kept"] == 1
    assert PROMPTS.text("commitment.digest.kept.one") in digest.text
    ana.run_until(at("2026-03-16", "10:40"))
    reminders = [s for s in ana.sent if s.kind == "reminder" and ana.title(s) == "1:1 Ana / Ben"]
    assert not _quoted(reminders[-1])


def test_partly_closes_it_without_counting_it_kept(ana: Driver) -> None:
    _said_and_kept(ana)
    ana.run_until(at("2026-03-03", "11:40"))
    question = ana.nudge("reflection", "Planning")
    ana.click(ckit.check_action("partly"), question, value=str(_rows(ana)[0].id))
    assert _rows(ana)[0].state == "partly"
    digest = _digest(ana, "2026-03-06")
    assert digest.payload["commitments_kept"] == 0
    assert "You kept" not in digest.text


def test_after_30_days_it_no_longer_comes_back(driver: Driver, feed_server: FeedServer) -> None:
    """A one-off 1:1 with Ben, then none with him for five weeks."""
    once = Event("once", "1:1 Ana / Ben", f"{MONDAY} 10:00", 30, [BEN])
    later = Event("later", "Roadmap", "2026-04-06 11:00", 30, [BEN, *colleagues(2)])
    ana = driver.starts(at(MONDAY, "08:00"), feed_server, [once, later]).questions_a_day(4)
    _said_and_kept(ana)
    ana.run_until(at("2026-04-06", "11:40"))
    assert not _quoted(ana.nudge("reminder", "Roadmap"))
    assert _check_ids(ana.nudge("reflection", "Roadmap").message) == []
    assert _rows(ana)[0].state == "open"  # still open, on the Home tab


def test_home_lists_open_ones_with_did_it_and_drop(ana: Driver) -> None:
    _said_and_kept(ana)
    ana.open_home()
    home = ana.emulator.views["U1"]
    texts = "\n".join(str(b.get("text", {}).get("text", "")) for b in home["blocks"])
    assert PROMPTS.text("commitment.home.header") in texts and f"> {SAID}" in texts
    ids = [e["action_id"] for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert ckit.ACTION_DONE in ids and ckit.ACTION_DROP in ids
    ana.click(ckit.ACTION_DONE)
    assert _rows(ana)[0].state == "kept"
    home = ana.emulator.views["U1"]  # republished, without it
    assert SAID not in str(home["blocks"])

    # A second one, dropped.
    ana.run_until(at("2026-03-03", "11:40"))
    question = ana.nudge("reflection", "Planning")
    ana.says("Will check in with Carla after the launch.", thread_ts=question.ts)
    ana.click(ckit.ACTION_KEEP, _offers(ana)[-1])
    ana.open_home()
    ana.click(ckit.ACTION_DROP)
    assert [r.state for r in _rows(ana)] == ["kept", "dropped"]
    assert "Carla" not in str(ana.emulator.views["U1"]["blocks"])


def test_export_holds_them_in_clear_and_erase_removes_them(ana: Driver) -> None:
    _said_and_kept(ana)
    exported = privacy.export_user(ana.services, team_id=TEAM, user_id="U1")
    (item,) = exported["commitments"]
    assert (item["text"], item["state"], item["people"]) == (SAID, "open", [BEN])
    privacy.erase_user(ana.services, team_id=TEAM, user_id="U1")
    assert _rows(ana) == []


def test_an_uninstall_purges_them(ana: Driver) -> None:
    _said_and_kept(ana)
    privacy.purge_team(ana.services, team_id=TEAM)
    assert _rows(ana) == []


def test_a_reminder_composed_again_after_a_failed_send_quotes_it_again(ana: Driver) -> None:
    _said_and_kept(ana)
    ana.run_until(at("2026-03-03", "10:50"))
    ana.emulator.fault("chat.postMessage", status=500)  # Planning's reminder, first try
    ana.run_until(at("2026-03-03", "11:05"))
    assert len(ana.emulator.calls_to("chat.postMessage")) >= 2  # it was tried again
    assert _quoted(ana.nudge("reminder", "Planning"))
    (row,) = _rows(ana)
    assert row.quoted_for == ana.key_of("Planning")
