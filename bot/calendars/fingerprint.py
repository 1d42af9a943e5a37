"""What a feed says, fingerprinted without parsing it (issue 13: a refresh costs what
actually changed).

Many feeds change their bytes on every fetch while no meeting changed: generators that
export with a fresh ``DTSTAMP`` on every ``VEVENT`` at download time (RFC 5545 allows it
for a feed that is not a scheduling message). Comparing raw bytes would re-read such a
feed at every poll. Instead the text is split, line by line and without an iCalendar
parser (a few per cent of a parse's cost, ``bench/refresh.py``), into:

* **the frame**: every line outside a ``VEVENT``: the calendar's own properties
  (``X-WR-TIMEZONE``, ``METHOD`` …) and its ``VTIMEZONE`` blocks. A change there may
  move every meeting: the whole feed is read again.
* **one fingerprint per series**: the ``VEVENT`` blocks sharing a ``UID`` (the series and
  its overridden instances), each block's lines sorted, hashed together. Events without
  a ``UID`` form one series of their own (``""``).

Left out as volatile: ``DTSTAMP`` (when the file was written, not when the meeting
changed). Every other property counts, so a change to a meeting, an attendee's answer or
an alarm reads that series again, and nothing else.

Lines are unfolded first (RFC 5545 3.1: a line break followed by a space or a tab).

A refresh first compares :func:`content_digest` (the bytes without their ``DTSTAMP``
lines): the usual restamped feed stops there, and only a feed whose other bytes changed is
fingerprinted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass

_FOLD = re.compile(rb"\r?\n[ \t]")
# A DTSTAMP content line with its folded continuation lines (RFC 5545 3.1).
_STAMP = re.compile(rb"(?im)^DTSTAMP[;:][^\r\n]*(?:\r?\n[ \t][^\r\n]*)*(?:\r?\n|\Z)")
VOLATILE = frozenset({b"DTSTAMP"})
NO_UID = ""  # the series of the events that carry no UID


@dataclass(frozen=True, slots=True)
class FeedPrint:
    """A feed's fingerprints: ``frame`` (all outside the events) and one per series
    (``UID`` → hex digest)."""

    frame: str
    series: dict[str, str]

    def changed_series(self, before: dict[str, str]) -> set[str]:
        """The series added, changed or removed since ``before``."""
        return {
            uid
            for uid in self.series.keys() | before.keys()
            if self.series.get(uid) != before.get(uid)
        }


def _lines(body: bytes) -> Iterator[bytes]:
    for line in _FOLD.sub(b"", body).split(b"\n"):
        line = line.rstrip(b"\r")
        if line:
            yield line


def _name(line: bytes) -> bytes:
    """A content line's property name, upper case (``DTSTART;TZID=…:…`` → ``DTSTART``)."""
    end = len(line)
    for sep in (b":", b";"):
        at = line.find(sep)
        if 0 <= at < end:
            end = at
    return line[:end].strip().upper()


def _uid(line: bytes) -> str:
    value = line.split(b":", 1)[1] if b":" in line else b""
    return value.strip().decode("utf-8", "replace")


def _blocks(body: bytes) -> Iterator[tuple[str | None, list[bytes]]]:
    """``(uid, lines)`` for each ``VEVENT`` block, then ``(None, lines)`` for the frame
    (everything else, in order)."""
    frame: list[bytes] = []
    event: list[bytes] | None = None
    uid = NO_UID
    depth = 0  # components nested in the event (VALARM)
    for line in _lines(body):
        name = _name(line)
        if event is None:
            if name == b"BEGIN" and line[6:].strip().upper() == b"VEVENT":
                event, uid, depth = [line], NO_UID, 0
            elif name not in VOLATILE:
                frame.append(line)
            continue
        event.append(line)
        if name == b"BEGIN":
            depth += 1
        elif name == b"END":
            if depth == 0:
                yield uid, event
                event = None
            else:
                depth -= 1
        elif name == b"UID" and depth == 0:
            uid = _uid(line)
    if event is not None:  # an unterminated event: the parser decides; it counts as frame
        frame.extend(event)
    yield None, frame


def content_digest(body: bytes) -> str:
    """The SHA-256 of the feed's bytes without their ``DTSTAMP`` lines: what a refresh
    compares first. Equal digests mean nothing but stamps changed, at a regular
    expression's cost (a fraction of :func:`fingerprint`'s, ``bench/refresh.py``)."""
    return hashlib.sha256(_STAMP.sub(b"", body)).hexdigest()


def fingerprint(body: bytes) -> FeedPrint:
    """The fingerprints of a feed's bytes (see the module docstring)."""
    per_series: dict[str, list[bytes]] = {}
    frame = hashlib.sha256()
    for uid, lines in _blocks(body):
        if uid is None:
            for line in lines:
                frame.update(line + b"\n")
            continue
        kept = sorted(line for line in lines if _name(line) not in VOLATILE)
        per_series.setdefault(uid, []).append(hashlib.sha256(b"\n".join(kept)).digest())
    return FeedPrint(
        frame=frame.hexdigest(),
        series={
            uid: hashlib.sha256(b"".join(sorted(digests))).hexdigest()[:32]
            for uid, digests in per_series.items()
        },
    )


def only_series(body: bytes, uids: Collection[str]) -> bytes | None:
    """The feed with its frame and only the events of ``uids``: what to parse when only
    those series changed. None when the feed holds several calendars (each with its own
    properties, which an event must stay under): read it all then."""
    out: list[bytes] = []
    frame: list[bytes] = []
    for uid, lines in _blocks(body):
        if uid is None:
            frame = lines
        elif uid in uids:
            out.extend(lines)
    calendars = sum(
        1 for line in frame if _name(line) == b"BEGIN" and line[6:].strip().upper() == b"VCALENDAR"
    )
    if calendars > 1:
        return None
    # The events go back inside the calendar: before the frame's last END:VCALENDAR.
    closing = next(
        (i for i in range(len(frame) - 1, -1, -1) if _name(frame[i]) == b"END"), len(frame)
    )
    return b"\r\n".join(frame[:closing] + out + frame[closing:]) + b"\r\n"
