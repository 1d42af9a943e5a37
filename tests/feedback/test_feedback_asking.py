"""After a meeting of five or more colleagues, in a series whose leader asked for feedback,
each colleague found in the workspace gets one anonymous question: through the outbox,
inside 08:00–19:00 of their own zone, at most one a day whoever asks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

from asking import (
    ANA,
    BEN,
    BERLIN,
    MEETING,
    Play,
    ask_for_feedback,
    asks,
    at,
    colleagues,
    leader,
    meeting,
    rows,
    store,
)

from bot.app import Heedful
from bot.calendars.occurrence import Status
from bot.emulator import SlackEmulator
from bot.messages import feedback as fkit
from bot.messages.prompts import load_prompts
from bot.services import Services

MONDAY = "2026-03-02"


def test_each_colleague_of_a_meeting_gets_one_anonymous_question_that_says_who_asked(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    people = colleagues(emulator, 6)
    emulator.add_user("UGONE", email="gone@example.com", deleted=True)
    emulator.add_user("UBOT", email="bot@example.com", is_bot=True)
    invited = [email for _, email in people] + [
        "guest@partner.example.org",  # not in the workspace
        "gone@example.com",  # deactivated
        "bot@example.com",
        "ana@example.com",  # the leader, under another address the feed did not know
    ]
    leader(services, ANA)
    ask_for_feedback(services, ANA, [meeting(ANA, at(MONDAY, "11:00"), invited)])

    play.run_until(at(MONDAY, "20:00"))

    prompts = load_prompts()
    for user_id, _ in people:
        (dm,) = play.dms(user_id)
        assert play.sent_at[dm.ts] == at(MONDAY, "11:35")  # five minutes after the end
        words = dm.words()
        assert "Team sync" in words and "<@U1>" in words  # the meeting, and who asked
        assert prompts.text("feedback.ask.question", title="Team sync") in words
        assert prompts.text("feedback.ask.anonymous", leader="<@U1>") in words
        assert dm.action_ids() == [
            *(fkit.answer_action(a) for a in fkit.ANSWERS),
            fkit.ACTION_NEVER,
        ]
    for nobody in ("UGONE", "UBOT", ANA):
        assert asks(services, nobody) == []
    assert play.dms(ANA) == []
    looked_up = [c.params["email"] for c in emulator.calls_to("users.lookupByEmail")]
    assert sorted(looked_up) == sorted(invited)  # each address once
    (done,) = rows(services, MEETING)
    assert done.state == "asked" and done.asked == 6 and done.people == []  # addresses gone


def test_a_meeting_with_fewer_than_five_colleagues_in_the_workspace_asks_no_one(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    people = colleagues(emulator, 4)
    outside = [f"guest{i}@partner.example.org" for i in range(3)]
    leader(services, ANA)
    ask_for_feedback(
        services, ANA, [meeting(ANA, at(MONDAY, "11:00"), [e for _, e in people] + outside)]
    )

    play.run_until(at(MONDAY, "20:00"))

    assert asks(services) == []
    (skipped,) = rows(services, MEETING)
    assert (skipped.state, skipped.reason, skipped.people) == ("skipped", "too_few", [])


def test_without_feedback_on_no_address_is_kept_and_no_one_is_looked_up(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    people = colleagues(emulator, 6)
    leader(services, ANA)
    ask_for_feedback(
        services, ANA, [meeting(ANA, at(MONDAY, "11:00"), [e for _, e in people])], on=False
    )

    play.run_until(at(MONDAY, "20:00"))

    assert rows(services, MEETING) == []
    assert emulator.calls_to("users.lookupByEmail") == []
    assert asks(services) == []


def test_one_question_a_day_per_person_whoever_asks_the_next_on_the_next_working_day(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    people = colleagues(emulator, 5)
    addresses = [e for _, e in people]
    leader(services, ANA)  # Berlin
    leader(services, BEN, tz="America/New_York")
    ask_for_feedback(services, ANA, [meeting(ANA, at(MONDAY, "11:00"), addresses)])
    ask_for_feedback(
        services,
        BEN,
        [meeting(BEN, at(MONDAY, "15:00"), addresses, series="review", title="Review")],
    )

    play.run_until(at("2026-03-03", "20:00"))

    for user_id, _ in people:
        first, second = play.dms(user_id)
        assert play.sent_at[first.ts] == at(MONDAY, "11:35") and "<@U1>" in first.words()
        # Ben's meeting ended at 15:30 on Monday: the day was taken, so Tuesday morning.
        assert play.sent_at[second.ts] == at("2026-03-03", "08:00") and "<@U2>" in second.words()
        days = [play.sent_at[dm.ts].astimezone(BERLIN).date() for dm in (first, second)]
        assert len(set(days)) == 2
        assert sorted(r.ref for r in asks(services, user_id)) == ["2026-03-02", "2026-03-03"]


def test_questions_come_only_between_08_00_and_19_00_of_each_persons_own_zone(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    berlin = colleagues(emulator, 3)
    los_angeles = colleagues(emulator, 1, tz="America/Los_Angeles", first=4)
    tokyo = colleagues(emulator, 1, tz="Asia/Tokyo", first=5)
    everyone = berlin + los_angeles + tokyo
    leader(services, ANA)
    # 16:00–16:30 in Berlin is 07:00 in Los Angeles and past midnight in Tokyo.
    ask_for_feedback(services, ANA, [meeting(ANA, at(MONDAY, "16:00"), [e for _, e in everyone])])

    play.run_until(at("2026-03-03", "20:00"))

    zones = {user_id: "Europe/Berlin" for user_id, _ in berlin}
    zones |= {los_angeles[0][0]: "America/Los_Angeles", tokyo[0][0]: "Asia/Tokyo"}
    for user_id, zone in zones.items():
        (dm,) = play.dms(user_id)
        local = play.sent_at[dm.ts].astimezone(ZoneInfo(zone))
        assert "08:00" <= local.strftime("%H:%M") < "19:00" and local.weekday() < 5
    la = play.sent_at[play.dms(los_angeles[0][0])[0].ts].astimezone(ZoneInfo("America/Los_Angeles"))
    assert la.strftime("%Y-%m-%d %H:%M") == "2026-03-02 08:00"
    jp = play.sent_at[play.dms(tokyo[0][0])[0].ts].astimezone(ZoneInfo("Asia/Tokyo"))
    assert jp.strftime("%Y-%m-%d %H:%M") == "2026-03-03 08:00"
    assert play.sent_at[play.dms(berlin[0][0])[0].ts] == at(MONDAY, "16:35")


def test_a_meeting_ending_on_friday_evening_asks_no_one_over_the_weekend(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    people = colleagues(emulator, 5)
    leader(services, ANA)
    friday = meeting(ANA, at("2026-03-06", "18:45"), [e for _, e in people])
    ask_for_feedback(services, ANA, [friday])

    play.run_until(at("2026-03-09", "20:00"))

    # 19:20 is past the day; Monday is more than a day after the meeting.
    assert asks(services) == []
    assert [r.state for r in rows(services, MEETING)] == ["asked"]


def test_a_rate_limited_lookup_waits_out_retry_after_then_asks_everyone_once(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    people = colleagues(emulator, 5)
    leader(services, ANA)
    ask_for_feedback(services, ANA, [meeting(ANA, at(MONDAY, "11:00"), [e for _, e in people])])
    emulator.fault("users.lookupByEmail", status=429, retry_after="90")

    play.run_until(at(MONDAY, "11:35"))
    assert asks(services) == []
    (waiting,) = rows(services, MEETING)
    assert waiting.state == "waiting" and waiting.not_before == at(MONDAY, "11:36:30")
    play.clock.advance(timedelta(seconds=60))
    play.heedful.ask_for_feedback()  # still inside Retry-After: no call to Slack
    assert len(emulator.calls_to("users.lookupByEmail")) == 1

    play.run_until(at(MONDAY, "12:00"))
    assert len(emulator.calls_to("users.lookupByEmail")) == 1 + 5
    for user_id, _ in people:
        (dm,) = play.dms(user_id)
        assert play.sent_at[dm.ts] == at(MONDAY, "11:36:30")


def test_a_meeting_cancelled_before_it_ends_asks_no_one(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    people = colleagues(emulator, 5)
    leader(services, ANA)
    monday = meeting(ANA, at(MONDAY, "11:00"), [e for _, e in people])
    ask_for_feedback(services, ANA, [monday])
    store(services, ANA, [replace(monday, status=Status.CANCELLED)])

    play.run_until(at(MONDAY, "20:00"))

    assert asks(services) == []
    assert emulator.calls_to("users.lookupByEmail") == []
    (skipped,) = rows(services, MEETING)
    assert (skipped.state, skipped.reason) == ("skipped", "cancelled")


def test_two_instances_running_the_job_at_once_ask_each_person_once_a_meeting(
    play: Play, second: Heedful, services: Services, emulator: SlackEmulator
) -> None:
    people = colleagues(emulator, 6)
    addresses = [e for _, e in people]
    leader(services, ANA)
    leader(services, BEN, tz="America/New_York")
    ask_for_feedback(services, ANA, [meeting(ANA, at(MONDAY, "11:00"), addresses)])
    ask_for_feedback(
        services, BEN, [meeting(BEN, at(MONDAY, "11:00"), addresses, series="ben", title="Ben's")]
    )
    play.clock.set(at(MONDAY, "11:35"))
    apps = [play.heedful, second]

    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(3):
            list(pool.map(lambda app: app.ask_for_feedback(), apps))

    for user_id, _ in people:
        mine = sorted(asks(services, user_id), key=lambda r: r.ref)
        # Both meetings asked about, once each, on two different days.
        assert [r.ref for r in mine] == ["2026-03-02", "2026-03-03"]
        assert sorted(r.payload["leader"] for r in mine) == [ANA, BEN]
    assert {r.state for r in rows(services, MEETING)} == {"asked"}
