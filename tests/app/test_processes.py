"""Real ``heedful run`` processes: a crash after the ack, and two claimers at once."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.emulator import SlackEmulator
from bot.storage import repository as repo
from bot.storage.db import make_engine, upgrade
from bot.storage.models import Delivery, InboxItem

pytestmark = pytest.mark.slow

HEEDFUL = shutil.which("heedful", path=str(Path(sys.executable).parent)) or "heedful"
LISTENING = re.compile(r"listening on (http://\S+)")


class Process:
    """A ``heedful run`` child whose log is read in the background."""

    def __init__(self, role: str, env: dict[str, str], cwd: Path) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [HEEDFUL, "run", "--role", role],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, pattern: re.Pattern[str] | str, timeout: float = 30) -> re.Match[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := regex.search(line):
                    return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {regex.pattern!r} in the log:\n{''.join(self.lines)}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def wait_until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture(name="run_env")
def fixture_run_env(emulator: SlackEmulator, db_url: str) -> dict[str, str]:
    engine = make_engine(db_url)
    upgrade(engine)  # the children find the schema ready, as after `heedful db upgrade`
    engine.dispose()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HEEDFUL_"))}
    return {
        **base,
        "SLACK_BOT_TOKEN": emulator.bot_token,
        "SLACK_SIGNING_SECRET": emulator.signing_secret,
        "SLACK_API_URL": emulator.api_url,
        "DATABASE_URL": db_url,
        "HEEDFUL_PORT": "0",
        "HEEDFUL_LOG_LEVEL": "INFO",
    }


@pytest.fixture(name="processes")
def fixture_processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        if process.proc.poll() is None:
            process.kill()


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
    wait_until(lambda: len(emulator.calls_to("views.publish")) == 1)
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
        worker.wait_for("Heedful is running")

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

    wait_until(all_sent, timeout=90)
    assert [p.stop() for p in processes] == [0, 0]

    posted = emulator.calls_to("chat.postMessage")
    ids = Counter(c.params["metadata"]["event_payload"]["delivery_id"] for c in posted)
    assert len(posted) == 1000 and len(ids) == 1000 and max(ids.values()) == 1
    assert all(len(emulator.messages(u)) == 1 for u in users)
    with engine.connect() as conn:
        claimers = Counter(conn.execute(sa.select(t.claimed_by)).scalars())
    assert len(claimers) == 2, f"one process did all the work: {claimers}"
    engine.dispose()
