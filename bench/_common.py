"""Shared helpers for the benchmark scripts: private databases, statistics, verdicts.

Every benchmark builds its own database (a temporary SQLite file, or a private
PostgreSQL schema that is dropped at the end), so runs never see each other's rows.
Nothing here is imported by Heedful itself.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import statistics
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Engine

# Let `python bench/outbox.py` work from the repository root without installing bench/.
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from bot.storage.db import make_engine, upgrade  # noqa: E402

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgres")


@dataclass
class Database:
    """One private, migrated database for a benchmark run."""

    backend: str
    url: str  # SQLAlchemy URL (what DATABASE_URL would hold)
    engine: Engine
    sqlite_path: Path | None = None  # SQLite: the file
    pg_conninfo: str | None = None  # PostgreSQL: libpq conninfo for a bare psycopg connection
    schema: str | None = None

    def raw_connect(self) -> Any:
        """A bare DB-API connection to the same database (no SQLAlchemy in between),
        tuned like Heedful's engine tunes its own (WAL, synchronous=NORMAL on SQLite)."""
        if self.backend == "sqlite":
            import sqlite3

            assert self.sqlite_path is not None
            conn = sqlite3.connect(self.sqlite_path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            return conn
        import psycopg

        assert self.pg_conninfo is not None
        return psycopg.connect(self.pg_conninfo, autocommit=False)


@contextlib.contextmanager
def private_database(backend: str, *, pg_url: str = DEFAULT_PG_URL) -> Iterator[Database]:
    """A freshly migrated database (``bot.storage.db.upgrade``), removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="heedful-bench-") as tmp:
            path = Path(tmp) / "bench.db"
            url = f"sqlite:///{path}"
            engine = make_engine(url)
            try:
                upgrade(engine)
                yield Database(backend, url, engine, sqlite_path=path)
            finally:
                engine.dispose()
        return
    if backend != "postgres":
        raise ValueError(f"unknown backend {backend!r}")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(_sa_url(pg_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = f"{_sa_url(pg_url)}?options={quote(f'-csearch_path={schema}')}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        conninfo = _conninfo(pg_url, schema)
        yield Database(backend, url, engine, pg_conninfo=conninfo, schema=schema)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


def _sa_url(pg_url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if pg_url.startswith(prefix):
            return "postgresql+psycopg://" + pg_url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {pg_url}")


def _conninfo(pg_url: str, schema: str) -> str:
    from psycopg.conninfo import make_conninfo

    libpq = "postgresql://" + _sa_url(pg_url)[len("postgresql+psycopg://") :]
    return make_conninfo(libpq, options=f"-csearch_path={schema}")


# --------------------------------------------------------------------------- statistics


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil
    return ordered[int(min(rank, len(ordered))) - 1]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# --------------------------------------------------------------------------- output


def header(title: str) -> None:
    print(f"== {title}")
    print(
        f"   python {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cpu(s)"
    )


def add_common_args(
    parser: argparse.ArgumentParser, *, default_backend: str | None, default_help: str = ""
) -> None:
    parser.add_argument(
        "--backend",
        choices=(*BACKENDS, "both"),
        default=default_backend,
        help=f"database to measure (default: {default_help or default_backend})",
    )
    parser.add_argument(
        "--pg-url",
        default=DEFAULT_PG_URL,
        help="PostgreSQL server; a private schema is created and dropped"
        f" (default {DEFAULT_PG_URL})",
    )
    parser.add_argument("--quick", action="store_true", help="fewer rows and repetitions")
    parser.add_argument("-v", "--verbose", action="store_true", help="show Heedful's log lines")


def backends(choice: str) -> tuple[str, ...]:
    return BACKENDS if choice == "both" else (choice,)


def quiet_logging(verbose: bool) -> None:
    """Heedful logs at INFO per delivery and per event; keep the figures readable."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
