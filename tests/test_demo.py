"""``heedful demo``, installed and run as a person would run it: on a virtual clock, any
number of days shows every week of the sample calendar and that week's digest, whose
numbers agree with the DMs it printed and the answers the simulated person gave; the
meetings Heedful stays silent for, each with the reason Heedful had; answers that fit
their question and do not repeat within a week. Also with a calendar file of one's own,
and against another Slack API (a second emulator, started as its own process)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient

from bot.calendars.ics import parse_ics
from bot.demo import answers_for, person_name
from bot.demo_week import sample_calendar
from bot.emulator.blocks import validate_blocks
from bot.messages.library import group_of
from bot.messages.prompts import load_prompts

pytestmark = pytest.mark.slow

HEEDFUL = shutil.which("heedful", path=str(Path(sys.executable).parent)) or "heedful"
REPO = Path(__file__).resolve().parents[1]
MONDAY = date(2026, 3, 23)
BERLIN = ZoneInfo("Europe/Berlin")
ANA = "ana@example.com"
# Only a guard against a hung demo, never a speed check: how fast the demo runs is measured
# (README, "Quick start"), not asserted, since a busy shared machine makes any bound flaky.
HUNG = 600
DM_KEYS = {"at", "user", "kind", "occurrence", "text", "blocks"}  # DESIGN.md
QUESTIONS = ("reflection", "transition")
COLLEAGUES = ("feedback_ask", "peer-answer")
NUMBERS = re.compile(
    r"\*(?P<meetings>\d+) meetings with others\*.*\n"
    r"(?P<reminders>\d+) reminders before meetings; you reflected after "
    r"\*(?P<answered>\d+) of (?P<asked>\d+)\*"
)


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    return _run_all(*args, cwd=cwd, env=env)[0]


def _run_all(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[str, str]:
    """What the demo printed: its output and its errors (which must hold no traceback)."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "HEEDFUL_", "DATABASE_URL", "NO_COLOR"))
    }
    result = subprocess.run(
        [HEEDFUL, "demo", "--start", MONDAY.isoformat(), *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=HUNG,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout, result.stderr


def _demo(*args: str, cwd: Path, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _run("--json", *args, cwd=cwd, env=env).splitlines()]


def _at(line: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(line["at"].replace("Z", "+00:00"))


def _week_start(moment: datetime, zone: ZoneInfo) -> datetime:
    day = moment.astimezone(zone).date()
    return datetime.combine(day - timedelta(days=day.weekday()), datetime.min.time(), zone)


def _meetings_with_others(ics: bytes, *, email: str, start: datetime, until: datetime) -> int:
    """Meetings with others in the calendar from ``start`` until ``until``."""
    parsed = parse_ics(ics, source="ics:1", start=start, end=until, user_emails=(email,))
    return sum(1 for o in parsed.occurrences if o.eligible and start <= o.start < until)


def _check_the_story(
    lines: list[dict[str, Any]], *, user: str, zone: ZoneInfo, ics: bytes, email: str
) -> dict[datetime, tuple[dict[str, Any], dict[str, int]]]:
    """Every line has DESIGN.md's keys (a silence one more, its reason). Every week with
    a line ends with exactly one digest (on Friday) or, when the days played end first,
    with the answer to ``/heedful digest``; its numbers are those of the DMs sent, the
    answers given and the calendar's meetings that week until then. By week start."""
    for line in lines:
        extra = {"reason"} if line["kind"] == "silent" else set()
        assert set(line) == DM_KEYS | extra, line
        # Colleagues asked for feedback, and their taps, are theirs; the rest the person's.
        assert (line["user"] != user) == (line["kind"] in COLLEAGUES), line
        assert _at(line).tzinfo is not None
        assert isinstance(line["text"], str) and line["text"]
        assert validate_blocks(line["blocks"]) == [], line  # what Slack would accept
    assert [_at(line) for line in lines] == sorted(_at(line) for line in lines)
    weeks: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        weeks[_week_start(_at(line), zone)].append(line)
    found: dict[datetime, tuple[dict[str, Any], dict[str, int]]] = {}
    for start, week in weeks.items():
        (digest,) = [line for line in week if line["kind"] in ("digest", "week-so-far")]
        before = Counter(line["kind"] for line in week if _at(line) < _at(digest))
        numbers = NUMBERS.search(digest["text"])
        assert numbers, digest["text"]
        counts = {k: int(v) for k, v in numbers.groupdict().items()}
        assert counts["reminders"] == before["reminder"] + before["transition"]
        assert counts["asked"] == before["reflection"] + before["transition"]
        assert counts["answered"] == before["answer"]
        assert counts["meetings"] == _meetings_with_others(
            ics, email=email, start=start, until=_at(digest)
        )
        assert digest["blocks"] and digest["blocks"][0]["type"] == "header"
        found[start] = digest, counts
    return found


def _sample(zone: ZoneInfo = BERLIN, email: str = ANA) -> bytes:
    return sample_calendar(MONDAY, zone, email).encode()


def test_two_weeks_show_two_weeks_and_two_digests(tmp_path: Path) -> None:
    lines = _demo("--days", "14", cwd=tmp_path)
    weeks = _check_the_story(lines, user="U0DEMOANA", zone=BERLIN, ics=_sample(), email=ANA)
    second = datetime(2026, 3, 30, tzinfo=BERLIN)
    assert list(weeks) == [datetime(2026, 3, 23, tzinfo=BERLIN), second]
    for start, (digest, counts) in weeks.items():
        assert digest["kind"] == "digest"
        assert _at(digest) == start + timedelta(days=4, hours=16)  # Friday 16:00
        assert 0 < counts["answered"] < counts["asked"]  # most questions, not all
    days = {_at(line).astimezone(BERLIN).date() for line in lines if line["kind"] == "reminder"}
    assert days == {MONDAY + timedelta(days=d) for d in (0, 1, 2, 3, 4, 7, 8, 9, 10, 11)}
    kinds = Counter(line["kind"] for line in lines)
    assert kinds["reminder"] and kinds["reflection"] and kinds["transition"]
    assert not kinds["week-so-far"]  # the days played end after the second digest

    text = _run("--days", "14", cwd=tmp_path)
    assert text.splitlines()[0].startswith("Heedful demo: 14 days for Ana (Europe/Berlin)")
    assert "\nFriday 27 March\n" in text and "\nFriday 3 April\n" in text
    assert text.count("YOUR WEEK OF") == 2
    assert "YOUR WEEK OF 23 MARCH 2026" in text and "YOUR WEEK OF 30 MARCH 2026" in text
    assert "2 weekly digests" in text.splitlines()[-1]


TOTALS = re.compile(r"answered (\d+) times: (\d+) felt heard, (\d+) somewhat, (\d+) not really")


def test_by_default_two_weeks_show_the_why_and_feedback_from_colleagues(tmp_path: Path) -> None:
    """The default run: the person writes their why and Heedful names the focus it
    suggests; they turn feedback on for the all-hands; after it, the colleagues in the
    workspace are asked, some answer, and the next week's digest (not the first) holds
    exactly their total."""
    lines = _demo(cwd=tmp_path)
    weeks = _check_the_story(lines, user="U0DEMOANA", zone=BERLIN, ics=_sample(), email=ANA)
    assert len(weeks) == 2
    prompts = load_prompts()
    kinds = [line["kind"] for line in lines]
    why = kinds.index("why")
    assert lines[why]["text"] == prompts.text("demo.why_words")
    assert kinds[why + 1] == "notice" and "focus" in lines[why + 1]["text"]
    (tap,) = [line for line in lines if line["kind"] == "tap" and "All-hands" in line["text"]]
    asked = [line for line in lines if line["kind"] == "feedback_ask"]
    answered = [line for line in lines if line["kind"] == "peer-answer"]
    all_hands = datetime(2026, 3, 24, 10, tzinfo=BERLIN)
    assert _at(tap) < all_hands < min(_at(line) for line in asked)
    assert len({line["user"] for line in asked}) == len(asked) >= 5
    assert {line["user"] for line in answered} < {line["user"] for line in asked}
    first, second = (line for line in lines if line["kind"] == "digest")
    assert not TOTALS.search(first["text"])
    total = TOTALS.search(second["text"])
    assert total, second["text"]
    said = Counter(line["text"] for line in answered)
    labels = [prompts.text(f"button.feedback.{a}") for a in ("heard", "somewhat", "not_heard")]
    assert [int(n) for n in total.groups()] == [len(answered), *(said[x] for x in labels)]

    # A commitment in one of the person's answers is offered, accepted, quoted in the next
    # reminder for a meeting with the same people, asked about after it, and counted.
    offer = next(line for line in lines if line["kind"] == "commitment_offer")
    keep = load_prompts().text("button.commitment.keep")
    assert any(keep in t["text"] and _at(t) > _at(offer) for t in kinds_of(lines, "tap"))
    (words,) = re.findall(r"\n> (.+)", offer["blocks"][0]["text"]["text"])
    back = [r for r in kinds_of(lines, "reminder") if words in json.dumps(r["blocks"])]
    assert back and _at(back[0]) > _at(offer)
    check = next(q for q in lines if q["kind"] in QUESTIONS and _at(q) > _at(back[0]))
    assert words in json.dumps(check["blocks"])
    kept = [d for d in (first, second) if "You kept" in d["text"]]
    assert kept and _at(kept[0]) > _at(check)


def kinds_of(lines: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["kind"] == kind]


@pytest.mark.parametrize(("days", "digests"), [(3, 0), (10, 1), (21, 3)])
def test_any_number_of_days_shows_each_week_with_its_digest(
    tmp_path: Path, days: int, digests: int
) -> None:
    lines = _demo("--days", str(days), cwd=tmp_path)
    weeks = _check_the_story(lines, user="U0DEMOANA", zone=BERLIN, ics=_sample(), email=ANA)
    end = datetime(2026, 3, 23, 7, tzinfo=BERLIN) + timedelta(days=days)
    assert list(weeks) == [
        datetime(2026, 3, 23, tzinfo=BERLIN) + timedelta(weeks=w) for w in range((days + 4) // 7)
    ]
    kinds = [digest["kind"] for digest, _ in weeks.values()]
    assert kinds.count("digest") == digests
    if days % 7:  # the last week ends before its Friday: the person asks for it so far
        assert kinds[-1] == "week-so-far"
        (command,) = [line for line in lines if line["kind"] == "command"]
        assert command["text"] == "/heedful digest"
        so_far = weeks[max(weeks)][0]
        assert _at(command) == _at(so_far) == end
        assert so_far["text"].startswith("Your week so far")
    else:
        assert "week-so-far" not in kinds
    assert all(_at(line) < end for line in lines if line["kind"] not in ("command", "week-so-far"))


def _occurrences(ics: bytes, email: str, start: datetime, end: datetime) -> dict[str, Any]:
    parsed = parse_ics(
        ics, source="ics:1", start=start, end=end, user_emails=(email,), default_tz="Europe/Berlin"
    )
    return {o.key: o for o in parsed.occurrences if start <= o.start < end}


def test_the_meetings_heedful_stays_silent_for_are_shown_with_its_reasons(
    tmp_path: Path,
) -> None:
    lines = _demo("--days", "14", cwd=tmp_path)
    start = datetime(2026, 3, 23, 7, tzinfo=BERLIN)
    meetings = _occurrences(_sample(), ANA, start, start + timedelta(days=14))
    silent = {line["occurrence"]: line for line in lines if line["kind"] == "silent"}
    about = {line["occurrence"] for line in lines if line["kind"] in ("reminder", *QUESTIONS)}
    # Every meeting of the two weeks got a DM or one "stays silent" line, never both.
    assert set(silent) | about == set(meetings)
    assert not set(silent) & about
    assert len(silent) == len([line for line in lines if line["kind"] == "silent"])
    # Each line says why, as Heedful decided: the occurrence's own reason, else (the
    # 02:00 call) the planner's working hours; at the meeting's start.
    for key, line in silent.items():
        meeting = meetings[key]
        assert _at(line) == meeting.start
        local = meeting.start.astimezone(BERLIN)
        if meeting.skip_reason is not None:
            assert line["reason"] == meeting.skip_reason.value
        else:
            assert line["reason"] == "outside-hours"
            assert not 8 <= local.hour < 19
    reasons = Counter((meetings[k].title, line["reason"]) for k, line in silent.items())
    assert reasons == {
        ("Vendor sync", "declined"): 2,
        ("APAC sync", "outside-hours"): 2,
        ("Focus time", "focus"): 2,
        ("Team stand-up", "cancelled"): 1,
        ("Offsite prep day", "all-day"): 1,
    }
    assert silent[next(k for k in silent if "vendor" in k)]["text"] == (
        "stays silent: Vendor sync (you declined)"
    )

    text = _run("--days", "7", cwd=tmp_path)
    assert "  13:00  Heedful          stays silent: Vendor sync (you declined)\n" in text
    assert "  02:00  Heedful          stays silent: APAC sync (outside your working hours)\n" in (
        text
    )
    assert "\x1b[" not in text  # dim only on a terminal


def _questions_by_text() -> list[tuple[str, tuple[str, ...]]]:
    prompts = load_prompts()
    return [
        (variant, prompt.practices)
        for prompt in prompts
        if group_of(prompt) == "question"
        for variant in prompt.variants
    ]


def test_answers_fit_their_question_and_do_not_repeat_within_a_week(tmp_path: Path) -> None:
    lines = _demo("--days", "14", cwd=tmp_path)
    questions = _questions_by_text()
    asked = {_at(line): line for line in lines if line["kind"] in QUESTIONS}
    answers = [line for line in lines if line["kind"] == "answer"]
    assert len(answers) >= 15
    by_week: dict[datetime, list[str]] = defaultdict(list)
    for answer in answers:
        question = asked[_at(answer) - timedelta(minutes=3)]  # the person answers after 3'
        (practices,) = {p for text, p in questions if text in question["text"]}
        fitting = {text for practice in practices for text in answers_for(practice)}
        assert answer["text"] in fitting, (question["text"], answer["text"])
        by_week[_week_start(_at(answer), BERLIN)].append(answer["text"])
    assert len(by_week) == 2
    for given in by_week.values():
        assert len(given) == len(set(given)), given


def test_an_answers_file_gives_the_answers_in_the_order_of_the_questions(
    tmp_path: Path,
) -> None:
    answers = tmp_path / "answers.txt"
    answers.write_text("Listened first.\n\nFewer topics next time.\n", encoding="utf-8")
    lines = _demo("--days", "2", "--answers", str(answers), cwd=tmp_path)
    asked = [line for line in lines if line["kind"] in QUESTIONS]
    given = [line for line in lines if line["kind"] == "answer"]
    # Two questions a day: Monday Ben and Northwind, Tuesday the stand-up and Cleo.
    assert len(asked) == 4
    assert [a["text"] for a in given] == ["Listened first.", "Fewer topics next time."]
    assert [_at(a) - timedelta(minutes=3) for a in given] == [_at(asked[0]), _at(asked[2])]


# A week in New York for zoe@acme.test: a daily 1:1, a team review, an all-hands, a call
# with another company, a meeting she declined and a day off.
ZOE = "zoe@acme.test"
NEW_YORK = ZoneInfo("America/New_York")


def _event(uid: str, title: str, day: int, hhmm: str, minutes: int, people: list[str], **kw: str):
    start = datetime.combine(MONDAY + timedelta(days=day), datetime.min.time(), NEW_YORK)
    start += timedelta(hours=int(hhmm[:2]), minutes=int(hhmm[3:]))
    end = start + timedelta(minutes=minutes)
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}@acme.test",
        "DTSTAMP:20260301T120000Z",
        f"SUMMARY:{title}",
        f"DTSTART;TZID=America/New_York:{start:%Y%m%dT%H%M%S}",
        f"DTEND;TZID=America/New_York:{end:%Y%m%dT%H%M%S}",
        f"ORGANIZER:mailto:{people[0]}",
        f"ATTENDEE;PARTSTAT={kw.get('partstat', 'ACCEPTED')}:mailto:{ZOE}",
        *(f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{p}" for p in people),
    ]
    if "rrule" in kw:
        lines.append(f"RRULE:{kw['rrule']}")
    return [*lines, "END:VEVENT"]


def _zoes_week() -> bytes:
    crowd = [f"p{i}@acme.test" for i in range(15)]
    events = [
        *_event(
            "sam", "1:1 with Sam", 0, "10:00", 30, ["sam@acme.test"], rrule="FREQ=DAILY;COUNT=5"
        ),
        *_event("review", "Team review", 1, "14:00", 60, ["kim@acme.test", "lee@acme.test"]),
        *_event("allhands", "All-hands", 2, "11:00", 60, crowd),
        *_event("client", "Call with Northwind", 3, "15:00", 30, ["ola@northwind.test"]),
        *_event("vendor", "Vendor pitch", 3, "12:00", 30, ["x@vendor.test"], partstat="DECLINED"),
        "BEGIN:VEVENT",
        "UID:off@acme.test",
        "DTSTAMP:20260301T120000Z",
        "SUMMARY:Day off",
        "DTSTART;VALUE=DATE:20260327",
        "DTEND;VALUE=DATE:20260328",
        "END:VEVENT",
    ]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Heedful tests//EN", *events]
    return ("\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n").encode()


def test_answers_from_a_file_on_ones_own_calendar_bring_a_commitment_back(tmp_path: Path) -> None:
    """`heedful demo --answers FILE --ics FILE --user-email ADDR --json`: the file's answers,
    in order; the person accepts the offer to bring their commitment back; the next
    reminder for the 1:1 with the same person quotes it, and the question after that
    meeting asks whether they did it (they tap yes)."""
    ics = tmp_path / "zoe.ics"
    ics.write_bytes(_zoes_week())
    said = "Next time I'll let Sam finish before I answer."
    answers = tmp_path / "answers.txt"
    answers.write_text(f"{said}\n\nTalked over Kim twice.\n", encoding="utf-8")
    args = ("--ics", str(ics), "--user-email", ZOE, "--tz", "America/New_York", "--days", "7")
    lines = _demo(*args, "--answers", str(answers), cwd=tmp_path)
    _check_the_story(lines, user="U0DEMOZOE", zone=NEW_YORK, ics=_zoes_week(), email=ZOE)
    asked = [line for line in lines if line["kind"] in QUESTIONS]
    given = [line for line in lines if line["kind"] == "answer"]
    assert [a["text"] for a in given] == [said, "Talked over Kim twice."]
    assert [_at(a) - timedelta(minutes=3) for a in given] == [_at(asked[0]), _at(asked[2])]
    assert "1:1 with Sam" in asked[0]["text"]

    (offer,) = [line for line in lines if line["kind"] == "commitment_offer"]
    assert timedelta(0) <= _at(offer) - _at(given[0]) < timedelta(minutes=1)
    assert said in offer["text"]
    taps = [line for line in lines if line["kind"] == "tap"]
    keep = load_prompts().text("button.commitment.keep")
    assert any(keep in t["text"] and _at(t) > _at(offer) for t in taps)
    # The next reminder for a 1:1 with Sam (Tuesday's) quotes it; only that one.
    reminders = [line for line in lines if line["kind"] == "reminder" and _at(line) > _at(offer)]
    quoting = [r for r in reminders if said in json.dumps(r["blocks"], ensure_ascii=False)]
    assert [q["text"].startswith("1:1 with Sam at 10:00") for q in quoting] == [True]
    assert _at(quoting[0]).astimezone(NEW_YORK).date() == MONDAY + timedelta(days=1)
    # The question after it asks whether they did it, and they tap yes.
    (check,) = [q for q in asked if said in q["text"] and _at(q) > _at(quoting[0])]
    actions = {
        element["action_id"]
        for block in check["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }
    assert {
        "commitment_check_yes",
        "commitment_check_partly",
        "commitment_check_not_yet",
    } <= actions
    yes = load_prompts().text("button.commitment.yes")
    assert any(yes in t["text"] and _at(t) > _at(check) for t in taps)


def test_a_person_is_named_from_their_address() -> None:
    assert person_name("ana@example.com") == "Ana"
    assert person_name("zoe.martin+work@acme.test") == "Zoe Martin"
    assert person_name("j_doe@x.test") == "J Doe"


def test_the_demo_reads_a_calendar_file_for_an_address_and_names_that_person(
    tmp_path: Path,
) -> None:
    ics = tmp_path / "zoe.ics"
    ics.write_bytes(_zoes_week())
    args = ("--ics", str(ics), "--user-email", ZOE, "--tz", "America/New_York", "--days", "7")
    lines = _demo(*args, cwd=tmp_path)
    weeks = _check_the_story(lines, user="U0DEMOZOE", zone=NEW_YORK, ics=_zoes_week(), email=ZOE)
    ((digest, counts),) = weeks.values()
    assert counts["meetings"] == 8  # 5 1:1s, the review, the all-hands, the call
    assert "5 one-on-one, 1 small, 1 large, 1 with people from outside" in digest["text"]
    silent = {line["text"] for line in lines if line["kind"] == "silent"}
    assert silent == {
        "stays silent: Vendor pitch (you declined)",
        "stays silent: Day off (an all-day event)",
    }

    text = _run(*args, cwd=tmp_path)
    assert text.startswith("Heedful demo: 7 days for Zoe (America/New_York)")
    assert "Heedful → Zoe" in text and "Zoe → Heedful" in text
    assert "Ana" not in text


@pytest.fixture(name="other_slack")
def fixture_other_slack() -> Iterator[str]:
    """A second emulator, in its own process, with one person in New York."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.emulator", "--user", f"U0ZOE:America/New_York:{ZOE}"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"SLACK_API_URL=(\S+)", line)
        assert found, line
        yield found.group(1)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert "Traceback" not in stderr


def test_the_demo_against_another_slack_api_sends_there_and_says_so(
    tmp_path: Path, other_slack: str
) -> None:
    ics = tmp_path / "zoe.ics"
    ics.write_bytes(_zoes_week())
    args = ("--ics", str(ics), "--user-email", ZOE, "--slack-api-url", other_slack, "--days", "7")
    lines = _demo(*args, cwd=tmp_path)
    weeks = _check_the_story(lines, user="U0ZOE", zone=NEW_YORK, ics=_zoes_week(), email=ZOE)
    ((digest, _),) = weeks.values()
    # Friday 16:00 in New York (her Slack zone), once.
    assert _at(digest).astimezone(NEW_YORK).strftime("%A %H:%M") == "Friday 16:00"
    assert _at(digest) == datetime(2026, 3, 27, 20, 0, tzinfo=UTC)

    # The DMs are in her DM with the bot on that Slack (the quiet "kept" notices are
    # thread replies, which the history leaves out; the one notice there says her why was
    # kept), and the demo says they went there.
    client = WebClient(base_url=other_slack, token="xoxb-emulator")
    channel = client.conversations_open(users="U0ZOE")["channel"]["id"]
    history = client.conversations_history(channel=channel, limit=1000)["messages"]
    kinds = ("reminder", *QUESTIONS, "digest", "notice")
    sent = [line["text"] for line in lines if line["kind"] in kinds]
    assert sorted(m["text"] for m in history if m.get("bot_id")) == sorted(sent)
    text = _run(*args[:-2], "--days", "2", cwd=tmp_path)
    last = text.splitlines()[-1]
    assert "Nothing was sent to Slack" not in text
    assert last.endswith(f"Heedful's DMs went to the Slack API at {other_slack}.")
    assert text.startswith("Heedful demo: 2 days for Zoe (America/New_York)")


def _sample_as_changed_while_playing() -> bytes:
    """The sample week as ``--calendar google`` or ``microsoft`` changes it on Tuesday
    morning (``bot.demo_week.sample_changes``): Wednesday's 1:1 with Dana 30 minutes later,
    and Friday's 1:1 with Eli cancelled; as a feed would show it."""

    def instance(uid: str, day: int, hhmm: str, minutes: int, *extra: str) -> list[str]:
        start = datetime.combine(MONDAY + timedelta(days=day), datetime.min.time())
        start += timedelta(hours=int(hhmm[:2]), minutes=int(hhmm[3:]))
        end = start + timedelta(minutes=minutes)
        return [
            "BEGIN:VEVENT",
            f"UID:{uid}@demo.heedful",
            "DTSTAMP:20260322T230000Z",
            f"DTSTART;TZID=Europe/Berlin:{start:%Y%m%dT%H%M%S}",
            f"DTEND;TZID=Europe/Berlin:{end:%Y%m%dT%H%M%S}",
            *extra,
            "END:VEVENT",
        ]

    people = ("ORGANIZER:mailto:{0}", "ATTENDEE;PARTSTAT=ACCEPTED:mailto:{0}")
    dana = [p.format("dana@example.com") for p in people] + [
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{ANA}"
    ]
    changed = [
        *instance(
            "dana-1",
            2,
            "16:30",
            30,
            "SUMMARY:1:1 with Dana",
            "RECURRENCE-ID;TZID=Europe/Berlin:20260325T160000",
            *dana,
        ),
        *instance(
            "eli-1",
            4,
            "10:00",
            30,
            "SUMMARY:1:1 with Eli",
            "RECURRENCE-ID;TZID=Europe/Berlin:20260327T100000",
            "STATUS:CANCELLED",
        ),
    ]
    ics = _sample().decode()
    return ics.replace("END:VCALENDAR", "\r\n".join([*changed, "END:VCALENDAR"])).encode()


TOKENS = re.compile(r"ya29\.|1//0|4/0|access_token|refresh_token|state=|code=|client_secret")


def test_with_google_calendar_the_week_is_connected_by_sign_in_and_changes_come_by_push(
    tmp_path: Path,
) -> None:
    """`heedful demo --calendar google`: the sample week in the fake Google, connected
    through the real sign-in (link, consent, callback) and synced by the worker; the
    same reminders as from the feed, except that on Tuesday morning Wednesday's 1:1 with
    Dana moves 30 minutes later and Friday's 1:1 with Eli is cancelled, and Google says
    so by push: the reminder comes at the new time, and nothing about Eli's."""
    out, err = _run_all("--json", "--calendar", "google", "--days", "7", cwd=tmp_path)
    lines = [json.loads(line) for line in out.splitlines()]
    changed = _sample_as_changed_while_playing()
    _check_the_story(lines, user="U0DEMOANA", zone=BERLIN, ics=changed, email=ANA)
    prompts = load_prompts()
    # Connected through Google sign-in: the worker's DM, before any reminder.
    kinds = [line["kind"] for line in lines]
    (connected,) = [line for line in lines if "Connected your Google Calendar" in line["text"]]
    assert connected["kind"] == "notice" and ANA in connected["text"]
    assert kinds.index("reminder") > lines.index(connected)
    # The two changes, each a line at Tuesday 08:30, with the meeting it is about.
    moved, cancelled = kinds_of(lines, "calendar-change")
    tuesday = datetime(2026, 3, 24, 8, 30, tzinfo=BERLIN)
    assert _at(moved) == _at(cancelled) == tuesday
    assert moved["text"] == prompts.text(
        "demo.change.google.moved", title="1:1 with Dana", day="Wednesday", old="16:00", new="16:30"
    )
    assert cancelled["text"] == prompts.text(
        "demo.change.google.cancelled", title="1:1 with Eli", day="Friday", old="10:00"
    )
    assert moved["occurrence"] and cancelled["occurrence"]
    # The same reminders as the feed's for the same days, but Dana's at its new time and
    # none for Eli's cancelled 1:1.
    feed = _demo("--days", "7", cwd=tmp_path)
    dana = datetime(2026, 3, 25, 15, 55, tzinfo=BERLIN)
    eli = datetime(2026, 3, 27, 9, 55, tzinfo=BERLIN)
    expected = sorted(
        dana + timedelta(minutes=30) if _at(r) == dana else _at(r)
        for r in kinds_of(feed, "reminder")
        if _at(r) != eli
    )
    assert sorted(_at(r) for r in kinds_of(lines, "reminder")) == expected
    assert len(kinds_of(lines, "reminder")) == len(kinds_of(feed, "reminder")) - 1
    (reminder,) = [r for r in kinds_of(lines, "reminder") if r["occurrence"] == moved["occurrence"]]
    assert _at(reminder) == dana + timedelta(minutes=30)
    assert reminder["text"].startswith("1:1 with Dana at 16:30")
    about_eli = [line for line in lines if line["occurrence"] == cancelled["occurrence"]]
    assert about_eli == [cancelled]
    # The colleagues of the all-hands are asked, as with the feed.
    assert len(kinds_of(lines, "feedback_ask")) == len(kinds_of(feed, "feedback_ask")) >= 5
    # No token, code or state of the sign-in is ever printed.
    assert not TOKENS.search(out) and not TOKENS.search(err)

    text, err = _run_all("--calendar", "google", "--days", "2", cwd=tmp_path)
    (calendar,) = [line for line in text.splitlines() if line.startswith("Calendar: ")]
    assert "in Google Calendar" in calendar
    assert "  08:30  Google Calendar  1:1 with Dana on Wednesday moves from 16:00 to 16:30" in text
    assert not TOKENS.search(text) and not TOKENS.search(err)


# What a Microsoft sign-in must never print: the fake's codes ("1.A…"), access ("EwB…")
# and refresh ("M.C…") tokens, MSAL's and Graph's secrets by name.
MS_TOKENS = re.compile(
    r"1\.A[\w-]{20}|EwB[\w-]{20}|M\.C[\w-]{20}|access_token|refresh_token|client_info|"
    r"code_verifier|clientState|validationToken|state=|code=|client_secret"
)


def _heading(reminder: dict[str, Any]) -> str:
    """What a reminder is about: ``1:1 with Dana at 16:30``."""
    found = re.match(r".+? at \d\d:\d\d", reminder["text"])
    assert found, reminder["text"]
    return found.group()


def test_with_outlook_the_week_is_connected_by_microsoft_sign_in_and_changes_come_by_notification(
    tmp_path: Path,
) -> None:
    """`heedful demo --calendar microsoft`: the sample week in the fake Microsoft, each
    series a weekly series of Graph, connected through the real Microsoft sign-in (MSAL,
    over HTTPS the demo's process trusts) and read by delta sync; on Tuesday morning
    Wednesday's 1:1 with Dana moves 30 minutes later and Friday's 1:1 with Eli is
    cancelled, announced by one change notification: the reminder comes at the new time,
    Eli's meeting is a silence, and every other meeting has its one reminder as from
    the feed."""
    out, err = _run_all("--json", "--calendar", "microsoft", "--days", "7", cwd=tmp_path)
    lines = [json.loads(line) for line in out.splitlines()]
    _check_the_story(
        lines, user="U0DEMOANA", zone=BERLIN, ics=_sample_as_changed_while_playing(), email=ANA
    )
    prompts = load_prompts()
    kinds = [line["kind"] for line in lines]
    (connected,) = [line for line in lines if "Connected your Outlook calendar" in line["text"]]
    assert connected["kind"] == "notice" and ANA in connected["text"]
    assert kinds.index("reminder") > lines.index(connected)
    moved, cancelled = kinds_of(lines, "calendar-change")
    tuesday = datetime(2026, 3, 24, 8, 30, tzinfo=BERLIN)
    assert _at(moved) == _at(cancelled) == tuesday
    assert moved["text"] == prompts.text(
        "demo.change.microsoft.moved",
        title="1:1 with Dana",
        day="Wednesday",
        old="16:00",
        new="16:30",
    )
    assert cancelled["text"] == prompts.text(
        "demo.change.microsoft.cancelled", title="1:1 with Eli", day="Friday", old="10:00"
    )
    assert moved["occurrence"] and cancelled["occurrence"]
    # One reminder per meeting, at the feed's times, but Dana's at its new time and none
    # for Eli's cancelled 1:1, which is a silence at its start.
    reminders = kinds_of(lines, "reminder")
    assert len({r["occurrence"] for r in reminders}) == len(reminders)
    feed = _demo("--days", "7", cwd=tmp_path)
    dana = datetime(2026, 3, 25, 15, 55, tzinfo=BERLIN)
    eli = datetime(2026, 3, 27, 9, 55, tzinfo=BERLIN)
    expected = sorted(
        dana + timedelta(minutes=30) if _at(r) == dana else _at(r)
        for r in kinds_of(feed, "reminder")
        if _at(r) != eli
    )
    assert sorted(_at(r) for r in reminders) == expected
    assert [_heading(r) for r in reminders] == [
        _heading(r).replace("Dana at 16:00", "Dana at 16:30")
        for r in kinds_of(feed, "reminder")
        if _at(r) != eli
    ]
    (reminder,) = [r for r in reminders if r["occurrence"] == moved["occurrence"]]
    assert _at(reminder) == dana + timedelta(minutes=30)
    assert reminder["text"].startswith("1:1 with Dana at 16:30")
    about_eli = [line for line in lines if line["occurrence"] == cancelled["occurrence"]]
    assert [(line["kind"], line.get("reason")) for line in about_eli] == [
        ("calendar-change", None),
        ("silent", "cancelled"),
    ]
    assert _at(about_eli[1]) == datetime(2026, 3, 27, 10, tzinfo=BERLIN)
    assert len(kinds_of(lines, "feedback_ask")) == len(kinds_of(feed, "feedback_ask")) >= 5
    assert not MS_TOKENS.search(out) and not MS_TOKENS.search(err)

    text, err = _run_all("--calendar", "microsoft", "--days", "2", cwd=tmp_path)
    (calendar,) = [line for line in text.splitlines() if line.startswith("Calendar: ")]
    assert "in Outlook" in calendar and "signs in with Microsoft" in calendar
    assert "Connected your Outlook calendar ana@example.com" in text
    assert "  08:30  Outlook          1:1 with Dana on Wednesday moves from 16:00 to 16:30" in text
    assert not MS_TOKENS.search(text) and not MS_TOKENS.search(err)


def test_outlook_over_two_weeks_keeps_syncing_as_the_days_move_on(tmp_path: Path) -> None:
    """The default two weeks through Outlook: the second week's meetings come into the
    delta window while the days play (the periodic sync on the demo's poll), each with
    its one reminder, and both digests come."""
    lines = _demo("--calendar", "microsoft", cwd=tmp_path)
    weeks = _check_the_story(
        lines, user="U0DEMOANA", zone=BERLIN, ics=_sample_as_changed_while_playing(), email=ANA
    )
    assert [digest["kind"] for digest, _ in weeks.values()] == ["digest", "digest"]
    reminders = kinds_of(lines, "reminder")
    assert len({r["occurrence"] for r in reminders}) == len(reminders)
    days = {_at(r).astimezone(BERLIN).date() for r in reminders}
    assert days == {MONDAY + timedelta(days=d) for d in (0, 1, 2, 3, 4, 7, 8, 9, 10, 11)}
    second = [r for r in reminders if _at(r) >= datetime(2026, 3, 30, tzinfo=BERLIN)]
    assert any(r["text"].startswith("Sprint planning at 14:00") for r in second)


def test_trusting_the_fakes_certificate_lasts_only_as_long_as_the_fake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's process trusts the fake Microsoft's certificate besides what it trusted
    before, only inside the block; then the environment is as it was."""
    from bot.demo_calendars import TRUST_VARIABLES, trusting

    before = tmp_path / "before.pem"
    before.write_text("-----BEGIN CERTIFICATE-----\nBEFORE\n-----END CERTIFICATE-----\n")
    fake = tmp_path / "fake.pem"
    fake.write_text("-----BEGIN CERTIFICATE-----\nFAKE\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(before))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with trusting(str(fake)):
        bundles = {os.environ[name] for name in TRUST_VARIABLES}
        (bundle,) = bundles
        text = Path(bundle).read_text()
        assert "BEFORE" in text and "FAKE" in text
    assert os.environ["REQUESTS_CA_BUNDLE"] == str(before)
    assert "SSL_CERT_FILE" not in os.environ
    assert not Path(bundle).exists()


@pytest.mark.parametrize("calendar", ["google", "microsoft"])
def test_a_calendar_file_is_a_feed_not_a_sign_in(tmp_path: Path, calendar: str) -> None:
    ics = tmp_path / "zoe.ics"
    ics.write_bytes(_zoes_week())
    result = subprocess.run(
        [HEEDFUL, "demo", "--ics", str(ics), "--calendar", calendar],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=HUNG,
    )
    assert result.returncode == 2 and f"--calendar {calendar}" in result.stderr


def test_the_readme_excerpt_is_what_the_demo_prints(tmp_path: Path) -> None:
    """The excerpt in the README's Quick start, piece by piece (between its "…" lines),
    is in the output of the command it names. If this fails after a change to what
    Heedful says, re-render the excerpt from `heedful demo --start 2026-03-23`."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = re.search(
        r"An excerpt of `heedful demo --start 2026-03-23`.*?```\n(.*?)```", readme, re.S
    )
    assert found, "the README has no excerpt of `heedful demo --start 2026-03-23`"
    output = _run(cwd=tmp_path)
    pieces = [p.strip("\n") for p in re.split(r"^\s*…\n", found.group(1), flags=re.M)]
    assert len(pieces) > 3
    for piece in filter(None, pieces):
        assert piece in output, piece
