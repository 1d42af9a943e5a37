"""Digest benchmark: 10,000 users' weekly digests, composed the way the sender composes
them, against a bare SQL aggregate of the same numbers in the same run.

    python bench/digest.py                       # SQLite, 10,000 users
    python bench/digest.py --backend postgres    # PostgreSQL, in a private schema
    python bench/digest.py --backend both --quick

Seeded with SQLAlchemy Core bulk inserts (not timed): 10,000 opted-in users in ten IANA
zones, each with a week of ten meetings with others (1:1s, small, large, external), a
reminder and a reflection question sent for each, about 60 % of the questions answered
(text and a 1-5 presence), the wordings shown (cue, intention, question), last week's
experiment, and this week's digest delivery, pending, due on Friday 16:00 local.

* **Heedful**: what the sender does with the digest rows of its batches: for each batch of
  ``Sender.batch_size`` (200) rows, ``DigestComposer.prepare`` (the users' zones, the
  four reads of ``load_weeks``, ``summarize``, the Block Kit builder and one insert of
  the experiments shown), then the composer call per row. Everything a digest shows.
* **Baseline**: the numbers alone, with the DB driver (sqlite3 / psycopg), three
  ``GROUP BY user`` statements over all users at once: meetings with others in the
  user's week (by kind), reminders and questions sent, questions answered and mean
  presence. The users' week windows come from a bench-only table.

Goal: Heedful ≤ 1.5× the baseline. Both sides are checked to find the same numbers.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from _common import (
    Database,
    add_common_args,
    backends,
    header,
    private_database,
    quiet_logging,
    verdict,
)

from bot.clock import VirtualClock
from bot.config import Settings
from bot.digest import DigestComposer
from bot.messages.prompts import load_prompts
from bot.sender import Skip
from bot.services import build_services
from bot.storage.models import (
    Delivery,
    DeliveryKind,
    Installation,
    OccurrenceRow,
    PromptShown,
    Reflection,
    SlackUser,
    UTCDateTime,
)
from bot.storage.repository import ClaimedDelivery

GOAL = 1.5
BATCH = 200  # Sender.batch_size
TEAM = "T0001"
MONDAY = date(2026, 3, 9)  # a week with no DST change anywhere below
ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Adelaide",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Europe/London",
    "America/Sao_Paulo",
    "Africa/Lagos",
    "Pacific/Auckland",
)
# (day, local start, minutes, attendees, external) for the ten meetings of a week
MEETINGS = (
    (0, "10:00", 30, 2, False),
    (0, "14:00", 45, 5, False),
    (1, "10:00", 60, 14, False),
    (1, "15:00", 30, 3, True),
    (2, "10:00", 30, 2, False),
    (2, "14:00", 60, 6, False),
    (3, "10:00", 30, 2, False),
    (3, "14:00", 60, 25, False),
    (4, "10:00", 30, 4, False),
    (4, "13:00", 30, 2, False),
)
ANSWERED = 0.6
ANSWERS = (
    "I asked what worried them before giving my view, and listened to the end.",
    "Had my laptop open the whole time; closed it halfway and it felt different.",
    "Summed up what I heard and got it half wrong. Glad I checked.",
    "Thanked them for the preparation by name. It landed.",
    "Rushed the last item. Next time, fewer topics.",
    "Noticed someone went quiet after the budget slide; will check in.",
)
WINDOW = sa.Table(
    "bench_window",
    sa.MetaData(),
    sa.Column("team_id", sa.String(32), nullable=False),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("start_at", UTCDateTime, nullable=False),
    sa.Column("until_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("team_id", "user_id"),
)
T: dict[str, sa.Table] = {
    m.__table__.name: m.__table__  # type: ignore[attr-defined]
    for m in (Installation, SlackUser, OccurrenceRow, Delivery, Reflection, PromptShown)
}


# =========================================================================== seeding


def _local(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return datetime.combine(day, dtime(hours, minutes), zone).astimezone(UTC)


def seed(db: Database, users: int) -> datetime:
    """Everything a week of ``users`` people leaves behind; returns when all digests
    are due (the latest Friday 16:00)."""
    rng = random.Random(7)
    prompts = load_prompts()
    ids = {g: [p.id for p in prompts if p.id.startswith(g + ".")] for g in ("cue", "intention")}
    questions = [p.id for p in prompts if p.id.startswith("question.")]
    experiments = [p.id for p in prompts if p.id.startswith("experiment.")]
    now = _local(MONDAY, "07:00", ZoneInfo("Pacific/Auckland"))
    people, occurrences, deliveries, reflections, shown, windows = [], [], [], [], [], []
    delivery_id = 0
    latest = now
    for n in range(users):
        user = f"U{n:07d}"
        zone = ZoneInfo(ZONES[n % len(ZONES)])
        people.append(
            {
                "team_id": TEAM,
                "slack_user_id": user,
                "tz": zone.key,
                "prefs": {},
                "dm_channel_id": f"D{n:07d}",
                "opted_in_at": now - timedelta(days=30),
                "created_at": now - timedelta(days=30),
            }
        )
        week_start = datetime.combine(MONDAY, dtime(0), zone)
        due = _local(MONDAY + timedelta(days=4), "16:00", zone)
        latest = max(latest, due)
        windows.append({"team_id": TEAM, "user_id": user, "start_at": week_start, "until_at": due})
        for i, (day, hhmm, minutes, attendees, external) in enumerate(MEETINGS):
            start = _local(MONDAY + timedelta(days=day), hhmm, zone)
            end = start + timedelta(minutes=minutes)
            key = f"ics:{n}|m{i}@example.com|"
            occurrences.append(
                {
                    "team_id": TEAM,
                    "user_id": user,
                    "source": f"ics:{n}",
                    "key": key,
                    "series_key": f"ics:{n}|m{i}@example.com",
                    "uid": f"m{i}@example.com",
                    "title": f"Meeting {i} of the week",
                    "start_at": start,
                    "end_at": end,
                    "attendees": attendees,
                    "organizer": "boss@example.com",
                    "self_response": "accepted",
                    "external": external,
                    "updated_at": now,
                }
            )
            for kind, sent_at in (
                ("reminder", start - timedelta(minutes=5)),
                ("reflection", end + timedelta(minutes=2)),
            ):
                delivery_id += 1
                deliveries.append(
                    {
                        "id": delivery_id,
                        "team_id": TEAM,
                        "user_id": user,
                        "kind": kind,
                        "ref": key,
                        "occurrence_key": key,
                        "due_at": sent_at,
                        "available_at": sent_at,
                        "expires_at": sent_at + timedelta(hours=6),
                        "state": "sent",
                        "attempts": 1,
                        "needs_reconcile": False,
                        "payload": {},
                        "channel": f"D{n:07d}",
                        "message_ts": f"{sent_at.timestamp():.6f}",
                        "sent_at": sent_at,
                        "created_at": now,
                        "updated_at": sent_at,
                    }
                )
                if kind == "reminder":
                    for group in ("cue", "intention"):
                        shown.append(_shown(user, rng.choice(ids[group]), delivery_id, sent_at))
                    continue
                shown.append(_shown(user, rng.choice(questions), delivery_id, sent_at))
                if rng.random() < ANSWERED:
                    at = sent_at + timedelta(minutes=rng.randint(2, 90))
                    reflections.append(
                        {
                            "team_id": TEAM,
                            "user_id": user,
                            "delivery_id": delivery_id,
                            "occurrence_key": key,
                            "text": rng.choice(ANSWERS),
                            "presence": rng.choice((None, 1, 2, 3, 4, 5)),
                            "source": "thread",
                            "message_ts": f"{at.timestamp():.6f}",
                            "created_at": at,
                            "updated_at": at,
                        }
                    )
        last_friday = due - timedelta(days=7)
        shown.append(_shown(user, rng.choice(experiments), None, last_friday))
        delivery_id += 1
        deliveries.append(
            {
                "id": delivery_id,
                "team_id": TEAM,
                "user_id": user,
                "kind": DeliveryKind.DIGEST,
                "ref": "2026-W11",
                "due_at": due,
                "available_at": due,
                "expires_at": due + timedelta(hours=12),
                "state": "pending",
                "attempts": 0,
                "needs_reconcile": False,
                "payload": {"week_start": week_start.isoformat()},
                "occurrence_key": None,
                "channel": None,
                "message_ts": None,
                "sent_at": None,
                "created_at": due - timedelta(days=1),
                "updated_at": due - timedelta(days=1),
            }
        )
    with db.engine.begin() as conn:
        WINDOW.create(conn)
        conn.execute(
            sa.insert(T["installation"]).values(team_id=TEAM, bot_token="xoxb-x", installed_at=now)
        )
        for table, rows in (
            (T["slack_user"], people),
            (T["occurrence"], occurrences),
            (T["delivery"], deliveries),
            (T["reflection"], reflections),
            (T["prompt_shown"], shown),
            (WINDOW, windows),
        ):
            for i in range(0, len(rows), 5_000):
                conn.execute(sa.insert(table), rows[i : i + 5_000])
        if db.backend == "postgres":
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('delivery', 'id'), max(id)) FROM delivery"
            )
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    print(
        f"   seeded {users:,} users: {len(occurrences):,} meetings, {len(deliveries):,}"
        f" deliveries, {len(reflections):,} reflections, {len(shown):,} wordings shown"
    )
    return latest


def _shown(user: str, prompt_id: str, delivery_id: int | None, at: datetime) -> dict[str, Any]:
    return {
        "team_id": TEAM,
        "user_id": user,
        "prompt_id": prompt_id,
        "delivery_id": delivery_id,
        "shown_at": at,
    }


# =========================================================================== the two sides


def digest_rows(db: Database) -> list[ClaimedDelivery]:
    """The digest rows as the sender's claim hands them over (claiming is not timed)."""
    d = T["delivery"].c
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(T["delivery"]).where(d.kind == DeliveryKind.DIGEST).order_by(d.available_at)
        )
        return [ClaimedDelivery.of(row) for row in rows]


def heedful_side(db: Database, rows: Sequence[ClaimedDelivery], now: datetime) -> dict[str, Any]:
    """Compose every digest in sender-sized batches; returns message by user."""
    services = build_services(
        Settings(database_url=db.url), clock=VirtualClock(now), engine=db.engine
    )
    composer = DigestComposer(services)
    out: dict[str, Any] = {}
    for i in range(0, len(rows), BATCH):
        batch = rows[i : i + BATCH]
        composer.prepare(batch)
        for row in batch:
            try:
                out[row.user_id] = composer(row)
            except Skip as skip:
                out[row.user_id] = skip
    return out


def breakdown(db: Database, rows: Sequence[Any], now: datetime) -> dict[str, float]:
    """Where the composer's time goes (one instrumented pass of what ``compose_batch``
    does, batch by batch): seconds per phase."""
    from bot import digest as heedful_digest
    from bot.messages.digest import build_digest, build_digest_note

    services = build_services(
        Settings(database_url=db.url), clock=VirtualClock(now), engine=db.engine
    )
    prompts = load_prompts()
    u = T["slack_user"].c
    spent = dict.fromkeys(("zones and targets", "load_weeks", "summarize", "build", "insert"), 0.0)
    for i in range(0, len(rows), BATCH):
        batch = rows[i : i + BATCH]
        t0 = time.perf_counter()
        with db.engine.connect() as conn:
            zones = dict(
                conn.execute(
                    sa.select(u.slack_user_id, u.tz).where(
                        u.slack_user_id.in_([r.user_id for r in batch])
                    )
                ).all()
            )
        targets = {r.id: heedful_digest._target(r, zones[r.user_id]) for r in batch}
        t1 = time.perf_counter()
        weeks = heedful_digest.load_weeks(services, list(targets.values()))
        t2 = time.perf_counter()
        digests = {
            i: heedful_digest.summarize(t, weeks[t], prompts, now=now) for i, t in targets.items()
        }
        t3 = time.perf_counter()
        for d in digests.values():
            (build_digest if d.answered else build_digest_note)(prompts, d)
        t4 = time.perf_counter()
        with db.engine.begin() as conn:
            conn.execute(
                sa.insert(T["prompt_shown"]),
                [
                    {
                        "team_id": t.team_id,
                        "user_id": t.user_id,
                        "prompt_id": digests[i].experiment,
                        "delivery_id": i,
                        "shown_at": now,
                    }
                    for i, t in targets.items()
                ],
            )
        t5 = time.perf_counter()
        for name, took in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            spent[name] += took
    return spent


def forget_experiments(db: Database) -> None:
    """Undo what a composing run wrote (the experiments shown), between repetitions."""
    s, d = T["prompt_shown"].c, T["delivery"].c
    with db.engine.begin() as conn:
        conn.execute(
            sa.delete(T["prompt_shown"]).where(
                s.delivery_id.in_(
                    sa.select(d.id).where(d.kind == DeliveryKind.DIGEST).scalar_subquery()
                )
            )
        )


SQL = {
    "meetings": """
        SELECT o.user_id, COUNT(*),
               SUM(CASE WHEN o.external THEN 1 ELSE 0 END),
               SUM(CASE WHEN NOT o.external AND o.attendees <= 2 THEN 1 ELSE 0 END),
               SUM(CASE WHEN NOT o.external AND o.attendees BETWEEN 3 AND 8 THEN 1 ELSE 0 END),
               SUM(CASE WHEN NOT o.external AND o.attendees > 8 THEN 1 ELSE 0 END)
        FROM occurrence o JOIN bench_window w ON w.team_id = o.team_id AND w.user_id = o.user_id
        WHERE o.start_at >= w.start_at AND o.start_at < w.until_at AND o.skip_reason IS NULL
        GROUP BY o.user_id""",
    "nudges": """
        SELECT d.user_id,
               SUM(CASE WHEN d.kind IN ('reminder', 'transition') THEN 1 ELSE 0 END),
               SUM(CASE WHEN d.kind IN ('reflection', 'transition') THEN 1 ELSE 0 END)
        FROM delivery d JOIN bench_window w ON w.team_id = d.team_id AND w.user_id = d.user_id
        WHERE d.state = 'sent' AND d.kind IN ('reminder', 'reflection', 'transition')
          AND d.sent_at >= w.start_at AND d.sent_at < w.until_at
        GROUP BY d.user_id""",
    "answers": """
        SELECT r.user_id, COUNT(DISTINCT r.delivery_id), AVG(r.presence)
        FROM reflection r
        JOIN bench_window w ON w.team_id = r.team_id AND w.user_id = r.user_id
        JOIN delivery d ON d.id = r.delivery_id
        WHERE r.created_at >= w.start_at AND r.created_at < w.until_at
          AND d.state = 'sent' AND d.kind IN ('reflection', 'transition')
          AND d.sent_at >= w.start_at AND d.sent_at < w.until_at
        GROUP BY r.user_id""",
}


def baseline_side(db: Database) -> dict[str, dict[str, tuple]]:
    """The same numbers with the bare driver, all users at once."""
    conn = db.raw_connect()
    try:
        out: dict[str, dict[str, tuple]] = {}
        for name, sql in SQL.items():
            cur = conn.cursor()
            cur.execute(sql)
            out[name] = {row[0]: tuple(row[1:]) for row in cur.fetchall()}
            cur.close()
        if db.backend == "postgres":
            conn.rollback()
        return out
    finally:
        conn.close()


NUMBERS = re.compile(
    r"\*(\d+) meetings with others\*.*\n(\d+) reminders before meetings; "
    r"you reflected after \*(\d+) of (\d+)\*"
)


def check_same_numbers(digests: dict[str, Any], base: dict[str, dict[str, tuple]]) -> int:
    """Both sides found the same meetings, reminders, questions and answers; returns how
    many users had a full digest."""
    full = 0
    for user, message in digests.items():
        if isinstance(message, Skip):
            raise RuntimeError(f"{user}: digest skipped ({message})")
        meetings = base["meetings"][user][0]
        reminders, asked = base["nudges"][user]
        answered = base["answers"].get(user, (0, None))[0]
        found = NUMBERS.search(message.text)
        if found is None:  # the kind note of a week without answers
            if answered != 0 or str(meetings) not in message.text:
                raise RuntimeError(f"{user}: note without the numbers: {message.text!r}")
            continue
        full += 1
        mine = tuple(int(x) for x in found.groups())
        if mine != (meetings, reminders, answered, asked):
            raise RuntimeError(
                f"{user}: heedful {mine} != baseline {(meetings, reminders, answered, asked)}"
            )
    return full


# =========================================================================== running


def bench(backend: str, args: argparse.Namespace) -> bool:
    users = args.users or (2_000 if args.quick else 10_000)
    reps = args.reps or (2 if args.quick else 3)
    print(f"-- {backend}: {users:,} users, batches of {BATCH}, {reps} repetitions")
    with private_database(backend, pg_url=args.pg_url) as db:
        started = time.perf_counter()
        due = seed(db, users)
        print(f"   seeding took {time.perf_counter() - started:.1f} s (not timed)")
        rows = digest_rows(db)
        now = due + timedelta(minutes=1)
        heedful_times, baseline_times = [], []
        for _ in range(reps):  # alternately, so both see the same caches
            forget_experiments(db)
            t0 = time.perf_counter()
            digests = heedful_side(db, rows, now)
            heedful_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            base = baseline_side(db)
            baseline_times.append(time.perf_counter() - t0)
        full = check_same_numbers(digests, base)
        forget_experiments(db)
        spent = breakdown(db, rows, now)
        mine, bare = statistics.median(heedful_times), statistics.median(baseline_times)
        ratio = mine / bare
        print(f"   both sides agree for all {len(digests):,} users ({full:,} full digests)")
        print(
            "   where the composer's time goes: "
            + ", ".join(f"{name} {took * 1000:.0f} ms" for name, took in spent.items())
        )
        numbers = spent["load_weeks"] + spent["summarize"]
        print(
            f"   (load_weeks + summarize alone: {numbers * 1000:.0f} ms ="
            f" {numbers / bare:.1f}x the bare aggregate)"
        )
        batches = -(-len(rows) // BATCH)
        print(
            f"   heedful DigestComposer.prepare, {batches} batches: {mine * 1000:8.1f} ms"
            f"  ({mine / len(rows) * 1e6:.0f} µs/user)"
        )
        print(f"   bare SQL aggregate (3 GROUP BY)         : {bare * 1000:8.1f} ms")
        ok = ratio <= GOAL
        print(f"   ratio heedful/bare = {ratio:.2f}x (goal <= {GOAL}x)  {verdict(ok)}")
        return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, default_backend="sqlite")
    parser.add_argument("--users", type=int, help="users (default 10,000; --quick 2,000)")
    parser.add_argument("--reps", type=int, help="repetitions (default 3; --quick 2)")
    args = parser.parse_args(argv)
    quiet_logging(args.verbose)
    header("Heedful digest benchmark")
    results = [bench(backend, args) for backend in backends(args.backend)]
    print(f"== digest: {sum(results)}/{len(results)} goals met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
