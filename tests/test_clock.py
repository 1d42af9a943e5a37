"""``bot.clock.SharedClock``: one virtual time for every process that maps its file."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from waiting import wait_until

from bot.clock import SharedClock

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_stopped_clock_tells_every_reader_the_same_time(tmp_path: Path) -> None:
    driver = SharedClock.create(tmp_path / "clock", START)
    reader = SharedClock(tmp_path / "clock")
    assert reader.now() == START and reader.speed == 0
    driver.set(START + timedelta(hours=3))
    assert reader.now() == START + timedelta(hours=3)
    assert (
        driver.advance(timedelta(minutes=5))
        == reader.now()
        == START + timedelta(hours=3, minutes=5)
    )
    reader.close()
    driver.close()


def test_a_running_clock_moves_at_its_speed_from_where_it_was(tmp_path: Path) -> None:
    driver = SharedClock.create(tmp_path / "clock", START)
    reader = SharedClock(tmp_path / "clock")
    began = time.monotonic()
    driver.run(100.0)
    wait_until(lambda: reader.now() >= START + timedelta(seconds=5), what="5 virtual seconds")
    elapsed = time.monotonic() - began
    # 5 virtual seconds at 100x take 50 ms of real time (more on a busy machine, never less).
    assert elapsed >= 0.05
    driver.run(0.0)  # stops where it is: never back
    stopped = reader.now()
    assert stopped >= START + timedelta(seconds=5) and reader.now() == stopped
    with pytest.raises(ValueError):
        driver.run(-1.0)
    reader.close()
    driver.close()
