"""*Never ask me again*, tapped on one leader's question, holds for every leader's meetings
from then on, and survives the leader's erase (and the person's own)."""

from __future__ import annotations

from asking import (
    ANA,
    BEN,
    TEAM,
    Play,
    ask_for_feedback,
    asks,
    at,
    colleagues,
    leader,
    meeting,
    rows,
)

from bot import privacy
from bot.emulator import SlackEmulator
from bot.messages import feedback as fkit
from bot.messages.prompts import load_prompts
from bot.services import Services
from bot.storage.models import FeedbackOptOut

OPT_OUT = FeedbackOptOut.__table__


def test_never_ask_me_again_on_anas_question_holds_for_bens_meetings(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    people = colleagues(emulator, 6)
    addresses = [e for _, e in people]
    leader(services, ANA)
    leader(services, BEN, tz="America/New_York")
    ask_for_feedback(services, ANA, [meeting(ANA, at("2026-03-02", "11:00"), addresses)])
    # Ben's meeting ends after Ana's question went out: its questions are for Tuesday.
    ben_monday = meeting(BEN, at("2026-03-02", "15:00"), addresses, series="ops", title="Ops")
    ben_wednesday = meeting(BEN, at("2026-03-04", "15:00"), addresses, series="ops", title="Ops")
    ask_for_feedback(services, BEN, [ben_monday, ben_wednesday])
    play.run_until(at("2026-03-02", "16:00"))
    leaving, _ = people[0]
    (anas,) = play.dms(leaving)
    (pending,) = [r for r in asks(services, leaving) if r.state == "pending"]
    assert pending.payload["leader"] == BEN  # Ben's Tuesday question, already planned

    done = play.tap(anas, fkit.ACTION_NEVER)

    words = str(done.blocks)
    assert load_prompts().text("feedback.never_done") in words
    assert fkit.ACTION_NEVER not in done.action_ids()
    assert not any(a.startswith(fkit.ACTION_ANSWER) for a in done.action_ids())
    assert [r.state for r in asks(services, leaving) if r.id == pending.id] == ["skipped"]
    # The opt-out names no one: a keyed hash, not the person's id.
    (opt_out,) = rows(services, OPT_OUT)
    assert leaving not in str(opt_out) and len(opt_out.person) == 64

    play.run_until(at("2026-03-04", "19:00"))

    assert len(play.dms(leaving)) == 1  # Ana's, before; nothing from Ben, ever
    for other, _ in people[1:]:
        assert [("<@U2>" in dm.words()) for dm in play.dms(other)] == [False, True, True]


def test_an_opt_out_survives_the_leaders_erase_and_the_persons_own(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    people = colleagues(emulator, 5)
    addresses = [e for _, e in people]
    leader(services, ANA)
    leader(services, BEN, tz="America/New_York")
    ask_for_feedback(services, ANA, [meeting(ANA, at("2026-03-02", "11:00"), addresses)])
    play.run_until(at("2026-03-02", "12:00"))
    leaving, _ = people[0]
    (question,) = play.dms(leaving)
    play.tap(question, fkit.ACTION_NEVER)

    privacy.erase_user(services, team_id=TEAM, user_id=ANA)  # the leader who asked
    privacy.erase_user(services, team_id=TEAM, user_id=leaving)  # and the person themself
    assert len(rows(services, OPT_OUT)) == 1

    ask_for_feedback(services, BEN, [meeting(BEN, at("2026-03-03", "09:00"), addresses)])
    play.run_until(at("2026-03-03", "19:00"))

    assert asks(services, leaving) == []
    assert all(len(play.dms(other)) == 2 for other, _ in people[1:])
    assert privacy.export_user(services, team_id=TEAM, user_id=leaving)["feedback_never_ask"]
