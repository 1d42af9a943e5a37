"""``HEEDFUL_LOG_FORMAT=json``: a real ``heedful run`` writes one JSON object per line, and
a person's reflection reaches none of them, even at DEBUG."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from processes import RUNNING, Process
from waiting import wait_until

from bot.emulator import SlackEmulator
from bot.storage.db import make_engine
from bot.storage.models import Delivery, DeliveryKind, Reflection

REFLECTION = DeliveryKind.REFLECTION

pytestmark = pytest.mark.slow

CANARY = "CANARY-a-private-reflection-7e3a"
# The line saying where the server listens, as a JSON message (no closing quote in the URL).
LISTENING_JSON = re.compile(r"listening on (http://[^\"\s]+)")


def test_json_lines_parse_and_carry_no_reflection_text(
    emulator: SlackEmulator, run_env: dict[str, str], tmp_path: Path, processes: list[Process]
) -> None:
    _asked_for_a_reflection(run_env["DATABASE_URL"], emulator.dm_channel("U1"))
    env = {**run_env, "HEEDFUL_LOG_FORMAT": "json", "HEEDFUL_LOG_LEVEL": "DEBUG"}
    run = Process("all", env, tmp_path)
    processes.append(run)
    url = run.wait_for(LISTENING_JSON).group(1)
    run.wait_for(RUNNING)

    reflection = {
        "type": "message",
        "channel_type": "im",
        "channel": emulator.dm_channel("U1"),
        "user": "U1",
        "text": f"I cut Ben off twice today. {CANARY}\nNext time I will wait.",
        "ts": f"{time.time():.6f}",
    }
    assert emulator.deliver_event(f"{url}/slack/events", reflection).status == 200
    wait_until(lambda: emulator.calls_to("chat.postMessage"), what="the answer to the reflection")
    assert run.stop() == 0

    lines = [json.loads(line) for line in run.lines]
    assert lines and all(isinstance(line, dict) for line in lines)
    for line in lines:
        assert {"ts", "level", "logger", "message"} <= line.keys()
        assert datetime.fromisoformat(line["ts"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert any(line["message"].startswith("listening on http://") for line in lines)
    assert not [raw for raw in run.lines if CANARY in raw]
    # The app did read it: it stored the reflection and answered in the DM.
    assert emulator.bot_messages("U1")
    engine = make_engine(run_env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            stored = conn.execute(sa.select(Reflection.__table__.c.text)).scalars().all()
    finally:
        engine.dispose()
    assert len(stored) == 1 and CANARY in stored[0]


def _asked_for_a_reflection(database_url: str, channel: str) -> None:
    """A reflection question Heedful sent U1 a minute ago, so a DM from U1 answers it."""
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(Delivery.__table__),
                {
                    "team_id": "T0001",
                    "user_id": "U1",
                    "kind": REFLECTION,
                    "ref": "meeting-1",
                    "due_at": now - timedelta(minutes=1),
                    "available_at": now - timedelta(minutes=1),
                    "state": "sent",
                    "sent_at": now - timedelta(minutes=1),
                    "channel": channel,
                    "message_ts": "1700000000.000100",
                    "payload": {},
                },
            )
    finally:
        engine.dispose()
