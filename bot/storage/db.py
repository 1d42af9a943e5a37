"""Engine factory and migrations.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every
transaction starts with ``BEGIN IMMEDIATE``: the write lock is taken up front, so
two processes never deadlock upgrading a read lock, and a claim is exactly-once.
Pure reads use :func:`read_only`, which begins a deferred transaction instead, so
readers never wait for the write lock (WAL lets them read beside a writer).
PostgreSQL is used as it comes (``postgresql+psycopg://…``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Any constant will do; it only has to be the same for every Heedful process.
_PG_MIGRATION_LOCK = 0x4865_6564
READ_ONLY = "heedful_read_only"


def normalise_url(url: str) -> str:
    """Let people write ``postgresql://``; Heedful speaks psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Build an engine with Heedful's per-backend settings.

    ``hide_parameters``: a database error must not print the values it was given into a
    log (they can be reflection text, a feed URL or a token).
    """
    url = normalise_url(url)
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            **kwargs,
        )
        _tune_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (SQLAlchemy docs,
        # "Serializable isolation / Savepoints / Transactional DDL").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        readonly = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


@contextmanager
def read_only(engine: Engine) -> Iterator[sa.Connection]:
    """A connection for reads only (on SQLite it does not take the write lock)."""
    with engine.connect() as conn:
        conn.execution_options(**{READ_ONLY: True})
        yield conn


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A short unit of work: commit on success, roll back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _alembic_config(connection: sa.Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply pending migrations. On PostgreSQL, under an advisory lock, so that several
    instances starting at once migrate one after the other."""
    from alembic import command

    with engine.begin() as connection:
        if is_postgres(engine):
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK}
            )
        command.upgrade(_alembic_config(connection), revision)
    logger.info("database schema is at %s", revision)


def pending_migrations(engine: Engine) -> list[str]:
    """Revisions not yet applied (empty when the schema is current)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with engine.connect() as connection:
        script = ScriptDirectory.from_config(_alembic_config(connection))
        current = set(MigrationContext.configure(connection).get_current_heads())
        return [
            rev.revision
            for rev in script.walk_revisions()
            if rev.revision not in current
            and not any(
                script.get_revision(h) and _descends(script, h, rev.revision) for h in current
            )
        ]


def _descends(script: Any, head: str, revision: str) -> bool:
    return any(r.revision == revision for r in script.iterate_revisions(head, "base"))
