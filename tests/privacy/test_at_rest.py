"""A reflection is private: its text never reaches a log line, and with
HEEDFUL_ENCRYPTION_KEY set it never reaches the database file in clear (the digest
still quotes it). Keys rotate: old rows read under the new key list, a rotation sweep
re-encrypts them, and the old key can then go."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from factories import make_occurrence
from people import ANA, TEAM, berlin

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.crypto import PREFIX, Cipher, CipherError
from bot.emulator import SlackEmulator
from bot.logging_setup import configure_logging
from bot.meetings import apply_occurrences, opt_in
from bot.privacy import export_user, rotate_keys
from bot.services import Services, build_services
from bot.storage import repository as repo
from bot.storage.db import session_scope
from bot.storage.models import CalendarSource, Reflection

CANARY = f"CANARY-{secrets.token_hex(8)} felt seen when I paused"
REF = Reflection.__table__


def _events(heedful: Heedful) -> str:
    return f"{heedful.url}/slack/events"


def _ana_with_a_one_on_one(services: Services, clock: VirtualClock) -> None:
    """Monday 07:00 in Berlin: Ana, opted in, with a 1:1 with Ben at 10:00."""
    clock.set(berlin(0, "07:00"))
    with session_scope(services.engine) as session:
        user = repo.ensure_user(session, team_id=TEAM, user_id=ANA.user_id, now=clock.now())
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
        repo.ensure_user(session, team_id=TEAM, user_id=ANA.user_id, now=clock.now())
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
        rows = list(conn.execute(sa.select(repo.DELIVERY).where(d.kind == "digest")))
    (message,) = DigestComposer(services).compose_batch(rows).values()
    assert message.text.startswith("You had 1 meeting with others this week")  # no answer
    assert "could not be decrypted" in caplog.text and "lost key" not in caplog.text

    texts = [
        r["text"] for r in export_user(services, team_id=TEAM, user_id=ANA.user_id)["reflections"]
    ]
    assert sorted(texts, key=str) == sorted([CANARY, None], key=str)
