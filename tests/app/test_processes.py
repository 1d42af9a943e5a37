"""Real ``heedful run`` processes: a crash after the ack, and two claimers at once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from processes import LISTENING, RUNNING, Process
from waiting import wait_until

from bot.emulator import SlackEmulator
from bot.storage import repository as repo
from bot.storage.db import make_engine
from bot.storage.models import Delivery, InboxItem

pytestmark = pytest.mark.slow


def test_an_event_acked_before_a_sigkill_is_processed_after_restart(
    emulator: SlackEmulator,
    run_env: dict[str, str],
    db_url: str,
    tmp_path: Path,
    processes: list[Process],
) -> None:
    web = Process("web", run_env, tmp_path)  # receives and acks; processes nothing
    processes.append(web)
    url = web.wait_for(LISTENING).group(1)

    event = {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}
    result = emulator.deliver_event(f"{url}/slack/events", event)
    assert result.status == 200
    web.kill()

    engine = make_engine(db_url)
    with engine.connect() as conn:
        (state,) = conn.execute(sa.select(InboxItem.__table__.c.state)).scalars().all()
    assert state == "pending"
    assert emulator.calls_to("views.publish") == []

    restarted = Process("all", run_env, tmp_path)
    processes.append(restarted)
    restarted.wait_for(LISTENING)
    wait_until(lambda: len(emulator.calls_to("views.publish")) == 1, what="the Home tab")
    assert restarted.stop() == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(InboxItem.__table__.c.state)).scalars().all() == ["done"]
    assert len(emulator.calls_to("views.publish")) == 1
    engine.dispose()


def test_two_processes_claiming_a_thousand_due_dms_send_each_exactly_once(
    emulator: SlackEmulator,
    run_env: dict[str, str],
    db_url: str,
    tmp_path: Path,
    processes: list[Process],
) -> None:
    users = [f"U{i:04d}" for i in range(1000)]
    for user in users:
        emulator.add_user(user)
    for _ in range(2):
        worker = Process("worker", run_env, tmp_path)
        processes.append(worker)
    for worker in processes:
        worker.wait_for(RUNNING)

    engine = make_engine(db_url)
    now = datetime.now(UTC)
    rows = [
        {"team_id": emulator.team_id, "user_id": u, "kind": "notice", "ref": "w1", "due_at": now}
        for u in users
    ]
    for row in rows:
        row["payload"] = {"text": f"Hello {row['user_id']}"}
    with engine.begin() as conn:
        assert repo.enqueue_deliveries(conn, rows, now=now) == 1000

    t = Delivery.__table__.c
    sent = sa.select(sa.func.count()).where(t.state == "sent")

    def all_sent() -> bool:
        with engine.connect() as conn:
            return conn.execute(sent).scalar_one() == 1000

    wait_until(all_sent, timeout=120, what="1,000 DMs sent")
    assert [p.stop() for p in processes] == [0, 0]

    posted = emulator.calls_to("chat.postMessage")
    ids = Counter(c.params["metadata"]["event_payload"]["delivery_id"] for c in posted)
    assert len(posted) == 1000 and len(ids) == 1000 and max(ids.values()) == 1
    assert all(len(emulator.messages(u)) == 1 for u in users)
    with engine.connect() as conn:
        claimers = Counter(conn.execute(sa.select(t.claimed_by)).scalars())
    assert len(claimers) == 2, f"one process did all the work: {claimers}"
    engine.dispose()
