"""The inbox processor claims and settles stored events in batches (issue 13): a fixed
number of statements per batch, whatever its size, with the guarantees of one event at a
time (exactly once across processes, arrival order, retries with back-off, the poison
limit, lease recovery, no body in the log), on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.clock import VirtualClock
from bot.inbox import LEASE, MAX_ATTEMPTS, SETTLE_AFTER, InboxProcessor
from bot.storage import inbox
from bot.storage.db import make_engine
from bot.storage.inbox import INBOX, ClaimedInboxItem

SECRET_BODY = '{"event": {"text": "my private reflection"}}'


def _store(engine: Engine, clock: VirtualClock, n: int, *, prefix: str = "Ev") -> None:
    for i in range(n):
        inbox.store_inbox(
            engine=engine,
            source="slack",
            external_id=f"{prefix}{i:04d}",
            body=SECRET_BODY,
            now=clock.now(),
            user_id="U1",
            kind="message",
        )


def _rows(engine: Engine) -> dict[str, sa.Row]:
    t = INBOX.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                t.external_id, t.state, t.attempts, t.available_at, t.error, t.body, t.claimed_by
            )
        ).all()
    return {r.external_id: r for r in rows}


def _processor(
    engine: Engine,
    clock: VirtualClock,
    dispatch: Callable[[ClaimedInboxItem], None],
    *,
    worker: str = "w1",
) -> InboxProcessor:
    return InboxProcessor(
        engine=engine, clock=clock, worker_id=worker, dispatchers={"slack": dispatch}
    )


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement sent to the database inside the block (BEGIN included)."""
    seen: list[str] = []

    def record(*args: object) -> None:
        statement = str(args[2])
        seen.append(statement.split(None, 1)[0].upper())

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def test_a_batch_of_1_or_50_events_is_claimed_and_settled_in_the_same_statements(
    engine: Engine, clock: VirtualClock
) -> None:
    handled: list[str] = []
    processor = _processor(engine, clock, lambda row: handled.append(row.external_id))
    counts = {}
    for n in (1, 50):
        _store(engine, clock, n, prefix=f"B{n}-")
        with _statements(engine) as seen:
            assert processor.run_once() == n
        counts[n] = seen
    # One transaction to claim (lease recovery, claim), one to settle (one UPDATE).
    assert counts[1] == counts[50]
    assert [s for s in counts[50] if s != "BEGIN"] == ["UPDATE", "UPDATE", "UPDATE"]
    assert len(handled) == 51
    rows = _rows(engine)
    assert {r.state for r in rows.values()} == {"done"}
    assert {r.body for r in rows.values()} == {""}  # the body may hold a reflection


def test_a_batch_that_is_done_retried_and_failed_settles_in_three_statements(
    engine: Engine, clock: VirtualClock
) -> None:
    """Outcomes of every kind in one batch: still one settle of at most three statements."""
    _store(engine, clock, 50)
    t = INBOX.c
    with engine.begin() as conn:  # the last ten have failed before: this try is their last
        conn.execute(
            sa.update(INBOX).where(t.external_id >= "Ev0040").values(attempts=MAX_ATTEMPTS - 1)
        )

    def dispatch(row: ClaimedInboxItem) -> None:
        if int(row.external_id[2:]) % 2:
            raise ValueError(row.body)  # a message that would leak the body, if logged

    processor = _processor(engine, clock, dispatch)
    with _statements(engine) as seen:
        assert processor.run_once() == 50
    assert [s for s in seen if s != "BEGIN"] == ["UPDATE"] * 5  # recover, claim; 3 settles
    rows = _rows(engine)
    assert Counter(r.state for r in rows.values()) == {"done": 25, "pending": 20, "failed": 5}
    assert rows["Ev0001"].available_at == clock.now() + timedelta(seconds=5 * 2**1)
    assert rows["Ev0001"].error == "ValueError"
    assert rows["Ev0041"].state == "failed" and rows["Ev0041"].error == "ValueError"


def test_a_failing_event_backs_off_then_fails_for_good_and_its_body_is_never_logged(
    engine: Engine, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    _store(engine, clock, 2)

    def dispatch(row: ClaimedInboxItem) -> None:
        if row.external_id == "Ev0000":
            raise RuntimeError("a listener broke")

    processor = _processor(engine, clock, dispatch)
    waits = []
    with caplog.at_level(logging.DEBUG):
        for _attempt in range(1, MAX_ATTEMPTS + 1):
            assert processor.run_once() >= 1
            row = _rows(engine)["Ev0000"]
            if row.state == "pending":
                waits.append(row.available_at - clock.now())
                assert processor.run_once() == 0  # not before its time
                clock.set(row.available_at)
        assert processor.run_once() == 0
    rows = _rows(engine)
    assert rows["Ev0001"].state == "done"
    assert (rows["Ev0000"].state, rows["Ev0000"].attempts) == ("failed", MAX_ATTEMPTS)
    assert rows["Ev0000"].error == "RuntimeError"
    assert waits == [timedelta(seconds=5 * 2**a) for a in range(1, MAX_ATTEMPTS)]
    assert "private reflection" not in caplog.text


def test_events_are_processed_in_arrival_order(engine: Engine, clock: VirtualClock) -> None:
    _store(engine, clock, 120)  # all at the same instant: arrival order is the id's
    handled: list[str] = []
    processor = _processor(engine, clock, lambda row: handled.append(row.external_id))
    assert processor.drain() == 120
    assert handled == [f"Ev{i:04d}" for i in range(120)]


def test_a_batch_whose_worker_died_is_taken_over_once_its_lease_runs_out(
    engine: Engine, clock: VirtualClock
) -> None:
    _store(engine, clock, 10)
    dead = inbox.claim_inbox(engine=engine, now=clock.now(), worker="dead", lease=LEASE)
    assert len(dead) == 10
    handled: list[str] = []
    processor = _processor(engine, clock, lambda row: handled.append(row.external_id))
    assert processor.run_once() == 0  # still leased
    clock.advance(LEASE + timedelta(seconds=1))
    assert processor.run_once() == 10
    # The dead worker's late settle changes nothing: the rows are no longer its.
    with engine.begin() as conn:
        inbox.settle_inbox(
            conn=conn,
            worker="dead",
            now=clock.now(),
            outcomes=[inbox.InboxOutcome(id=r.id, error="Late") for r in dead],
        )
    rows = _rows(engine)
    assert {(r.state, r.claimed_by, r.error) for r in rows.values()} == {("done", "w1", None)}
    assert sorted(handled) == [f"Ev{i:04d}" for i in range(10)]


def test_a_long_batch_settles_what_it_did_before_its_lease_runs_out(
    engine: Engine, clock: VirtualClock
) -> None:
    _store(engine, clock, 3)
    states_seen: list[str] = []

    def slow(row: ClaimedInboxItem) -> None:
        states_seen.append(_rows(engine)["Ev0000"].state)
        clock.advance(SETTLE_AFTER)  # each event takes a quarter of the lease

    assert _processor(engine, clock, slow).run_once() == 3
    assert states_seen == ["claimed", "done", "done"]
    assert {r.state for r in _rows(engine).values()} == {"done"}


def test_two_processes_draining_one_inbox_process_each_event_once(
    db_url: str, engine: Engine, clock: VirtualClock
) -> None:
    """Two processors, each with its own engine (as two processes would have), drain
    600 events at once: SKIP LOCKED on PostgreSQL, the write lock on SQLite."""
    _store(engine, clock, 600)
    handled: Counter[str] = Counter()
    lock = threading.Lock()
    failures: list[BaseException] = []

    def dispatch(row: ClaimedInboxItem) -> None:
        with lock:
            handled[row.external_id] += 1

    engines = [make_engine(db_url) for _ in range(2)]

    def drain(worker_engine: Engine, name: str) -> None:
        try:
            processor = InboxProcessor(
                engine=worker_engine,
                clock=clock,
                worker_id=name,
                dispatchers={"slack": dispatch},
                batch_size=20,
            )
            processor.drain(max_batches=1000)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=drain, args=(e, f"w{i}")) for i, e in enumerate(engines)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for e in engines:
        e.dispose()
    assert failures == []
    assert len(handled) == 600 and set(handled.values()) == {1}
    rows = _rows(engine)
    assert {r.state for r in rows.values()} == {"done"}
    assert {r.claimed_by for r in rows.values()} <= {"w0", "w1"}
