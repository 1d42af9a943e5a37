"""What differs between SQLite and PostgreSQL, for the per-table modules of ``bot.storage``:
``INSERT … ON CONFLICT`` statements and datetimes as the drivers store them (the hottest
statements are run at the driver level, ``bot.storage.deliveries``)."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from bot.clock import ensure_utc
from bot.storage.models import UTCDateTime


def insert_ignoring_duplicates(engine: Engine | sa.Connection, table: sa.Table) -> Any:
    """An ``INSERT … ON CONFLICT DO NOTHING`` for the engine's dialect."""
    return insert_ignoring(engine.dialect.name, table)


@functools.cache
def insert_ignoring(dialect: str, table: sa.Table) -> Any:
    return dialect_insert(dialect, table).on_conflict_do_nothing()


def dialect_insert(dialect: str, table: sa.Table) -> Any:
    """An ``INSERT`` that knows the dialect's ``ON CONFLICT`` clauses."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database: {dialect}")


def driver_time(moment: datetime, dialect: sa.Dialect) -> Any:
    """A UTC instant as the driver stores it (SQLite: the text SQLAlchemy writes)."""
    value = UTCDateTime().process_bind_param(moment, dialect)
    if dialect.name == "sqlite" and value is not None:
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def from_driver(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return ensure_utc(value)
