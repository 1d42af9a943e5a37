"""Export: the file holds every stored row about the person, and nothing about anyone else.

Compared generically: every table with a column naming a person is read with a direct
SELECT and each of the person's rows must appear in the export, value for value (times
as ISO-8601, reflections and the why decrypted); the calendar's secret address never does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from people import ANA, BEN, TEAM, kinds_and_states, rows_of, seed, user_tables
from waiting import wait_until

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator
from bot.messages import blocks as kit
from bot.privacy import export_user
from bot.services import Services

# Where each table's rows go in the export. A new table naming a person must be added
# here (and to the export) before this test passes again.
SECTIONS = {
    "slack_user": "profile",
    "calendar_source": "calendars",
    "google_calendar": "google_calendars",
    "microsoft_calendar": "microsoft_calendars",
    "oauth_state": "sign_ins",
    "occurrence": "meetings",
    "delivery": "deliveries",
    "reflection": "reflections",
    "deleted_message": "deleted_messages",
    "prompt_shown": "wordings_shown",
    "inbox": "events_received",
    "leader_why": "why",
    "feedback_series": "feedback_series",
    "feedback_meeting": "feedback_meetings",
    "commitment": "commitments",
}
# Sections that hold one object (or null) rather than a list: one row per person.
ONE_ROW = {"profile", "why"}
# Columns of private words, encrypted at rest and exported decrypted.
PRIVATE_TEXT = {("reflection", "text"), ("leader_why", "text"), ("commitment", "text")}
SECRET_COLUMNS = {
    "calendar_source": {"url", "etag"},
    "google_calendar": {"tokens", "channel_token", "old_channel_token", "sync_token"},
    "microsoft_calendar": {"token_cache", "client_state", "delta_link"},
    "oauth_state": {"verifier", "state_hash"},
}


def _events(heedful: Heedful) -> str:
    return f"{heedful.url}/slack/events"


def _wait_for_shared_file(emulator: SlackEmulator) -> tuple[dict[str, Any], bytes]:
    """The DM that shares the export, and the file's bytes.

    ``files.completeUploadExternal`` posts that DM after the bytes were uploaded, so
    waiting for the DM (not for the bytes) waits for the whole upload flow.
    """
    shared = wait_until(
        lambda: [m for m in emulator.messages(ANA.user_id) if m.get("files")],
        what="the export to be shared in the DM",
    )
    (message,) = shared
    (content,) = emulator.files.values()
    return message, content


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def assert_complete(export: dict[str, Any], services: Services) -> None:
    """Every stored row of Ana is in ``export``; nothing of Ben is."""
    stored = rows_of(services, ANA.user_id)
    assert set(stored) == set(SECTIONS), "a table naming a person is missing from the export"
    assert export["user_id"] == ANA.user_id and export["team_id"] == TEAM
    for table, rows in stored.items():
        section = export[SECTIONS[table]]
        items = section if isinstance(section, list) else [section] if section else []
        by_id = {item["id"]: item for item in items}
        assert len(items) == len(rows), table
        for row in rows:
            item = by_id[row["id"]]
            for column, value in row.items():
                if column in SECRET_COLUMNS.get(table, ()):
                    assert column not in item, (table, column)
                elif (table, column) in PRIVATE_TEXT:
                    assert item[column] == services.cipher.decrypt(value)
                else:
                    assert item[column] == _plain(value), (table, column)


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def assert_nothing_of_ben(content: str) -> None:
    # Ben's id as an id of its own, not as two letters of a random one (an event id such
    # as "Ev0AU2XK7Q" holds "U2" by chance).
    ben = re.compile(rf"(?<![A-Z0-9]){re.escape(BEN.user_id)}(?![A-Z0-9])")
    found = [text for text in _strings(json.loads(content)) if ben.search(text)]
    assert found == []
    assert BEN.answer not in content and "of Ben" not in content and BEN.secret not in content
    assert BEN.why not in content


def test_the_export_holds_every_row_of_the_person_and_only_theirs(
    heedful: Heedful, services: Services, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    seed(heedful, services, clock, emulator)
    # Every kind of row is there to be exported.
    assert all(rows for rows in rows_of(services, ANA.user_id).values())
    assert {
        ("reminder", "sent"),
        ("reflection", "sent"),
        ("reminder", "pending"),
        ("reflection", "pending"),
        ("reminder", "skipped"),
        ("notice", "failed"),
        ("digest", "pending"),
    } <= kinds_and_states(services, ANA.user_id)

    # The Home tab's export button: the file arrives in the DM through the upload flow.
    emulator.open_home(_events(heedful), ANA.user_id)
    heedful.process_inbox()
    emulator.click_button(_events(heedful), ANA.user_id, kit.ACTION_HOME_EXPORT)
    shared, raw = _wait_for_shared_file(emulator)
    content = raw.decode()
    export = json.loads(content)
    assert export["format"] == "heedful-export"

    assert shared["files"][0]["name"] == "heedful-export.json"
    assert (
        export_user(services, team_id=TEAM, user_id=ANA.user_id)["reflections"]
        == (export["reflections"])
    )
    assert_complete(export, services)
    assert ANA.answer in content  # decrypted: it is theirs to read
    assert export["why"]["text"] == ANA.why  # their why, decrypted, and its focus
    assert export["why"]["focus_practice"] == "observe-listen-ask"
    assert ANA.secret not in content  # the feed's address is a key, not data
    assert "calendar.example.com" not in content
    assert_nothing_of_ben(content)


def test_heedful_export_uploads_the_file_to_the_dm(
    heedful: Heedful, services: Services, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    seed(heedful, services, clock, emulator)
    result = emulator.send_command(_events(heedful), "/heedful", "export", user_id=ANA.user_id)
    assert result.status == 200
    _shared, raw = _wait_for_shared_file(emulator)
    content = raw.decode()
    assert_complete(json.loads(content), services)
    assert ANA.secret not in content
    assert_nothing_of_ben(content)


def test_user_tables_are_found_generically() -> None:
    assert {t.name for t in user_tables()} == set(SECTIONS)


def test_the_export_of_someone_heedful_does_not_know_is_empty(services: Services) -> None:
    export = export_user(services, team_id=TEAM, user_id="UNOBODY")
    assert all(export[s] is None for s in ONE_ROW)
    assert all(export[s] == [] for s in SECTIONS.values() if s not in ONE_ROW)
