"""The leader's export holds their feedback series, the meetings to ask about and the
weekly totals they may see (never an open week or one below the threshold); erase removes
all of it and the questions about their meetings; uninstall purges every feedback table;
a respondent's *never ask me again* survives the leader's erase."""

from __future__ import annotations

import json

import sqlalchemy as sa
from asking import (
    ANA,
    BALLOT,
    BEN,
    MEETING,
    TALLY,
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

from bot import feedback, privacy, workspaces
from bot.emulator import SlackEmulator
from bot.messages import feedback as fkit
from bot.services import Services
from bot.storage.models import FeedbackKey, FeedbackOptOut, FeedbackSeries

SERIES = FeedbackSeries.__table__
OPT_OUT = FeedbackOptOut.__table__
KEY = FeedbackKey.__table__


def _a_closed_week_and_an_open_one(
    play: Play, services: Services, emulator: SlackEmulator
) -> list[tuple[str, str]]:
    """Ana's weekly sync: all five colleagues answer on Monday 2 March (a week that closes
    with a total), two answer on Monday 9 March (still open); one of them then asks never
    to be asked again. Ben asks the others about his meeting on Tuesday 10 March."""
    people = colleagues(emulator, 5)
    addresses = [e for _, e in people]
    leader(services, ANA)
    leader(services, BEN, tz="America/New_York")
    ask_for_feedback(
        services,
        ANA,
        [meeting(ANA, at(day, "11:00"), addresses) for day in ("2026-03-02", "2026-03-09")],
    )
    ask_for_feedback(
        services, BEN, [meeting(BEN, at("2026-03-10", "15:00"), addresses, series="ben")]
    )
    play.run_until(at("2026-03-02", "19:00"))
    for user_id, _ in people:
        play.answer(play.dms(user_id)[0], "heard")
    play.run_until(at("2026-03-09", "19:00"))
    for user_id, _ in people[:2]:
        play.answer(play.dms(user_id)[1], "somewhat")
    play.tap(play.dms(people[0][0])[1], fkit.ACTION_NEVER)
    play.run_until(at("2026-03-10", "19:00"))  # Ben's meeting, his questions
    return people


def test_the_export_holds_her_series_meetings_and_the_totals_she_may_see(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    _a_closed_week_and_an_open_one(play, services, emulator)

    export = privacy.export_user(services, team_id=TEAM, user_id=ANA)

    (series,) = export["feedback_series"]
    assert series["series_key"] == f"ics:{ANA}|team"
    assert {m["state"] for m in export["feedback_meetings"]} == {"asked"}
    assert export["feedback_totals"] == [
        {
            "week": "2026-W10",
            "answers": 5,
            "heard": 5,
            "somewhat": 0,
            "not_heard": 0,
            "people": 5,
            "own_presence": None,
        }
    ]  # not 2026-W11: still open, and two answers
    assert export["feedback_never_ask"] is False
    json.dumps(export)  # the file is JSON
    bens = privacy.export_user(services, team_id=TEAM, user_id=BEN)
    assert bens["feedback_totals"] == [] and "|team" not in json.dumps(bens)


def test_erase_removes_her_feedback_and_the_questions_about_her_meetings_not_opt_outs(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    people = _a_closed_week_and_an_open_one(play, services, emulator)
    assert any(r.payload["leader"] == ANA for r in asks(services))
    bens_before = [r.id for r in asks(services) if r.payload["leader"] == BEN]
    assert bens_before and rows(services, BALLOT)

    privacy.erase_user(services, team_id=TEAM, user_id=ANA)

    for table in (SERIES, MEETING, TALLY, BALLOT):
        leader_column = "leader_id" if "leader_id" in table.c else "user_id"
        assert rows(services, table, **{leader_column: ANA}) == [], table.name
    assert feedback.week_totals(services, TEAM, ANA, "2026-W10") is None
    assert [r.payload["leader"] for r in asks(services)] == [BEN] * len(bens_before)
    assert [r.series_key for r in rows(services, SERIES)] == [f"ics:{BEN}|ben"]
    assert len(rows(services, OPT_OUT)) == 1  # the respondent's choice stays

    # Her old question, tapped after the erase, counts for nothing.
    play.answer(play.dms(people[2][0])[1], "not_heard")
    assert rows(services, TALLY) == [] and rows(services, BALLOT) == []


def test_uninstall_purges_every_feedback_table_of_the_workspace(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    _a_closed_week_and_an_open_one(play, services, emulator)
    tables = (SERIES, MEETING, TALLY, BALLOT, OPT_OUT, KEY)
    assert all(rows(services, table) for table in tables)

    workspaces.on_uninstalled(services, team_id=TEAM)

    with services.engine.connect() as conn:
        for table in tables:
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
