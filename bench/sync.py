"""Calendar sync benchmark: a pushed move to its stored reminder, against a bare read.

    python bench/sync.py                        # SQLite; API latency 0 and 150 ms (~20 s)
    python bench/sync.py --backend both
    python bench/sync.py --quick                # fewer repetitions (< 1 min)
    python bench/sync.py --api-latency 50 --real-latency 300
    python bench/sync.py --calendar microsoft   # Microsoft 365 (or both); default google

Google and Microsoft are measured by the same loop (``bench/_sync.py``: the week, phases,
alternation, checks, printout); ``bench/_sync_google.py`` and ``bench/_sync_microsoft.py``
say what differs (the fake, the hook, the bare read, the functions timed).

Google
------

Set-up (not timed): the real app (``Heedful(services, run_workers=False)``, its HTTP
server on loopback), the Slack emulator, and the fake Google (``bot.emulator.FakeGoogle``,
``auto_push=False``), all on the system clock. One person (Europe/Berlin) has a 40-meeting
week in the fake: a daily stand-up and three weekly 1:1s and a leadership sync (recurring
series), a 150-person all-hands, four meetings with an outside company, 1:1s and small
groups. They connect through the real sign-in path (start link → consent → callback, the
browser played by hand) and the first sync runs and opens the push channel.

A. Push to stored: one meeting with a pending reminder is moved by ±10 minutes in the fake
   (not announced); then, timed, ``fake.push(email)`` POSTs the channel's notification
   (its real ``X-Goog-*`` headers) to ``/hooks/google``, and as soon as the 200 is back
   the same thread runs ``heedful.process_inbox()``: claim the inbox row, one incremental
   ``events.list`` with the stored sync token, ``apply_occurrences`` and the re-plan. The
   clock stops when that returns; the moved reminder's ``due_at`` is then checked to be
   the new one (a run that stored anything else is an error, not a figure).
   The worker runs in the benchmark's thread rather than on the app's ticker so that the
   figure is Heedful's work and not the scheduler's wake-up hop plus a polling period.
B. Baseline, in the same run and alternating with A: one plain HTTP GET of
   ``calendars/primary/events?singleEvents=true&maxResults=2500&syncToken=…`` to the same
   fake with the app's own ``Authorization: Bearer`` header (a new connection, as
   Heedful's client makes per sync), and ``json.loads`` of the answer, which holds the
   same one change. Goal: A <= 1.5x B. For context the script also times the same call
   through ``googleapiclient`` on a service built once.
C. An unchanged periodic sync: ``heedful.sync_google()`` (``refresh_due``: claim the due
   calendar, an incremental ``events.list`` that returns nothing, record the sync) with
   the calendar made due by setting its ``next_check_at`` back (not timed), against the
   bare GET when nothing changed. Reported, no goal.

Each case runs at an API latency of ``--api-latency`` ms (default 0: loopback, ~1 ms)
and again at ``--real-latency`` ms (default 150, about what Google takes; 0 skips it):
the fake sleeps that long before answering each Calendar API request. At 0 the ratio is
Heedful's own overhead against almost nothing; at 150 ms it is what a person would see.
Medians (and p90) after two warm-up rounds; phases of the median push are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from _common import add_common_args, backends, header, quiet_logging
from _sync import Calendar, bench


def calendars(choice: str) -> list[Calendar]:
    from _sync_google import Google
    from _sync_microsoft import Microsoft

    return [Google()] * (choice != "microsoft") + [Microsoft()] * (choice != "google")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, default_backend="sqlite")
    parser.add_argument(
        "--calendar",
        choices=("google", "microsoft", "both"),
        default="google",
        help="which calendar's sync to measure (default google)",
    )
    parser.add_argument("--reps", type=int, help="repetitions (default 15; --quick 5)")
    parser.add_argument(
        "--api-latency",
        type=float,
        default=0.0,
        metavar="MS",
        help="the fake delays each Calendar API / Graph answer this long (default 0)",
    )
    parser.add_argument(
        "--real-latency",
        type=float,
        default=150.0,
        metavar="MS",
        help="then the same again at this latency, about Google's and Graph's (default 150;"
        " 0 skips)",
    )
    args = parser.parse_args(argv)
    quiet_logging(args.verbose)
    chosen = calendars(args.calendar)
    names = " and ".join(cal.title for cal in chosen)
    header(f"Heedful {names} sync benchmark ({datetime.now(UTC):%Y-%m-%d})")
    cases = [
        case
        for cal in chosen
        for backend in backends(args.backend)
        for case in bench(cal, backend, args)
    ]
    met = sum(1 for case in cases if case.summary()["pass"])
    print(f"== sync: {met}/{len(cases)} goals met")
    summaries = [case.summary() for case in cases]
    print(json.dumps({**summaries[0], "cases": summaries}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
