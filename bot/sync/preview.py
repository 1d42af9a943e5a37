"""``heedful calendar preview``: what Heedful reads from calendar feeds.

One line per occurrence of the window, sorted by start, with its eligibility for a
nudge and, when it is not eligible, why; ``--json`` prints one object per line instead.
A broken event or an unreadable source is one line on stderr and the rest is still
listed. Without ``--user-email`` the person's own answers are unknown, so a meeting
they declined is listed as eligible: stderr says so once. Exit code 0 when at least
one source was read, 1 when none was, 2 for bad arguments; never a traceback.

This module is imported when the CLI builds its parser, so it imports nothing heavy at
module level: icalendar and httpx are loaded by :func:`run_preview`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from bot.calendars.occurrence import Occurrence

logger = logging.getLogger(__name__)

DEFAULT_DAYS = 7
JSON_KEYS = (
    "source",
    "uid",
    "recurrence_id",
    "title",
    "start",
    "end",
    "all_day",
    "status",
    "attendees",
    "attendees_unknown",
    "self_response",
    "eligible",
    "skip_reason",
)
DESCRIPTION = """\
Show what Heedful reads from calendar feeds: every occurrence of the window, one line
each, with its eligibility for a nudge and, when it is not eligible, why (cancelled,
declined, all-day, solo, free, focus, out-of-office, working-location); a feed that lists
nobody invited shows "attendees unknown" and calls nothing solo. A SOURCE is an
.ics file or an http(s)/webcal URL (Google's "secret address in iCal format", Outlook's
published ICS link, an iCloud public calendar link).
"""
EPILOG = """\
The window runs from --from 00:00 to the end of --to (both dates included) in --tz;
by default from today for 7 days. Times are shown in --tz, which is also the zone of
floating times and all-day events. Broken events and unreadable sources are reported on
stderr and skipped. Exit status: 0 when at least one source was read, 1 when none was,
2 for bad arguments.
"""


def add_preview_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``heedful calendar preview`` (the CLI calls this)."""
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.add_argument(
        "sources", nargs="+", metavar="SOURCE", help="an .ics file, or an http(s)/webcal URL"
    )
    parser.add_argument(
        "--from",
        dest="date_from",
        type=_date_argument,
        metavar="DATE",
        help="first day shown, YYYY-MM-DD in --tz (default: today)",
    )
    parser.add_argument(
        "--to",
        dest="date_to",
        type=_date_argument,
        metavar="DATE",
        help=f"last day shown, included, YYYY-MM-DD (default: {DEFAULT_DAYS} days in all)",
    )
    parser.add_argument(
        "--tz",
        type=_zone_argument,
        metavar="ZONE",
        help="IANA time zone, e.g. Europe/Berlin (default: this machine's zone, else UTC)",
    )
    parser.add_argument(
        "--user-email",
        dest="user_emails",
        action="append",
        default=[],
        type=_email_argument,
        metavar="ADDR",
        help="your own address, for your response, solo and external meetings (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")


def run_preview(args: argparse.Namespace) -> int:
    """Run ``heedful calendar preview`` with parsed arguments; returns the exit code."""
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
    try:
        return _preview(args)
    except BrokenPipeError:
        # `heedful calendar preview … | head`: stop quietly, and keep Python from
        # complaining when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:
        logger.debug("preview failed", exc_info=True)
        _err(f"heedful calendar preview: {type(exc).__name__}: {_one_line(str(exc))}")
        return 1


def _preview(args: argparse.Namespace) -> int:
    import warnings

    from bot.calendars.ics import CalendarError, parse_ics
    from bot.clock import SystemClock
    from bot.messages.prompts import load_prompts
    from bot.sync.fetch import FeedError, read_source

    warnings.simplefilter("ignore")  # library warnings would be multi-line noise here
    zone_name = args.tz or local_zone_name()
    zone = ZoneInfo(zone_name)
    first = args.date_from or SystemClock().now().astimezone(zone).date()
    last = args.date_to or first + timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        _err(f"heedful calendar preview: --to {last} is before --from {first}")
        return 2
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)

    occurrences: list[Occurrence] = []
    read = 0
    for source, label in zip(args.sources, source_labels(args.sources), strict=True):
        try:
            body = read_source(source).body or b""
            feed = parse_ics(
                body,
                source=label,
                start=start,
                end=end,
                user_emails=args.user_emails,
                default_tz=zone_name,
            )
        except FeedError as exc:
            _err(f"{label}: {_clean(exc.reason)}")
            continue
        except CalendarError as exc:
            _err(f"{label}: {_clean(str(exc))}")
            continue
        except Exception as exc:
            logger.debug("cannot read %s", label, exc_info=True)
            _err(f"{label}: could not read the calendar ({type(exc).__name__})")
            continue
        read += 1
        for problem in feed.problems:
            which = problem.uid or problem.summary or "(no UID, no title)"
            _err(f"{label}: skipped event {_clean(which)}: {_clean(problem.reason)}")
        if any(o.attendees_unknown for o in feed.occurrences):  # no event lists an ATTENDEE
            _err(load_prompts().text("calendar.preview.attendees_unknown", source=label))
        occurrences.extend(feed.occurrences)
    if not read:
        return 1
    if not args.user_emails:  # the user's own answer is read from their attendee entry
        _err(load_prompts().text("calendar.preview.no_user_email"))
    occurrences.sort(key=lambda o: (o.start, o.end, o.source, o.uid, o.recurrence_id or ""))
    out = sys.stdout
    if args.json:
        for occurrence in occurrences:
            out.write(json.dumps(as_json(occurrence)) + "\n")
    else:
        for occurrence in occurrences:
            out.write(human_line(occurrence, zone) + "\n")
        eligible = sum(1 for o in occurrences if o.eligible)
        noun = "occurrence" if len(occurrences) == 1 else "occurrences"
        out.write(f"{len(occurrences)} {noun}, {eligible} eligible\n")
    out.flush()
    return 0


# --------------------------------------------------------------------------- output


def as_json(occurrence: Occurrence) -> dict[str, object]:
    """The ``--json`` object of one occurrence (exactly :data:`JSON_KEYS`)."""
    reason = occurrence.skip_reason
    return {
        "source": occurrence.source,
        "uid": occurrence.uid,
        "recurrence_id": occurrence.recurrence_id,
        "title": occurrence.title,
        "start": _iso_utc(occurrence.start),
        "end": _iso_utc(occurrence.end),
        "all_day": occurrence.all_day,
        "status": occurrence.status.value,
        "attendees": occurrence.attendees,
        "attendees_unknown": occurrence.attendees_unknown,
        "self_response": occurrence.self_response.value if occurrence.self_response else None,
        "eligible": reason is None,
        "skip_reason": reason.value if reason else None,
    }


def human_line(occurrence: Occurrence, zone: tzinfo) -> str:
    """``Mon 2026-03-02 10:00–10:30  Weekly sync · small · eligible · google.ics``; a
    feed that lists no attendees says ``attendees unknown`` instead of the kind."""
    start = occurrence.start.astimezone(zone)
    end = occurrence.end.astimezone(zone)
    if occurrence.all_day:
        last = (end - timedelta(seconds=1)).date() if end > start else start.date()
        when = f"{start:%a %Y-%m-%d} all day"
        if last != start.date():
            when = f"{start:%a %Y-%m-%d}–{last:%a %m-%d} all day"
    elif end.date() == start.date():
        when = f"{start:%a %Y-%m-%d %H:%M}–{end:%H:%M}"
    else:
        when = f"{start:%a %Y-%m-%d %H:%M}–{end:%a %H:%M}"
    reason = occurrence.skip_reason
    verdict = "eligible" if reason is None else f"skip: {reason.value}"
    title = _clean(occurrence.title) or "(no title)"
    kind = "attendees unknown" if occurrence.attendees_unknown else occurrence.kind.value
    return f"{when:<27} {title} · {kind} · {verdict} · {occurrence.source}"


def source_labels(sources: Sequence[str]) -> list[str]:
    """How each source is named in the output: a file as given, a URL by its host only
    (the rest of a feed URL is a secret); a repeated label gets ``#2``, ``#3``…"""
    labels: list[str] = []
    seen: dict[str, int] = {}
    for source in sources:
        label = source
        if "://" in source and not source.lower().startswith("file://"):
            try:
                parts = urlsplit(source)
                label = f"{parts.scheme.lower()}://{parts.hostname or '?'}/…"
            except ValueError:
                label = "(invalid URL)"
        seen[label] = seen.get(label, 0) + 1
        labels.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return labels


def local_zone_name() -> str:
    """This machine's IANA zone (``TZ``, ``/etc/timezone``, ``/etc/localtime``), else UTC."""
    from bot.calendars import zones

    candidates = [os.environ.get("TZ", "").strip().removeprefix(":")]
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if name and zones.iana(name) is not None:
            return name
    return "UTC"


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def _clean(text: str) -> str:
    """One line without control characters (a feed must not drive the terminal)."""
    return _CONTROL.sub(" ", text).strip()


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    return _clean(lines[0]) if lines else ""


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- arguments

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date_argument(value: str) -> date:
    try:
        if not _DATE.fullmatch(value.strip()):
            raise ValueError
        return date.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _zone_argument(value: str) -> str:
    from bot.calendars import zones

    name = zones.canonical_name(value)
    if name is None:
        raise argparse.ArgumentTypeError(
            f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)"
        )
    return name


def _email_argument(value: str) -> str:
    address = value.strip()
    if address[:7].lower() == "mailto:":
        address = address[7:]
    if "@" not in address or any(c.isspace() for c in address):
        raise argparse.ArgumentTypeError(f"not an e-mail address: {value!r}")
    return address.lower()
