"""Do the configured keys open what is stored? Asked before a command reads or writes
encrypted data (``heedful run``, ``heedful keys rotate``, ``heedful calendar hook create``).

Without the question, a wrong or missing ``HEEDFUL_ENCRYPTION_KEY`` fails silently: the
bot starts healthy, stored reflections read as unreadable, and new values are written
under the wrong key (or in plain text), so the data ends up under two keys; a key
rotation under a wrong key would do the same to every plain value before it failed.

The check reads a sample, so it costs the same on any database: for each encrypted
column, the first and the last :data:`SAMPLE` rows by primary key (two LIMITed queries
that follow the primary key's index). The oldest rows are the likeliest to be in plain
text or under a retired key; the newest show the key in use. Its verdicts:

* encrypted values and no key set: fatal (set the key they were written with);
* an encrypted column of which no sampled value opens with any configured key: fatal
  (the key is wrong, or the old one was dropped before ``heedful keys rotate`` ran);
* a column where some sampled values open and some do not: a warning. Not fatal: the
  app copes with a value it cannot read (a digest goes without that quote), and a key
  that is lost for good must not keep the rest from running;
* a key set and plain values stored: a warning suggesting ``heedful keys rotate``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.crypto import PREFIX, Cipher, CipherError
from bot.privacy import ENCRYPTED_COLUMNS
from bot.storage.db import read_only

logger = logging.getLogger(__name__)

VARIABLE = "HEEDFUL_ENCRYPTION_KEY"
# Rows read from each end of each encrypted column's table.
SAMPLE = 50
# What a person calls each encrypted column (bot.privacy.ENCRYPTED_COLUMNS).
LABELS = {
    "installation": "bot tokens",
    "calendar_source": "calendar addresses",
    "webhook_source": "webhook secrets",
    "reflection": "reflections",
    "inbox": "received events",
    "leader_why": "why statements",
    "feedback_key": "feedback keys",
    "commitment": "commitments",
    "microsoft_calendar": "Microsoft calendar tokens",
}


@dataclass(frozen=True)
class ColumnSample:
    """What the sample of one column held."""

    label: str
    encrypted: int = 0
    opened: int = 0
    plain: int = 0


@dataclass(frozen=True)
class KeyCheck:
    """``problem``: one line, the command must not go on (exit 2). ``warnings``: lines
    to log, the command goes on."""

    problem: str | None
    warnings: tuple[str, ...]
    samples: tuple[ColumnSample, ...]


def sample_columns(engine: Engine, cipher: Cipher) -> tuple[ColumnSample, ...]:
    """Classify a bounded sample of every encrypted column (tables not created yet
    are skipped)."""
    samples = []
    with read_only(engine) as conn:
        tables = set(sa.inspect(conn).get_table_names())
        for model, column in ENCRYPTED_COLUMNS:
            table: sa.Table = model.__table__
            if table.name not in tables:
                continue
            label = LABELS.get(table.name, f"{table.name}.{column}")
            key = next(iter(table.primary_key.columns))
            values: dict[Any, str] = {}
            for order in (key.asc(), key.desc()):
                rows = conn.execute(sa.select(key, table.c[column]).order_by(order).limit(SAMPLE))
                values.update((row[0], row[1]) for row in rows if row[1])
            samples.append(_classify(label, values.values(), cipher))
    return tuple(samples)


def _classify(label: str, values: Any, cipher: Cipher) -> ColumnSample:
    encrypted = opened = plain = 0
    for value in values:
        if not value.startswith(PREFIX):
            plain += 1
            continue
        encrypted += 1
        if cipher.enabled:
            try:
                cipher.decrypt(value)
            except CipherError:
                continue
            opened += 1
    return ColumnSample(label=label, encrypted=encrypted, opened=opened, plain=plain)


def check_keys(engine: Engine, cipher: Cipher) -> KeyCheck:
    """The verdict on the configured keys against what is stored (see the module)."""
    samples = sample_columns(engine, cipher)
    encrypted = [s for s in samples if s.encrypted]
    if not cipher.enabled:
        problem = None
        if encrypted:
            problem = (
                f"heedful: the stored {_names(encrypted)} are encrypted but {VARIABLE} "
                "is not set; set it to the key(s) they were written with."
            )
        return KeyCheck(problem=problem, warnings=(), samples=samples)
    unopened = [s for s in encrypted if s.opened == 0]
    problem = None
    if unopened:
        problem = (
            f"heedful: no key in {VARIABLE} opens the stored {_names(unopened)} "
            f"({sum(s.encrypted for s in unopened)} sampled values); if you changed the key, "
            f"put the old one back after the new one ({VARIABLE}=new,old), "
            "then run `heedful keys rotate`."
        )
    warnings = []
    partly = [s for s in encrypted if 0 < s.opened < s.encrypted]
    if partly:
        counts = ", ".join(f"{s.encrypted - s.opened} of {s.encrypted}" for s in partly)
        warnings.append(
            f"some stored {_names(partly)} ({counts} sampled) open with no key in {VARIABLE}: "
            "put the key they were written with back after the first one and run "
            "`heedful keys rotate`, or they stay unreadable"
        )
    plain = [s for s in samples if s.plain]
    if plain:
        warnings.append(
            f"{VARIABLE} is set but some stored {_names(plain)} are still plain text; "
            "run `heedful keys rotate` to encrypt them"
        )
    return KeyCheck(problem=problem, warnings=tuple(warnings), samples=samples)


def _names(samples: list[ColumnSample]) -> str:
    labels = [s.label for s in samples]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
