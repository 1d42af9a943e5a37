"""A reflection is private: its text never reaches a log line, and with
HEEDFUL_ENCRYPTION_KEY set it never reaches the database file in clear (the digest
still quotes it). Keys rotate: old rows read under the new key list, a rotation sweep
re-encrypts them, and the old key can then go."""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from factories import make_occurrence
from people import ANA, TEAM, berlin

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.config import Settings
from bot.crypto import PREFIX, Cipher, CipherError
from bot.emulator import SlackEmulator
from bot.keycheck import SAMPLE, check_keys
from bot.logging_setup import configure_logging
from bot.occurrences import apply_occurrences, opt_in
from bot.privacy import export_user, rotate_keys
from bot.services import Services, build_services
from bot.storage import repository as repo
from bot.storage.db import session_scope
from bot.storage.models import CalendarSource, Installation, Reflection, WebhookSource

CANARY = f"CANARY-{secrets.token_hex(8)} felt seen when I paused"
REF = Reflection.__table__


def _events(heedful: Heedful) -> str:
    return f"{heedful.url}/slack/events"


def _ana_with_a_one_on_one(services: Services, clock: VirtualClock) -> None:
    """Monday 07:00 in Berlin: Ana, opted in, with a 1:1 with Ben at 10:00."""
    clock.set(berlin(0, "07:00"))
    with session_scope(services.engine) as session:
        user = repo.ensure_user(session=session, team_id=TEAM, user_id=ANA.user_id, now=clock.now())
        user.tz = "Europe/Berlin"
    opt_in(services, team_id=TEAM, user_id=ANA.user_id)
    apply_occurrences(
        services,
        team_id=TEAM,
        user_id=ANA.user_id,
        source="ics:1",
        occurrences=[make_occurrence(berlin(0, "10:00"), uid="ben", title="1:1 with Ben")],
    )


def _week_with_a_canary(
    heedful: Heedful, services: Services, clock: VirtualClock, emulator: SlackEmulator
) -> dict:
    """Ana answers her 1:1's question with the canary, by a DM in the thread (a signed
    event through the inbox); on Friday at 16:00 the digest quotes it. Returns the digest."""
    _ana_with_a_one_on_one(services, clock)
    while clock.now() < berlin(0, "10:35"):
        heedful.send_due()
        clock.advance(timedelta(minutes=1))
    (question,) = [
        m
        for m in emulator.bot_messages(ANA.user_id)
        if (m.get("metadata") or {}).get("event_payload", {}).get("kind") == "reflection"
    ]
    emulator.user_says(_events(heedful), ANA.user_id, CANARY, thread_ts=question["ts"])
    heedful.process_inbox()
    with services.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(REF)).scalar() == 1
    while clock.now() < berlin(4, "16:05"):
        heedful.plan_digests()
        heedful.send_due()
        heedful.process_inbox()
        clock.advance(
            timedelta(hours=1) if clock.now() < berlin(4, "15:00") else timedelta(minutes=5)
        )
    (digest,) = [
        m
        for m in emulator.bot_messages(ANA.user_id)
        if (m.get("metadata") or {}).get("event_payload", {}).get("kind") == "digest"
    ]
    return digest


@pytest.fixture(name="debug_logs")
def fixture_debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything logged, at DEBUG, by every logger, for the whole flow (the logging
    configuration is put back afterwards)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    caplog.set_level(logging.DEBUG)
    yield caplog
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


def _logged(caplog: pytest.LogCaptureFixture, names: tuple[str, ...] = ()) -> str:
    records = [r for r in caplog.records if not names or r.name.startswith(names)]
    handler = logging.Handler()
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    return "\n".join(handler.format(r) for r in records)


def test_the_canary_never_reaches_heedfuls_logs_and_the_digest_quotes_it(
    heedful: Heedful,
    services: Services,
    clock: VirtualClock,
    emulator: SlackEmulator,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    digest = _week_with_a_canary(heedful, services, clock, emulator)
    assert CANARY in str(digest["blocks"])  # quoted back to her
    heedfuls = _logged(debug_logs, ("bot", "handlers"))
    assert "reflection kept" in heedfuls  # the flow was logged, at DEBUG and up …
    assert CANARY not in heedfuls  # … never its words
    assert CANARY.split()[0] not in heedfuls


def test_the_canary_never_reaches_any_log_even_at_debug(
    heedful: Heedful,
    services: Services,
    clock: VirtualClock,
    emulator: SlackEmulator,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    configure_logging("DEBUG")  # as `heedful run` does with HEEDFUL_LOG_LEVEL=DEBUG
    logging.getLogger().addHandler(debug_logs.handler)  # basicConfig(force=True) removed it
    _week_with_a_canary(heedful, services, clock, emulator)
    token = CANARY.split()[0]
    leaks = sorted({r.name for r in debug_logs.records if token in _logged_record(r)})
    assert debug_logs.records
    assert leaks == []


def _logged_record(record: logging.LogRecord) -> str:
    return logging.Formatter("%(message)s").format(record)


def _database_bytes(db_url: str) -> bytes:
    path = Path(db_url.removeprefix("sqlite:///"))
    return b"".join(
        p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # reads the SQLite file
def test_with_a_key_the_canary_is_never_in_the_database_file_in_clear(
    heedful: Heedful,
    services: Services,
    clock: VirtualClock,
    emulator: SlackEmulator,
    db_url: str,
) -> None:
    assert services.cipher.enabled
    digest = _week_with_a_canary(heedful, services, clock, emulator)
    assert CANARY in str(digest["blocks"])
    stored = _database_bytes(db_url)
    assert len(stored) > 10_000
    token = CANARY.split()[0].encode()
    assert token not in stored
    assert CANARY.encode("utf-16-le") not in stored
    with services.engine.connect() as conn:
        (text,) = conn.execute(sa.select(REF.c.text)).scalars()
    assert text.startswith(PREFIX)
    assert export_user(services, team_id=TEAM, user_id=ANA.user_id)["reflections"][0]["text"] == (
        CANARY
    )


# --------------------------------------------------------------------------- rotation


def test_cipher_rotation_reads_old_values_and_retires_the_old_key() -> None:
    a, b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old = Cipher((a,)).encrypt(CANARY)
    assert old.startswith(PREFIX) and CANARY not in old
    both = Cipher((b, a))
    assert both.decrypt(old) == CANARY  # the new key list still reads old values
    rotated = both.rotate(old)
    assert rotated != old and both.decrypt(rotated) == CANARY
    assert Cipher((b,)).decrypt(rotated) == CANARY  # the old key can go
    with pytest.raises(CipherError):
        Cipher((a,)).decrypt(rotated)
    assert Cipher((b,)).decrypt("written before a key was set") == "written before a key was set"
    assert both.rotate("plain").startswith(PREFIX)  # a plain value gets encrypted


def test_stored_rows_survive_a_key_rotation(
    services: Services, clock: VirtualClock, key: str
) -> None:
    """Rows written under key A read under (B, A); after ``rotate_keys`` (what
    ``heedful keys rotate`` runs) under (B, A), (B,) alone reads them all."""
    clock.set(berlin(0, "07:00"))
    with session_scope(services.engine) as session:
        repo.ensure_user(session=session, team_id=TEAM, user_id=ANA.user_id, now=clock.now())
    opt_in(services, team_id=TEAM, user_id=ANA.user_id)
    with services.engine.begin() as conn:
        conn.execute(
            sa.insert(REF).values(
                team_id=TEAM,
                user_id=ANA.user_id,
                text=services.cipher.encrypt(CANARY),
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
        conn.execute(
            sa.insert(CalendarSource.__table__).values(
                team_id=TEAM, user_id=ANA.user_id, url=services.cipher.encrypt(ANA.feed_url)
            )
        )
    new = Fernet.generate_key().decode()

    def with_keys(*keys: str) -> Services:
        settings = dataclasses.replace(services.settings, encryption_keys=keys)
        return build_services(settings, clock=clock, engine=services.engine)

    def readable(s: Services) -> tuple[str, str | None]:
        export = export_user(s, team_id=TEAM, user_id=ANA.user_id)
        token = s.authorize(enterprise_id=None, team_id=TEAM)
        return export["reflections"][0]["text"], token.bot_token if token else None

    assert readable(with_keys(new, key)) == (CANARY, services.settings.slack_bot_token)

    # `heedful keys rotate` re-encrypts every stored secret with the first key.
    assert rotate_keys(with_keys(new, key)) >= 3  # the token, the feed URL, the reflection

    only_new = with_keys(new)
    assert readable(only_new) == (CANARY, services.settings.slack_bot_token)
    with services.engine.connect() as conn:
        (url,) = conn.execute(sa.select(CalendarSource.__table__.c.url)).scalars()
    assert only_new.cipher.decrypt(url) == ANA.feed_url
    with pytest.raises(CipherError):
        Cipher((key,)).decrypt(url)


def test_a_reflection_no_key_opens_costs_its_words_not_the_digest_or_the_export(
    services: Services, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A key dropped too early: the digest still goes (without that quote) and the
    export still holds everything else."""
    from bot.digest import DigestComposer, plan_digests

    _ana_with_a_one_on_one(services, clock)
    lost = Cipher((Fernet.generate_key().decode(),)).encrypt("written under a lost key")
    with services.engine.begin() as conn:
        for text in (lost, services.cipher.encrypt(CANARY)):
            conn.execute(
                sa.insert(REF).values(
                    team_id=TEAM,
                    user_id=ANA.user_id,
                    text=text,
                    created_at=berlin(0, "11:00"),
                    updated_at=berlin(0, "11:00"),
                )
            )
    clock.set(berlin(4, "15:30"))
    plan_digests(services)
    clock.set(berlin(4, "16:00"))
    d = repo.DELIVERY.c
    with services.engine.connect() as conn:
        found = conn.execute(sa.select(repo.DELIVERY).where(d.kind == "digest"))
        rows = [repo.ClaimedDelivery.of(row) for row in found]
    (message,) = DigestComposer(services).compose_batch(rows).values()
    assert message.text.startswith("You had 1 meeting with others this week")  # no answer
    assert "could not be decrypted" in caplog.text and "lost key" not in caplog.text

    texts = [
        r["text"] for r in export_user(services, team_id=TEAM, user_id=ANA.user_id)["reflections"]
    ]
    assert sorted(texts, key=str) == sorted([CANARY, None], key=str)


# --------------------------------------------------------------- do the keys open the data?
# A wrong or missing HEEDFUL_ENCRYPTION_KEY must stop a command before it reads or writes
# encrypted data, in one line that says what to do (bot.keycheck).

HEEDFUL = shutil.which("heedful", path=str(Path(sys.executable).parent)) or "heedful"
INSTALLATION = Installation.__table__


def _cli_env(db_url: str, keys: str | None, **more: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HEEDFUL_"))}
    env = {
        **base,
        "DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",  # discard port: Slack is never reached
        "HEEDFUL_PORT": "0",
        **more,
    }
    if keys is not None:
        env["HEEDFUL_ENCRYPTION_KEY"] = keys
    return env


def _heedful(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HEEDFUL, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _store_under(engine: sa.Engine, key: str) -> None:
    """A workspace whose bot token is still plain text (stored before a key was set) and
    a reflection encrypted under ``key``."""
    with engine.begin() as conn:
        conn.execute(sa.insert(INSTALLATION).values(team_id=TEAM, bot_token="xoxb-plain"))
        conn.execute(
            sa.insert(REF).values(
                team_id=TEAM,
                user_id=ANA.user_id,
                text=Cipher((key,)).encrypt(CANARY),
                created_at=berlin(0, "11:00"),
                updated_at=berlin(0, "11:00"),
            )
        )


def _stored(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            *conn.execute(sa.select(INSTALLATION.c.team_id, INSTALLATION.c.bot_token)),
            *conn.execute(sa.select(REF.c.id, REF.c.text)),
            *conn.execute(sa.select(WebhookSource.__table__.c.secret)),
        ]


@pytest.mark.parametrize(
    "command",
    [("run",), ("keys", "rotate"), ("calendar", "hook", "create", "zapier")],
    ids=["run", "keys-rotate", "hook-create"],
)
def test_no_configured_key_opens_the_data_so_the_command_stops_in_one_line(
    engine: sa.Engine, db_url: str, key: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """The key was replaced instead of added to: nothing starts, nothing is written (a
    rotation would have encrypted the plain token under the wrong key, then failed)."""
    _store_under(engine, key)
    before = _stored(engine)
    wrong = Fernet.generate_key().decode()
    result = _heedful(*command, env=_cli_env(db_url, wrong), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "no key in HEEDFUL_ENCRYPTION_KEY opens the stored reflections" in line
    assert "HEEDFUL_ENCRYPTION_KEY=new,old" in line and "heedful keys rotate" in line
    assert _stored(engine) == before


@pytest.mark.parametrize(
    "command", [("run",), ("calendar", "hook", "create", "zapier")], ids=["run", "hook-create"]
)
def test_encrypted_data_and_no_key_set_stops_the_command_in_one_line(
    engine: sa.Engine, db_url: str, key: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    _store_under(engine, key)
    before = _stored(engine)
    result = _heedful(*command, env=_cli_env(db_url, None), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "reflections are encrypted but HEEDFUL_ENCRYPTION_KEY is not set" in line
    assert _stored(engine) == before


def test_with_the_old_key_after_the_new_one_heedful_runs_and_says_what_is_still_plain(
    engine: sa.Engine, db_url: str, key: str, tmp_path: Path, emulator: SlackEmulator
) -> None:
    """new,old opens everything; the plain token is a warning that names the fix."""
    from processes import RUNNING, Process

    _store_under(engine, key)
    new = Fernet.generate_key().decode()
    env = _cli_env(
        db_url,
        f"{new},{key}",
        SLACK_BOT_TOKEN=emulator.bot_token,
        SLACK_SIGNING_SECRET=emulator.signing_secret,
        SLACK_API_URL=emulator.api_url,
    )
    process = Process("all", env, tmp_path)
    try:
        process.wait_for(RUNNING)
        assert "bot tokens are still plain text" in process.log
        assert "run `heedful keys rotate`" in process.log
        assert "opens the stored" not in process.log
    finally:
        assert process.stop() == 0

    rotated = _heedful("keys", "rotate", env=_cli_env(db_url, f"{new},{key}"), cwd=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    only_new = build_services(Settings(database_url=db_url, encryption_keys=(new,)))
    try:
        assert check_keys(only_new.engine, only_new.cipher).problem is None
        assert check_keys(only_new.engine, only_new.cipher).warnings == ()
    finally:
        only_new.engine.dispose()


def test_the_key_check_reads_a_bounded_sample_from_both_ends(engine: sa.Engine, key: str) -> None:
    """3,000 reflections: the oldest under a key that was dropped, the rest under the
    current one. The check sees both (a warning, not a stop) and reads no more than
    SAMPLE rows from each end, with LIMITed queries, whatever the table's size."""
    lost = Cipher((Fernet.generate_key().decode(),))
    current = Cipher((key,))
    with engine.begin() as conn:
        conn.execute(
            sa.insert(REF),
            [
                {
                    "team_id": TEAM,
                    "user_id": ANA.user_id,
                    "message_ts": str(n),
                    "text": (lost if n < 5 else current).encrypt(f"answer {n}"),
                    "created_at": berlin(0, "11:00"),
                    "updated_at": berlin(0, "11:00"),
                }
                for n in range(3000)
            ],
        )
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        verdict = check_keys(engine, current)
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
    (reflections,) = [s for s in verdict.samples if s.label == "reflections"]
    assert reflections.encrypted == 2 * SAMPLE and reflections.opened == 2 * SAMPLE - 5
    assert verdict.problem is None
    assert verdict.warnings == (
        "some stored reflections (5 of 100 sampled) open with no key in HEEDFUL_ENCRYPTION_KEY:"
        " put the key they were written with back after the first one and run"
        " `heedful keys rotate`, or they stay unreadable",
    )
    reads = [s for s in statements if "FROM reflection" in s]
    assert len(reads) == 2 and all("LIMIT" in s for s in reads)
