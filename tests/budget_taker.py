"""A child process for tests/app/test_pacing_processes.py: one ``bot.budget.Budget`` on
the test's database and shared virtual clock, driven line by line over stdin.

    python tests/budget_taker.py DATABASE_URL CLOCK_FILE PER_MINUTE

Commands (one a line), each answered by one JSON line on stdout:

* ``take K`` → ``{"granted", "paused", "now"}``: ``Budget.take`` of K slots for
  (T0001, chat.postMessage) at the clock's time;
* ``throttle S`` → ``{"rate", "now"}``: ``Budget.throttled`` as after a 429 with
  ``Retry-After: S``;
* ``quit``.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta

from bot.budget import Budget
from bot.clock import SharedClock
from bot.storage.db import make_engine

TEAM, METHOD = "T0001", "chat.postMessage"


def main(db_url: str, clock_path: str, per_minute: str) -> int:
    engine = make_engine(db_url)
    clock = SharedClock(clock_path)
    budget = Budget(engine, per_minute=float(per_minute))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        now = clock.now()
        if command == "take":
            slots = budget.take({(TEAM, METHOD): int(argument)}, now=now)[(TEAM, METHOD)]
            answer = {"granted": slots.granted, "paused": slots.paused}
        elif command == "throttle":
            until = now + timedelta(seconds=float(argument))
            answer = {"rate": budget.throttled(TEAM, METHOD, until=until, now=now)}
        else:
            break
        print(json.dumps({**answer, "now": now.timestamp()}), flush=True)
    engine.dispose()
    clock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
